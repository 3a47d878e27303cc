import type {
  ComponentUsage,
  GuestView,
  Limit,
  MicroVmProcess,
  PodRef,
  Snapshot,
  WorkloadIdentity,
  WorkloadUsage,
} from '../model.js';
import { identityOf } from '../model.js';
import type { HistoryWindow, Rates, SeriesName } from '../sample/history.js';
import { effectiveMemoryLimit } from '../sample/rates.js';
import type { HostInfo } from '../sources/host-info.js';

/**
 * The JSON payloads of the HTTP API. The dashboard and `microstat stats
 * --url` import these types, so a change here breaks their build.
 */
export interface WorkloadJson extends WorkloadIdentity {
  readonly labels: Readonly<Record<string, string>>;
  readonly composeProject: string;
  readonly composeService: string;
  readonly containerdNamespace?: string;
  readonly pod?: PodRef;
  readonly initPid?: number;
  /** microVMs: configured size, the host cost by component, the guest. */
  readonly vcpus?: number;
  readonly configuredMemoryBytes?: number;
  readonly components?: readonly ComponentUsage[];
  /** microVMs: the host processes and the component each is booked to. */
  readonly processes?: readonly MicroVmProcess[];
  readonly memoryMethod?: 'pss' | 'rss';
  readonly guest?: GuestView;
  readonly usage: WorkloadUsage & {
    /** The limit docker shows: configured, or host memory when unlimited. */
    readonly memoryLimitBytes?: number;
  };
}

export interface WorkloadsResponse {
  readonly takenAtMs: number;
  readonly monotonicSeconds: number;
  readonly host: Snapshot['host'];
  readonly workloads: readonly WorkloadJson[];
  readonly collectors: Snapshot['collectors'];
}

export function workloadsResponse(snapshot: Snapshot): WorkloadsResponse {
  return {
    takenAtMs: snapshot.takenAtMs,
    monotonicSeconds: snapshot.monotonicSeconds,
    host: snapshot.host,
    collectors: snapshot.collectors,
    workloads: snapshot.workloads.map(({ workload: w, usage, ...extra }) => ({
      ...identityOf(w),
      labels: w.labels,
      composeProject: w.composeProject,
      composeService: w.composeService,
      containerdNamespace: w.containerdNamespace,
      pod: w.pod,
      initPid: w.initPid,
      vcpus: w.microvm?.vcpus,
      configuredMemoryBytes: w.microvm?.memoryBytes,
      processes: w.microvm?.processes,
      ...extra,
      usage: {
        ...usage,
        memoryLimitBytes: limitBytes(usage.memoryLimit, snapshot),
      },
    })),
  };
}

function limitBytes(
  limit: Limit | undefined,
  snapshot: Snapshot,
): number | undefined {
  return limit === undefined
    ? undefined
    : effectiveMemoryLimit(limit, snapshot.host);
}

/**
 * A workload's figures of one tick, from its previous reading and this
 * one (CPU % as docker stats counts it, bytes per second), computed by the
 * agent's history through rates.ts.
 */
export type WorkloadRates = Rates;
export type { SeriesName };

export interface LiveWorkloadJson extends WorkloadJson {
  readonly rates: WorkloadRates;
}

/** The `tick` event of /api/v1/events: every workload and its rates. */
export interface TickEvent extends WorkloadsResponse {
  readonly workloads: readonly LiveWorkloadJson[];
}

export function tickEvent(
  snapshot: Snapshot,
  rates: ReadonlyMap<string, Rates>,
): TickEvent {
  const base = workloadsResponse(snapshot);
  return {
    ...base,
    workloads: base.workloads.map((w) => ({
      ...w,
      rates: rates.get(w.id) ?? {},
    })),
  };
}

/** The windows /api/v1/workloads/:id/history serves, in seconds. */
export const HISTORY_WINDOWS = [300, 900, 3600] as const;
export type HistoryWindowSeconds = (typeof HISTORY_WINDOWS)[number];

/** GET /api/v1/workloads/:id/history: one point per second, oldest first. */
export interface HistoryResponse extends HistoryWindow {
  readonly id: string;
  readonly windowSeconds: HistoryWindowSeconds;
}

/** GET /api/v1/host: what the dashboard's header shows. */
export interface HostResponse extends HostInfo {
  readonly agentVersion: string;
  /** Online CPUs and MemTotal, from the latest reading. */
  readonly cpus?: number;
  readonly memoryTotalBytes?: number;
}

export function hostResponse(
  info: HostInfo,
  agentVersion: string,
  host: Snapshot['host'] | undefined,
): HostResponse {
  return {
    ...info,
    agentVersion,
    cpus: host?.cpus,
    memoryTotalBytes: host?.memoryTotalBytes,
  };
}
