import { readCgroupCounters } from '../host/cgroupfs.js';
import { HeldFiles } from '../host/held-files.js';
import type { ProcFs } from '../host/procfs.js';
import { isGone, yieldToEventLoop } from '../host/read.js';
import type { WorkloadSource } from '../discover/source.js';
import type { Logger } from '../log.js';
import type {
  CollectorStatus,
  MicroVmDetail,
  HostUsage,
  Snapshot,
  Workload,
  WorkloadReading,
  WorkloadUsage,
} from '../model.js';
import { sumNonLoopback } from '../parse/net-dev.js';
import { TICKS_PER_SECOND } from '../host/procfs.js';
import { WorkloadBound } from './bound.js';
import { LimitCache } from './limits.js';
import { GuestReader, readMicroVm } from './microvm.js';

/** A shim that has not answered in this time is not waited for. */
const GUEST_TIMEOUT_MS = 1000;
/** Each guest read is an RPC into the VM: at most one per sandbox per 5 s. */
const GUEST_MIN_INTERVAL_MS = 5000;

/**
 * Workloads read between two turns of the event loop. Kernel files are
 * read synchronously (host/read.ts); a batch of 32 takes about 1-3 ms, so
 * a scrape or tick waits no longer than that behind a sample.
 */
const BATCH = 32;

export interface SamplerOptions {
  /** Workloads read per call at most, lowest ids first; default: all. */
  readonly maxWorkloads?: number;
}

/**
 * Reads every workload's counters once per call. Concurrent callers (two
 * scrapers, the API) share one reading in flight instead of each walking
 * the host. Workloads whose cgroup vanished since discovery are left out
 * of the snapshot, so their series disappear at once.
 */
export class Sampler {
  private inflight: Promise<Snapshot> | undefined;
  private readonly lastFailure = new Map<string, string>();
  private readonly guests: GuestReader;
  /** The host's network namespace, to tell a VM without its own apart. */
  private hostNetNamespace: string | undefined;
  private readonly bound: WorkloadBound;
  private readonly limits = new LimitCache();
  /** Whether the fall-back from PSS to RSS has been logged. */
  private rssNoted = false;
  /** The files read every sample, held open from one sample to the next. */
  private readonly files = new HeldFiles();
  private readonly readHeld = (path: string): string => this.files.read(path);
  /** v1 block I/O files this kernel was found not to have. */
  private readonly absentBlkioFiles = new Set<string>();
  /** /proc as the sampler reads it: through the held files. */
  private readonly procfs: ProcFs;

  constructor(
    procfs: ProcFs,
    private readonly sources: readonly WorkloadSource[],
    private readonly log: Logger,
    options: SamplerOptions = {},
  ) {
    this.procfs = procfs.holding(this.readHeld);
    this.bound = new WorkloadBound(
      options.maxWorkloads ?? Number.POSITIVE_INFINITY,
      log,
    );
    this.guests = new GuestReader(
      GUEST_TIMEOUT_MS,
      GUEST_MIN_INTERVAL_MS,
      (socket, error) => {
        // A broken or slow shim socket is worth one debug line, no more.
        log.debug({ socket, err: String(error) }, 'guest metrics unavailable');
      },
    );
  }

  /** Lets go of the files held open; a later sample opens them again. */
  close(): void {
    this.files.close();
  }

  sample(): Promise<Snapshot> {
    this.inflight ??= this.read().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async read(): Promise<Snapshot> {
    // The first collection waits for each source's first discovery
    // attempt (it resolves on failure too), so that a scrape right after
    // start-up does not report an empty host.
    await Promise.all(this.sources.map((source) => source.ready()));
    const hostStart = performance.now();
    const host = this.readHost();
    this.hostNetNamespace ??= this.hostNetwork();
    const collectors: CollectorStatus[] = [
      { collector: 'host', success: true, durationSeconds: since(hostStart) },
    ];

    // Bounded before reading, so that a flood of workloads costs the
    // agent no more reads than the bound allows.
    const discovered = this.sources.map((source) => source.workloads());
    const { kept, status } = this.bound.keep(discovered.flat());

    const workloads: WorkloadReading[] = [];
    for (const [index, source] of this.sources.entries()) {
      const start = performance.now();
      const results = await this.readAll(
        (discovered[index] ?? []).filter((w) => kept.has(w)),
      );
      const failures: string[] = [];
      for (const result of results) {
        if (typeof result === 'string') failures.push(result);
        else if (result !== undefined) workloads.push(result);
      }
      const readError = this.report(source.name, failures);
      const error = source.lastError() ?? readError;
      collectors.push({
        collector: source.name,
        success: source.healthy() && failures.length === 0,
        durationSeconds: since(start),
        ...(error === undefined ? {} : { error }),
      });
    }

    this.guests.retain(
      new Set(workloads.flatMap((r) => r.workload.microvm?.guestSocket ?? [])),
    );
    this.limits.retain(new Set(workloads.map((r) => r.workload.id)));
    // Files of workloads gone since the last sample are let go now.
    this.files.sweep();
    return {
      takenAtMs: Date.now(),
      monotonicSeconds: performance.now() / 1000,
      host,
      workloads,
      collectors,
      bound: status,
    };
  }

  /**
   * Reads a list of workloads, a batch at a time with a turn of the event
   * loop between batches. Kernel files are read synchronously; the guest
   * views of microVMs (an RPC each) are asked for alongside and joined at
   * the end.
   */
  private async readAll(
    list: readonly Workload[],
  ): Promise<(WorkloadReading | string | undefined)[]> {
    const results: (WorkloadReading | string | undefined)[] = [];
    const guests: Promise<void>[] = [];
    for (let at = 0; at < list.length; at += BATCH) {
      for (const workload of list.slice(at, at + BATCH)) {
        const result = this.readWorkload(workload);
        const index = results.push(result) - 1;
        const socket = workload.microvm?.guestSocket;
        if (typeof result === 'object' && socket !== undefined) {
          guests.push(
            this.guests.read(socket).then((guest) => {
              results[index] = { ...result, guest };
            }),
          );
        }
      }
      await yieldToEventLoop();
    }
    await Promise.all(guests);
    return results;
  }

  private readHost(): HostUsage {
    const stat = this.procfs.stat();
    const monotonicSeconds = performance.now() / 1000;
    const meminfo = this.procfs.meminfo();
    return {
      cpus: stat.onlineCpus,
      memoryTotalBytes: meminfo.get('MemTotal') ?? 0,
      stealCpuSeconds: (stat.cpu.steal ?? 0) / TICKS_PER_SECOND,
      monotonicSeconds,
    };
  }

  /**
   * One workload's reading; undefined when it is gone, an error message
   * when it could not be read for another reason.
   */
  private readWorkload(
    workload: Workload,
  ): WorkloadReading | string | undefined {
    try {
      if (workload.microvm !== undefined) {
        return this.readMicroVm(workload, workload.microvm);
      }
      if (workload.cgroup === undefined) return undefined;
      const counters = readCgroupCounters(
        workload.cgroup,
        this.readHeld,
        this.absentBlkioFiles,
      );
      if (
        counters.cpuSeconds === undefined &&
        counters.memoryUsageBytes === undefined
      ) {
        return undefined;
      }
      const limits = this.limits.limits(workload.id, workload.cgroup);
      const network = this.readNetwork(workload);
      const usage: WorkloadUsage = { ...counters, ...limits, ...network };
      return { workload, usage };
    } catch (error: unknown) {
      if (isGone(error)) return undefined;
      return `${workload.id}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /**
   * The host's network namespace: PID 1's, or where that link is not
   * readable (some sandboxes hide PID 1), the agent's own, which is the
   * host's whenever the agent runs with the host network.
   */
  private hostNetwork(): string | undefined {
    for (const pid of [1, 'self'] as const) {
      try {
        return this.procfs.netNamespace(pid);
      } catch {
        // Try the next candidate.
      }
    }
    return undefined;
  }

  private readMicroVm(
    workload: Workload,
    detail: MicroVmDetail,
  ): WorkloadReading | undefined {
    const reading = readMicroVm(
      this.procfs,
      workload,
      detail,
      this.hostNetNamespace,
    );
    if (reading === undefined) return undefined;
    if (reading.memoryMethod === 'rss' && !this.rssNoted) {
      this.rssNoted = true;
      this.log.info(
        { id: workload.id },
        'microVM memory is summed as RSS, not PSS: smaps_rollup is not ' +
          'readable (needs root or CAP_SYS_PTRACE), so guest RAM shared ' +
          'by the VMM and virtiofsd may count twice',
      );
    }
    return {
      workload,
      usage: reading.usage,
      components: reading.components,
      memoryMethod: reading.memoryMethod,
    };
  }

  private readNetwork(w: Workload): Partial<WorkloadUsage> {
    if (!w.ownNetwork || w.initPid === undefined) return {};
    try {
      const sums = sumNonLoopback(this.procfs.netDev(w.initPid));
      return {
        networkReceiveBytes: sums.receiveBytes,
        networkTransmitBytes: sums.transmitBytes,
      };
    } catch (error: unknown) {
      if (isGone(error)) return {};
      throw error;
    }
  }

  /**
   * Logs a source's read failures once each time they change, and returns
   * them in one line, e.g. "could not read 2 workloads: <first error>".
   */
  private report(
    source: string,
    failures: readonly string[],
  ): string | undefined {
    const count = failures.length;
    const summary =
      count === 0
        ? ''
        : `could not read ${count} workload${count === 1 ? '' : 's'}: ` +
          (failures[0] ?? '');
    if (summary === (this.lastFailure.get(source) ?? ''))
      return summary || undefined;
    this.lastFailure.set(source, summary);
    if (summary === '')
      this.log.info({ collector: source }, 'workload reads recovered');
    else
      this.log.warn(
        { collector: source, failed: failures.length, first: failures[0] },
        'workload reads failed',
      );
    return summary || undefined;
  }
}

function since(start: number): number {
  return (performance.now() - start) / 1000;
}
