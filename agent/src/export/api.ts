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
import { effectiveMemoryLimit } from '../sample/rates.js';

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
