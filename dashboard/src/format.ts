/**
 * Figures as docker stats prints them (docker/go-units): CPU and memory
 * percentages with two decimals, memory in binary units with four
 * significant digits ("15.63GiB"), network and block I/O in decimal units
 * with three ("1.23kB").
 */

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Like go-units: `%.<precision>g` of the value in the largest unit. */
function scaled(
  value: number,
  base: number,
  units: readonly string[],
  precision: number,
): string {
  let unit = 0;
  let amount = value;
  while (Math.abs(amount) >= base && unit < units.length - 1) {
    amount /= base;
    unit += 1;
  }
  return `${Number(amount.toPrecision(precision))}${units[unit] ?? ''}`;
}

/** Bytes in binary units, as docker's MEM USAGE / LIMIT: "1.5MiB". */
export function binaryBytes(value: number | undefined): string {
  return value === undefined ? '--' : scaled(value, 1024, BINARY, 4);
}

/** Bytes in decimal units, as docker's NET I/O and BLOCK I/O: "1.2kB". */
export function decimalBytes(value: number | undefined): string {
  return value === undefined ? '--' : scaled(value, 1000, DECIMAL, 3);
}

export function percent(value: number | undefined): string {
  return value === undefined ? '--' : `${value.toFixed(2)}%`;
}

export function pair(a: string, b: string): string {
  return `${a} / ${b}`;
}

/** Wall-clock time of day, for time axes. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
