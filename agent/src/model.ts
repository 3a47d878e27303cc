/**
 * The shared vocabulary of the agent: what a workload is, what one reading of
 * its counters holds, and how "absent", "unlimited" and zero stay apart.
 *
 * Conventions: every figure is in base units (seconds, bytes) and says so in
 * its name. A field that could not be read is `undefined`, never 0. A limit is
 * a number of bytes (or pids) or the literal "unlimited".
 */

export const UNLIMITED = 'unlimited';
/** A configured ceiling: a number, or no ceiling at all. */
export type Limit = number | typeof UNLIMITED;

export type WorkloadKind = 'container' | 'microvm';

/** The cgroup controllers whose files the agent reads. */
export type Controller = 'cpu' | 'cpuacct' | 'memory' | 'pids' | 'blkio';

/**
 * Where a workload's cgroup lives, resolved from `/proc/<pid>/cgroup` of one
 * of its processes. Paths are absolute directories under the cgroup root.
 */
export type CgroupLocation =
  | { readonly version: 1; readonly dirs: Partial<Record<Controller, string>> }
  | { readonly version: 2; readonly dir: string };

/** Where a microVM's host cost goes. */
export type Component = 'hypervisor' | 'vcpu' | 'virtiofsd' | 'shim' | 'other';

/** One host process of a microVM. */
export interface MicroVmProcess {
  readonly pid: number;
  readonly component: Exclude<Component, 'vcpu'>;
  /** What discovery recognised it as: shim, hypervisor, virtiofsd, ... */
  readonly role: string;
}

/** What discovery knows of a Kata sandbox beyond the common fields. */
export interface MicroVmDetail {
  readonly processes: readonly MicroVmProcess[];
  /** Configured (boot) vCPUs, from the hypervisor's argv or state. */
  readonly vcpus?: number;
  /** Configured guest memory in bytes. */
  readonly memoryBytes?: number;
  /** The shim's monitoring socket, set only where scraping it is safe. */
  readonly guestSocket?: string;
  /** The sandbox's host cgroups (kata_<id>, kata_overhead/<id>). */
  readonly cgroups: readonly CgroupLocation[];
}

export interface PodRef {
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
  /** The container's name within the pod; absent for the pod sandbox. */
  readonly container?: string;
}

/** A workload as discovery sees it: identity, names and where to read it. */
export interface Workload {
  /** Container id (Docker: 64 hex digits) or Kata sandbox id. */
  readonly id: string;
  /** Human name: the Docker name without its leading slash, or the id. */
  readonly name: string;
  readonly kind: WorkloadKind;
  /** Low-level runtime: runc, kata, crun, ... */
  readonly runtime: string;
  /** Who manages it: docker, containerd, ... */
  readonly engine: string;
  readonly image: string;
  /** qemu, cloud-hypervisor, firecracker, dragonball; empty for containers. */
  readonly hypervisor: string;
  /** Engine state (running, paused, ...). */
  readonly state: string;
  /** Engine labels on the operator's allow-list (never all of them). */
  readonly labels: Readonly<Record<string, string>>;
  /** docker compose project and service; empty when not from compose. */
  readonly composeProject: string;
  readonly composeService: string;
  /** The containerd namespace of the record that names it, if any. */
  readonly containerdNamespace?: string;
  /** The Kubernetes pod it belongs to, from CRI labels. */
  readonly pod?: PodRef;
  /** The host pid whose namespaces and cgroups stand for the workload. */
  readonly initPid: number | undefined;
  /**
   * Whether the workload has a network namespace of its own whose traffic
   * is its traffic. False for containers on the host's network.
   */
  readonly ownNetwork: boolean;
  readonly cgroup: CgroupLocation | undefined;
  /** Set for microVMs, whose figures are summed over host processes. */
  readonly microvm?: MicroVmDetail;
}

/** The fields that say which workload this is, in every output. */
export type WorkloadIdentity = Pick<
  Workload,
  | 'id'
  | 'name'
  | 'kind'
  | 'runtime'
  | 'engine'
  | 'image'
  | 'hypervisor'
  | 'state'
>;

export function identityOf(w: Workload): WorkloadIdentity {
  const { id, name, kind, runtime, engine, image, hypervisor, state } = w;
  return { id, name, kind, runtime, engine, image, hypervisor, state };
}

/** One reading of a workload's counters. Counters are cumulative. */
export interface WorkloadUsage {
  readonly cpuSeconds?: number;
  /** CPU quota in cores (cgroup cpu.max or cfs quota over period). */
  readonly cpuLimitCores?: Limit;
  /** docker's MEM USAGE: usage minus inactive file pages. */
  readonly memoryUsageBytes?: number;
  readonly memoryRssBytes?: number;
  /** Page cache charged to the workload. */
  readonly memoryCacheBytes?: number;
  readonly memoryLimit?: Limit;
  readonly pids?: number;
  readonly pidsLimit?: Limit;
  readonly networkReceiveBytes?: number;
  readonly networkTransmitBytes?: number;
  readonly blockReadBytes?: number;
  readonly blockWriteBytes?: number;
}

/** Host-wide figures every rate and percentage is measured against. */
export interface HostUsage {
  /** Online CPUs: the `cpuN` lines of /proc/stat, as docker counts them. */
  readonly cpus: number;
  readonly memoryTotalBytes: number;
  /**
   * Time stolen from this host by the hypervisor it runs on: the steal
   * field of /proc/stat, in seconds (0 where the kernel has no such field).
   * docker stats leaves it out of the host's CPU time; see rates.ts.
   */
  readonly stealCpuSeconds: number;
  /** The monotonic clock when /proc/stat was read, in seconds. */
  readonly monotonicSeconds: number;
}

/** How one collector fared in one collection. */
export interface CollectorStatus {
  readonly collector: string;
  readonly success: boolean;
  readonly durationSeconds: number;
  /** Why it failed, in one line; absent on success. */
  readonly error?: string;
}

/** Everything one collection read, at one moment. */
export interface Snapshot {
  /** Wall clock of the reading, in milliseconds since the epoch. */
  readonly takenAtMs: number;
  /** Monotonic clock of the reading, in seconds, for rates. */
  readonly monotonicSeconds: number;
  readonly host: HostUsage;
  readonly workloads: readonly WorkloadReading[];
  readonly collectors: readonly CollectorStatus[];
  /** What `--max-workloads` left out; absent where nothing bounds it. */
  readonly bound?: WorkloadBoundStatus;
}

export interface WorkloadBoundStatus {
  /** Workloads discovered for this reading, exported or not. */
  readonly seenWorkloads: number;
  /** Workloads left out, summed over every reading since start. */
  readonly droppedTotal: number;
}

export interface WorkloadReading {
  readonly workload: Workload;
  readonly usage: WorkloadUsage;
  /** microVMs: the host cost split by component. */
  readonly components?: readonly ComponentUsage[];
  /** microVMs: how memory was summed (PSS where readable, else RSS). */
  readonly memoryMethod?: 'pss' | 'rss';
  /** microVMs: the guest's own view, where it could be read. */
  readonly guest?: GuestView;
}

export interface ComponentUsage {
  readonly component: Component;
  readonly cpuSeconds: number;
  /** Undefined for vCPU threads, which share the hypervisor's memory. */
  readonly memoryBytes?: number;
}

/** What the guest itself reports through the shim's monitoring socket. */
export interface GuestView {
  /** False when the socket could not be read this time. */
  readonly up: boolean;
  readonly memoryTotalBytes?: number;
  readonly memoryAvailableBytes?: number;
  readonly memoryFreeBytes?: number;
  /** Busy CPU time summed over the guest's CPUs (idle and iowait left out). */
  readonly cpuSeconds?: number;
}
