/**
 * Figures as docker stats prints them, through the same Go-exact
 * formatting the stats view uses: memory in binary units with four
 * significant digits ("15.63GiB"), network and block I/O in decimal units
 * with three ("1.23kB"), percentages with two decimals.
 */
import { bytesSize, goFixed, humanSize } from '../../agent/src/units.js';

/** Bytes in binary units, as docker's MEM USAGE / LIMIT: "1.5MiB". */
export function binaryBytes(value: number | undefined): string {
  return value === undefined ? '--' : bytesSize(value);
}

/** Bytes in decimal units, as docker's NET I/O and BLOCK I/O: "1.2kB". */
export function decimalBytes(value: number | undefined): string {
  return value === undefined ? '--' : humanSize(value);
}

export function percent(value: number | undefined): string {
  return value === undefined ? '--' : `${goFixed(value, 2)}%`;
}

export function pair(a: string, b: string): string {
  return `${a} / ${b}`;
}

/** Wall-clock time of day, for time axes. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
