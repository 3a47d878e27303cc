import type { WorkloadsResponse } from '../../export/api.js';
import type {
  HostUsage,
  Snapshot,
  Workload,
  WorkloadKind,
  WorkloadUsage,
} from '../../model.js';
import { bytesSize, goFixed, humanSize } from '../../units.js';
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
