/**
 * Parsers for the columns `docker stats --format '{{json .}}'` prints. docker
 * formats sizes with go-units: memory with BytesSize (binary units, four
 * significant digits, "64.07MiB"), network and block I/O with
 * HumanSizeWithPrecision (decimal units, three digits, "1.05MB"). Pure
 * functions, so test/unit/docker-units.test.ts covers them with real output.
 */

/** Multipliers docker's binary sizes use (MEM USAGE / LIMIT). */
const BINARY_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  PiB: 1024 ** 5,
};

/** Multipliers docker's decimal sizes use (NET I/O, BLOCK I/O). */
const DECIMAL_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
};

export type SizeUnits = 'binary' | 'decimal';

/** One row of `docker stats --no-stream`, as numbers in base units. */
export interface DockerStatsRow {
  readonly id: string;
  readonly name: string;
  /** CPU %: 100 is one full core. */
  readonly cpuPercent: number;
  readonly memoryUsageBytes: number;
  /** The limit docker shows: the configured one, or host RAM. */
  readonly memoryLimitBytes: number;
  readonly memoryPercent: number;
  readonly networkReceiveBytes: number;
  readonly networkTransmitBytes: number;
  readonly blockReadBytes: number;
  readonly blockWriteBytes: number;
  readonly pids: number;
}

const NUMBER = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?$/;
const SIZE = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)([A-Za-z]+)$/;

function parseNumber(text: string, what: string): number {
  if (!NUMBER.test(text)) {
    throw new Error(`docker stats: ${what} is not a number: ${text}`);
  }
  return Number(text);
}

/** "12.5MiB" (binary) or "1.05MB" (decimal) to bytes; rejects mixed units. */
export function parseSize(text: string, units: SizeUnits): number {
  const match = SIZE.exec(text.trim());
  const table = units === 'binary' ? BINARY_UNITS : DECIMAL_UNITS;
  const multiplier = match?.[2] === undefined ? undefined : table[match[2]];
  if (match?.[1] === undefined || multiplier === undefined) {
    throw new Error(`docker stats: not a ${units} size: ${text}`);
  }
  return Math.round(Number(match[1]) * multiplier);
}

/** "1.2kB / 648B" to its two sides in bytes. */
export function parseSizePair(
  text: string,
  units: SizeUnits,
): [number, number] {
  const sides = text.split(' / ');
  if (sides.length !== 2 || sides[0] === undefined || sides[1] === undefined) {
    throw new Error(`docker stats: not a "size / size" pair: ${text}`);
  }
  return [parseSize(sides[0], units), parseSize(sides[1], units)];
}

/** "99.87%" to 99.87. */
export function parsePercent(text: string): number {
  const trimmed = text.trim();
  if (!trimmed.endsWith('%')) {
    throw new Error(`docker stats: not a percentage: ${text}`);
  }
  return parseNumber(trimmed.slice(0, -1), 'percentage');
}

function column(raw: Readonly<Record<string, unknown>>, key: string): string {
  const value = raw[key];
  if (typeof value !== 'string') {
    throw new Error(`docker stats: column ${key} missing or not a string`);
  }
  return value;
}

/** One `{{json .}}` line of docker stats to a typed row. */
export function parseStatsLine(line: string): DockerStatsRow {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null) {
    throw new Error(`docker stats: not a JSON object: ${line}`);
  }
  const raw = parsed as Readonly<Record<string, unknown>>;

  const [memoryUsageBytes, memoryLimitBytes] = parseSizePair(
    column(raw, 'MemUsage'),
    'binary',
  );
  const [networkReceiveBytes, networkTransmitBytes] = parseSizePair(
    column(raw, 'NetIO'),
    'decimal',
  );
  const [blockReadBytes, blockWriteBytes] = parseSizePair(
    column(raw, 'BlockIO'),
    'decimal',
  );

  return {
    id: column(raw, 'ID'),
    name: column(raw, 'Name'),
    cpuPercent: parsePercent(column(raw, 'CPUPerc')),
    memoryUsageBytes,
    memoryLimitBytes,
    memoryPercent: parsePercent(column(raw, 'MemPerc')),
    networkReceiveBytes,
    networkTransmitBytes,
    blockReadBytes,
    blockWriteBytes,
    pids: parseNumber(column(raw, 'PIDs'), 'PIDs'),
  };
}

/** The whole output of `docker stats --format '{{json .}}'`, one row a line. */
export function parseStatsOutput(output: string): DockerStatsRow[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(parseStatsLine);
}
