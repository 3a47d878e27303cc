import type { ProcFs } from '../host/procfs.js';
import { TICKS_PER_SECOND } from '../host/procfs.js';
import { isDenied, isGone } from '../host/read.js';
import type {
  Component,
  ComponentUsage,
  GuestView,
  MicroVmDetail,
  MicroVmProcess,
  Workload,
  WorkloadUsage,
} from '../model.js';
import { parseKataGuestMetrics } from '../parse/kata-metrics.js';
import { sumNonLoopback, type InterfaceCounters } from '../parse/net-dev.js';
import { fetchShimMetrics } from '../sources/kata-monitor.js';

/**
 * Reads a microVM's host footprint: every host process of the sandbox,
 * summed, and split by component. CPU from /proc/<pid>/stat (all threads);
 * memory as PSS from smaps_rollup so that guest RAM mapped by both the VMM
 * and virtiofsd counts once (RSS where smaps_rollup cannot be read); block
 * I/O from /proc/<pid>/io; network from the hypervisor's namespace.
 */

/** vCPU thread names: QEMU with debug-threads, Cloud Hypervisor, Firecracker, Dragonball. */
const VCPU_THREAD = /^(CPU \d+\/(KVM|TCG|HVF)|vcpu\d+|fc_vcpu \d+|db_vcpu\d+)$/;

/** Kata's tap devices mirror the VM's veth traffic one for one. */
const KATA_TAP = /^tap\d+_kata$/;

export interface MicroVmReading {
  readonly usage: WorkloadUsage;
  readonly components: ComponentUsage[];
  readonly memoryMethod: 'pss' | 'rss';
}

interface ProcessReading {
  readonly process: MicroVmProcess;
  readonly cpuSeconds: number;
  readonly vcpuSeconds: number;
  readonly threads: number;
  readonly memory: MemoryFigures;
  readonly readBytes?: number;
  readonly writeBytes?: number;
}

interface MemoryFigures {
  readonly method: 'pss' | 'rss';
  readonly totalBytes: number;
  readonly anonBytes?: number;
  readonly fileBytes?: number;
}

export function readMicroVm(
  procfs: ProcFs,
  workload: Workload,
  detail: MicroVmDetail,
  hostNetNamespace: string | undefined,
): MicroVmReading | undefined {
  const readings = detail.processes
    .map((p) =>
      readProcess(
        procfs,
        p,
        p.role === 'hypervisor' ||
          (workload.hypervisor === 'dragonball' && p.role === 'shim'),
      ),
    )
    .filter((r): r is ProcessReading => r !== undefined);
  if (readings.length === 0) return undefined;

  const memoryMethod = readings.every((r) => r.memory.method === 'pss')
    ? 'pss'
    : 'rss';
  const usage: WorkloadUsage = {
    cpuSeconds: sum(readings, (r) => r.cpuSeconds),
    memoryUsageBytes: sum(readings, (r) => r.memory.totalBytes),
    memoryRssBytes: sumKnown(readings, (r) => r.memory.anonBytes),
    memoryCacheBytes: sumKnown(readings, (r) => r.memory.fileBytes),
    pids: sum(readings, (r) => r.threads),
    blockReadBytes: sumKnown(readings, (r) => r.readBytes),
    blockWriteBytes: sumKnown(readings, (r) => r.writeBytes),
    ...(detail.memoryBytes === undefined
      ? {}
      : { memoryLimit: detail.memoryBytes }),
    ...readNetwork(procfs, workload.initPid, hostNetNamespace),
  };
  return { usage, components: byComponent(readings), memoryMethod };
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

function sumKnown<T>(
  items: readonly T[],
  value: (item: T) => number | undefined,
): number | undefined {
  let total: number | undefined;
  for (const item of items) {
    const v = value(item);
    if (v !== undefined) total = (total ?? 0) + v;
  }
  return total;
}

function byComponent(readings: readonly ProcessReading[]): ComponentUsage[] {
  const order: Component[] = [
    'hypervisor',
    'vcpu',
    'virtiofsd',
    'shim',
    'other',
  ];
  const cpu = new Map<Component, number>();
  const memory = new Map<Component, number>();
  for (const r of readings) {
    const c = r.process.component;
    cpu.set(c, (cpu.get(c) ?? 0) + r.cpuSeconds - r.vcpuSeconds);
    memory.set(c, (memory.get(c) ?? 0) + r.memory.totalBytes);
    if (r.vcpuSeconds > 0)
      cpu.set('vcpu', (cpu.get('vcpu') ?? 0) + r.vcpuSeconds);
  }
  return order
    .filter((c) => cpu.has(c))
    .map((c) => ({
      component: c,
      cpuSeconds: cpu.get(c) ?? 0,
      ...(c === 'vcpu' ? {} : { memoryBytes: memory.get(c) ?? 0 }),
    }));
}

/** One process; `splitVcpus` also sums its vCPU threads apart. */
function readProcess(
  procfs: ProcFs,
  process: MicroVmProcess,
  splitVcpus: boolean,
): ProcessReading | undefined {
  try {
    const stat = procfs.pidStat(process.pid);
    // A zombie has exited and waits for its parent: it costs nothing more.
    if (stat.state === 'Z' || stat.state === 'X') return undefined;
    const memory = readMemory(procfs, process.pid);
    const io = unlessDenied(() => procfs.io(process.pid));
    const vcpuTicks = splitVcpus ? vcpuThreadTicks(procfs, process.pid) : 0;
    return {
      process,
      cpuSeconds: (stat.utimeTicks + stat.stimeTicks) / TICKS_PER_SECOND,
      vcpuSeconds: vcpuTicks / TICKS_PER_SECOND,
      threads: stat.numThreads,
      memory,
      ...(io === undefined
        ? {}
        : { readBytes: io.readBytes, writeBytes: io.writeBytes }),
    };
  } catch (error: unknown) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/** What `read` returns, or undefined where reading it is not allowed. */
function unlessDenied<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error: unknown) {
    if (isDenied(error)) return undefined;
    throw error;
  }
}

/** PSS where smaps_rollup is readable, otherwise RSS from status. */
function readMemory(procfs: ProcFs, pid: number): MemoryFigures {
  try {
    const smaps = procfs.smapsRollup(pid);
    const anon =
      smaps.pssAnonBytes === undefined
        ? undefined
        : smaps.pssAnonBytes + (smaps.pssShmemBytes ?? 0);
    return {
      method: 'pss',
      totalBytes: smaps.pssBytes,
      ...(anon === undefined ? {} : { anonBytes: anon }),
      ...(smaps.pssFileBytes === undefined
        ? {}
        : { fileBytes: smaps.pssFileBytes }),
    };
  } catch (error: unknown) {
    if (!isDenied(error) && !isGone(error)) throw error;
  }
  const status = procfs.pidStatus(pid);
  const anon =
    status.rssAnonBytes === undefined
      ? undefined
      : status.rssAnonBytes + (status.rssShmemBytes ?? 0);
  return {
    method: 'rss',
    totalBytes: status.vmRssBytes ?? 0,
    ...(anon === undefined ? {} : { anonBytes: anon }),
    ...(status.rssFileBytes === undefined
      ? {}
      : { fileBytes: status.rssFileBytes }),
  };
}

/** CPU ticks of the threads that run the guest's vCPUs, where named so. */
function vcpuThreadTicks(procfs: ProcFs, pid: number): number {
  let ticks = 0;
  for (const tid of procfs.tasks(pid)) {
    try {
      const stat = procfs.taskStat(pid, tid);
      if (VCPU_THREAD.test(stat.comm))
        ticks += stat.utimeTicks + stat.stimeTicks;
    } catch (error: unknown) {
      if (!isGone(error)) throw error;
    }
  }
  return ticks;
}

/**
 * The VM's traffic, counted once. Kata mirrors the pod's veth to a tap
 * device (tap0_kata) with tc, so the two show the same bytes; the taps are
 * left out when anything else is there. A hypervisor in the host's own
 * namespace (no sandbox netns) has no traffic of its own to show.
 */
function readNetwork(
  procfs: ProcFs,
  pid: number | undefined,
  hostNetNamespace: string | undefined,
): Partial<WorkloadUsage> {
  if (pid === undefined) return {};
  try {
    const ns = procfs.netNamespace(pid);
    if (hostNetNamespace !== undefined && ns === hostNetNamespace) return {};
    const ifaces = procfs.netDev(pid);
    const sums = sumNonLoopback(countedOnce(ifaces));
    return {
      networkReceiveBytes: sums.receiveBytes,
      networkTransmitBytes: sums.transmitBytes,
    };
  } catch (error: unknown) {
    if (isGone(error) || isDenied(error)) return {};
    throw error;
  }
}

export function countedOnce(
  ifaces: readonly InterfaceCounters[],
): InterfaceCounters[] {
  const others = ifaces.filter(
    (i) => i.name !== 'lo' && !KATA_TAP.test(i.name),
  );
  if (others.length > 0) return others;
  // Only taps: what the tap sends goes to the guest, so swap directions.
  return ifaces
    .filter((i) => KATA_TAP.test(i.name))
    .map((i) => ({
      ...i,
      receiveBytes: i.transmitBytes,
      receivePackets: i.transmitPackets,
      transmitBytes: i.receiveBytes,
      transmitPackets: i.receivePackets,
    }));
}

/**
 * Reads the guest's own view through the shim, at most once per
 * `minIntervalMs` per socket (each read is an RPC into the guest).
 */
export class GuestReader {
  private readonly last = new Map<string, { atMs: number; view: GuestView }>();

  constructor(
    private readonly timeoutMs: number,
    private readonly minIntervalMs: number,
    private readonly onError: (socket: string, error: unknown) => void,
  ) {}

  async read(socket: string): Promise<GuestView> {
    const cached = this.last.get(socket);
    const now = Date.now();
    if (cached !== undefined && now - cached.atMs < this.minIntervalMs)
      return cached.view;
    let view: GuestView;
    try {
      const metrics = parseKataGuestMetrics(
        await fetchShimMetrics(socket, this.timeoutMs),
      );
      view = {
        up: true,
        ...optional('memoryTotalBytes', metrics.memoryTotalBytes),
        ...optional('memoryAvailableBytes', metrics.memoryAvailableBytes),
        ...optional('memoryFreeBytes', metrics.memoryFreeBytes),
        ...optional(
          'cpuSeconds',
          metrics.cpuBusyMs === undefined
            ? undefined
            : metrics.cpuBusyMs / 1000,
        ),
      };
    } catch (error: unknown) {
      this.onError(socket, error);
      view = { up: false };
    }
    this.last.set(socket, { atMs: now, view });
    return view;
  }

  /** Forgets sockets not in `current`. */
  retain(current: ReadonlySet<string>): void {
    for (const socket of this.last.keys())
      if (!current.has(socket)) this.last.delete(socket);
  }
}

function optional<K extends string>(
  key: K,
  value: number | undefined,
): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
