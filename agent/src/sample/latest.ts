import { existsSync } from 'node:fs';

import type { ProcFs } from '../host/procfs.js';
import { isGone, readTextSync } from '../host/read.js';
import type { Snapshot, Workload } from '../model.js';
import { parsePidStat } from '../parse/pid-stat.js';

/**
 * The agent's most recent reading of the host, for the scrapers. The
 * agent reads every workload once a second anyway (for the history and the
 * live events); a scrape that arrives within `maxAgeMs` of that reading is
 * answered from it instead of reading the host a second time, as
 * cAdvisor answers from its housekeeping. An older reading, or none yet,
 * means a fresh one.
 *
 * A workload that stopped since the reading must not be served as if it
 * were running: before a reading is handed out, workloads whose cgroup or
 * processes are gone are left out (one stat per container, one /proc read
 * per microVM), so a stopped workload still leaves /metrics at the next
 * scrape.
 */
export class LatestSnapshot {
  private latest: Snapshot | undefined;
  private latestAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly procfs: ProcFs,
    private readonly fresh: () => Promise<Snapshot>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Keeps `snapshot` as the latest reading, taken now. */
  record(snapshot: Snapshot): void {
    this.latest = snapshot;
    this.latestAtMs = this.now();
  }

  /** The latest reading while young enough, a fresh one otherwise. */
  async get(): Promise<Snapshot> {
    const latest = this.latest;
    if (latest === undefined || this.now() - this.latestAtMs > this.maxAgeMs) {
      const snapshot = await this.fresh();
      this.record(snapshot);
      return snapshot;
    }
    const workloads = latest.workloads.filter((r) =>
      stillThere(this.procfs, r.workload),
    );
    return workloads.length === latest.workloads.length
      ? latest
      : { ...latest, workloads };
  }
}

/**
 * Whether a workload read a moment ago still exists: a container's cgroup
 * directory, or a live (not zombie) process of a microVM.
 */
export function stillThere(procfs: ProcFs, workload: Workload): boolean {
  if (workload.microvm !== undefined) {
    return workload.microvm.processes.some((p) => alive(procfs, p.pid));
  }
  const cgroup = workload.cgroup;
  if (cgroup === undefined) return false;
  const dirs = cgroup.version === 2 ? [cgroup.dir] : Object.values(cgroup.dirs);
  return dirs.some((dir) => existsSync(dir));
}

function alive(procfs: ProcFs, pid: number): boolean {
  try {
    const { state } = parsePidStat(readTextSync(procfs.path(pid, 'stat')));
    return state !== 'Z' && state !== 'X';
  } catch (error: unknown) {
    if (isGone(error)) return false;
    throw error;
  }
}
