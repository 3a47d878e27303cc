import type { WorkloadsResponse } from '../../export/api.js';
import type {
  HostUsage,
  Snapshot,
  Workload,
  WorkloadKind,
  WorkloadUsage,
} from '../../model.js';
import {
  cpuPercent,
  effectiveMemoryLimit,
  memoryPercent,
  type Reading,
} from '../../sample/rates.js';
import type { StatsFields } from './template.js';

/**
 * The pure half of `microstat stats`: two readings become rows, rows become
 * the strings docker stats prints (docker/cli formatter_stats.go, sizes by
 * docker/go-units size.go). Nothing here reads the host or a clock.
 */

/** Who a row is about. */
export interface StatsWorkload {
  readonly id: string;
  readonly name: string;
  readonly kind: WorkloadKind;
  /** runc, kata, ... */
  readonly runtime: string;
  /** qemu, cloud-hypervisor, ...; empty for containers. */
  readonly hypervisor: string;
}

/** Every workload's counters and the host's, read at one moment. */
export interface StatsReading {
  readonly monotonicSeconds: number;
  readonly host: HostUsage;
  readonly workloads: readonly {
    readonly workload: StatsWorkload;
    readonly usage: WorkloadUsage;
  }[];
}

/** One line of the view, in base units; undefined where nothing was read. */
export interface StatsRow extends StatsWorkload {
  /** False for a workload discovery knows but could not read (--all). */
  readonly read: boolean;
  /** What the user asked for that matched this row, if anything. */
  readonly container?: string;
  /** docker's CPU %: 100 is one core. */
  readonly cpuPercent?: number;
  readonly memoryUsageBytes?: number;
  /** The limit docker shows: configured, or host memory when unlimited. */
  readonly memoryLimitBytes?: number;
  readonly memoryPercent?: number;
  readonly networkReceiveBytes?: number;
  readonly networkTransmitBytes?: number;
  readonly blockReadBytes?: number;
  readonly blockWriteBytes?: number;
  readonly pids?: number;
}

export type SortKey = 'cpu' | 'mem' | 'name';
export const SORT_KEYS: readonly SortKey[] = ['cpu', 'mem', 'name'];

/** docker's placeholder for a value it does not have. */
export const NOT_AVAILABLE = '--';

export function identity(w: Workload | StatsWorkload): StatsWorkload {
  return {
    id: w.id,
    name: w.name,
    kind: w.kind,
    runtime: w.runtime,
    hypervisor: w.hypervisor,
  };
}

export function fromSnapshot(snapshot: Snapshot): StatsReading {
  return {
    monotonicSeconds: snapshot.monotonicSeconds,
    host: snapshot.host,
    workloads: snapshot.workloads.map((r) => ({
      workload: identity(r.workload),
      usage: r.usage,
    })),
  };
}

/** The agent's GET /api/v1/workloads, read the same way as the host. */
export function fromResponse(response: WorkloadsResponse): StatsReading {
  return {
    monotonicSeconds: response.monotonicSeconds,
    host: response.host,
    workloads: response.workloads.map((w) => ({
      workload: identity(w),
      usage: w.usage,
    })),
  };
}

/**
 * Rows from two readings of the same counters: rates from their
 * difference (through rates.ts), levels and totals from the later one.
 * `unread` adds workloads known to discovery but absent from `current`.
 */
export function buildRows(
  previous: StatsReading | undefined,
  current: StatsReading,
  unread: readonly StatsWorkload[] = [],
): StatsRow[] {
  const before = new Map(
    (previous?.workloads ?? []).map((r) => [r.workload.id, r]),
  );
  const rows: StatsRow[] = current.workloads.map(({ workload, usage }) => {
    const earlier = before.get(workload.id);
    const now: Reading = { ...current, usage };
    return {
      ...workload,
      read: true,
      cpuPercent:
        previous === undefined || earlier === undefined
          ? undefined
          : cpuPercent({ ...previous, usage: earlier.usage }, now),
      memoryUsageBytes: usage.memoryUsageBytes,
      memoryLimitBytes: effectiveMemoryLimit(usage.memoryLimit, current.host),
      memoryPercent: memoryPercent(usage, current.host),
      networkReceiveBytes: usage.networkReceiveBytes,
      networkTransmitBytes: usage.networkTransmitBytes,
      blockReadBytes: usage.blockReadBytes,
      blockWriteBytes: usage.blockWriteBytes,
      pids: usage.pids,
    };
  });
  const seen = new Set(rows.map((r) => r.id));
  for (const w of unread) {
    if (!seen.has(w.id)) rows.push({ ...identity(w), read: false });
  }
  return rows;
}

/** Name ascending; CPU and memory descending, unknown values last. */
export function sortRows(rows: readonly StatsRow[], key: SortKey): StatsRow[] {
  const byName = (a: StatsRow, b: StatsRow): number =>
    a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  const value = (r: StatsRow): number =>
    (key === 'cpu' ? r.cpuPercent : r.memoryUsageBytes) ?? -1;
  return [...rows].sort((a, b) =>
    key === 'name' ? byName(a, b) : value(b) - value(a) || byName(a, b),
  );
}

export interface Selection {
  readonly rows: StatsRow[];
  /** Names that matched nothing. */
  readonly missing: string[];
}

/**
 * The rows the user named, as docker finds containers: by exact name or
 * by id prefix, in the order asked, each row once. No names: every row.
 */
export function selectRows(
  rows: readonly StatsRow[],
  names: readonly string[],
): Selection {
  if (names.length === 0) return { rows: [...rows], missing: [] };
  const chosen: StatsRow[] = [];
  const missing: string[] = [];
  for (const wanted of names) {
    const row =
      rows.find((r) => r.name === wanted) ??
      rows.find((r) => wanted !== '' && r.id.startsWith(wanted));
    if (row === undefined) missing.push(wanted);
    else if (!chosen.some((r) => r.id === row.id))
      chosen.push({ ...row, container: wanted });
  }
  return { rows: chosen, missing };
}

/** docker's short id: the first 12 characters. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The RUNTIME column: the runtime, with the hypervisor of a microVM. */
export function runtimeLabel(w: StatsWorkload): string {
  return w.hypervisor === '' ? w.runtime : `${w.runtime}/${w.hypervisor}`;
}

/** One row as the strings the template placeholders stand for. */
export function rowFields(row: StatsRow, truncate: boolean): StatsFields {
  const identityFields = {
    Container: row.container ?? shortId(row.id),
    ID: truncate ? shortId(row.id) : row.id,
    Name: row.name === '' ? NOT_AVAILABLE : row.name,
    Kind: row.kind,
    Runtime: runtimeLabel(row),
    Hypervisor: row.hypervisor === '' ? NOT_AVAILABLE : row.hypervisor,
  };
  if (!row.read) {
    // docker's shapes for a container it has no statistics of.
    return {
      ...identityFields,
      CPUPerc: NOT_AVAILABLE,
      MemUsage: `${NOT_AVAILABLE} / ${NOT_AVAILABLE}`,
      MemPerc: NOT_AVAILABLE,
      NetIO: NOT_AVAILABLE,
      BlockIO: NOT_AVAILABLE,
      PIDs: NOT_AVAILABLE,
    };
  }
  return {
    ...identityFields,
    CPUPerc: percentText(row.cpuPercent),
    MemUsage: `${orMissing(row.memoryUsageBytes, bytesSize)} / ${orMissing(
      row.memoryLimitBytes,
      bytesSize,
    )}`,
    MemPerc: percentText(row.memoryPercent),
    NetIO: ioPair(row.networkReceiveBytes, row.networkTransmitBytes),
    BlockIO: ioPair(row.blockReadBytes, row.blockWriteBytes),
    PIDs: orMissing(row.pids, String),
  };
}

function orMissing(
  value: number | undefined,
  format: (n: number) => string,
): string {
  return value === undefined ? NOT_AVAILABLE : format(value);
}

function percentText(value: number | undefined): string {
  return orMissing(value, (n) => `${goFixed(n, 2)}%`);
}

/** "1.05MB / 0B"; "--" when neither side was read. */
function ioPair(a: number | undefined, b: number | undefined): string {
  if (a === undefined && b === undefined) return NOT_AVAILABLE;
  return `${orMissing(a, humanSize)} / ${orMissing(b, humanSize)}`;
}

// ---------------------------------------------------------------------------
// Sizes and numbers exactly as Go prints them.

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB'];
const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB'];

/** go-units BytesSize: binary units, four significant digits (64.07MiB). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, BINARY_UNITS, 4);
}

/**
 * go-units HumanSizeWithPrecision(x, 3): decimal units, three significant
 * digits (1.05MB, 4.1kB, and 1e+03kB just below a megabyte, as Go does).
 */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, DECIMAL_UNITS, 3);
}

function scaled(
  value: number,
  base: number,
  units: readonly string[],
  digits: number,
): string {
  let size = value;
  let unit = 0;
  while (size >= base && unit < units.length - 1) {
    size /= base;
    unit += 1;
  }
  return `${goGeneral(size, digits)}${units[unit] ?? ''}`;
}

/**
 * The decimal digits of a non-negative double, as Go's strconv holds them:
 * value = 0.d1d2d3... * 10^point, trailing zeros dropped.
 */
interface Decimal {
  digits: string;
  point: number;
}

function toDecimal(value: number): Decimal {
  // 100 significant digits hold the exact expansion of every value this
  // view prints (sizes over powers of 1024, percentages); Go rounds the
  // exact value too.
  const [mantissa = '0', exponent = '0'] = value.toExponential(99).split('e');
  const digits = mantissa.replace('.', '').replace(/0+$/, '');
  return digits === ''
    ? { digits: '', point: 0 }
    : { digits, point: Number(exponent) + 1 };
}

/** Rounds to `keep` digits, halfway cases to even, as strconv does. */
function roundDecimal(d: Decimal, keep: number): Decimal {
  if (keep < 0 || keep >= d.digits.length) return d;
  const next = d.digits[keep] ?? '0';
  const exactHalf = next === '5' && keep + 1 === d.digits.length;
  const up = exactHalf
    ? keep > 0 && Number(d.digits[keep - 1]) % 2 === 1
    : next >= '5';
  if (!up) {
    return {
      digits: d.digits.slice(0, keep).replace(/0+$/, ''),
      point: d.point,
    };
  }
  let i = keep - 1;
  while (i >= 0 && d.digits[i] === '9') i -= 1;
  if (i < 0) return { digits: '1', point: d.point + 1 };
  const bumped = String(Number(d.digits[i]) + 1);
  return { digits: d.digits.slice(0, i) + bumped, point: d.point };
}

function fixedDigits(d: Decimal, decimals: number): string {
  const digit = (j: number): string =>
    j >= 0 && j < d.digits.length ? (d.digits[j] ?? '0') : '0';
  let integer = '';
  for (let j = 0; j < d.point; j += 1) integer += digit(j);
  let fraction = '';
  for (let i = 0; i < decimals; i += 1) fraction += digit(d.point + i);
  return (
    (integer === '' ? '0' : integer) + (decimals > 0 ? `.${fraction}` : '')
  );
}

/** Go's strconv.FormatFloat(value, 'f', decimals, 64). */
export function goFixed(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return goSpecial(value);
  const sign = value < 0 ? '-' : '';
  const exact = toDecimal(Math.abs(value));
  const rounded = roundDecimal(exact, exact.point + decimals);
  return sign + fixedDigits(rounded, decimals);
}

/** Go's fmt `%.<precision>g`: shortest of %e and %f, no trailing zeros. */
export function goGeneral(value: number, precision: number): string {
  if (!Number.isFinite(value)) return goSpecial(value);
  const sign = value < 0 ? '-' : '';
  const prec = Math.max(precision, 1);
  const d = roundDecimal(toDecimal(Math.abs(value)), prec);
  let eprec = prec;
  if (eprec > d.digits.length && d.digits.length >= d.point) {
    eprec = d.digits.length;
  }
  const exp = d.point - 1;
  if (exp < -4 || exp >= eprec) {
    const shown = Math.min(prec, d.digits.length);
    return sign + exponential(d, shown - 1);
  }
  const shown = prec > d.point ? d.digits.length : prec;
  return sign + fixedDigits(d, Math.max(shown - d.point, 0));
}

function exponential(d: Decimal, decimals: number): string {
  const first = d.digits[0] ?? '0';
  let fraction = '';
  for (let i = 1; i <= decimals; i += 1) fraction += d.digits[i] ?? '0';
  const exp = d.digits === '' ? 0 : d.point - 1;
  const magnitude = String(Math.abs(exp)).padStart(2, '0');
  return (
    first +
    (decimals > 0 ? `.${fraction}` : '') +
    `e${exp < 0 ? '-' : '+'}${magnitude}`
  );
}

function goSpecial(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}
