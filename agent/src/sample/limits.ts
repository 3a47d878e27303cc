import { readCgroupLimits, type CgroupLimits } from '../host/cgroupfs.js';
import type { CgroupLocation } from '../model.js';

/**
 * How long a workload's limits are trusted before they are read again.
 * Counters are read every sample; the CPU quota, memory limit and pids
 * limit only move on `docker update` or a write to the cgroup, so reading
 * them once per interval instead of every second saves three of a v2
 * container's eight cgroup files (four of v1's ten) per sample.
 */
export const LIMITS_MAX_AGE_MS = 10_000;

interface Entry {
  readonly where: string;
  readonly readAtMs: number;
  readonly limits: CgroupLimits;
}

/** The last limits read per workload id, re-read once they are too old. */
export class LimitCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxAgeMs = LIMITS_MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The workload's limits: cached while younger than the maximum age and
   * read from the same cgroup, read afresh otherwise. A reading that found
   * nothing (the cgroup vanished mid-sample) is not kept.
   */
  limits(id: string, location: CgroupLocation): CgroupLimits {
    const at = this.now();
    const where = locationKey(location);
    const entry = this.entries.get(id);
    if (
      entry !== undefined &&
      entry.where === where &&
      at - entry.readAtMs < this.maxAgeMs
    ) {
      return entry.limits;
    }
    const limits = readCgroupLimits(location);
    if (
      limits.cpuLimitCores === undefined &&
      limits.memoryLimit === undefined &&
      limits.pidsLimit === undefined
    ) {
      this.entries.delete(id);
    } else {
      this.entries.set(id, { where, readAtMs: at, limits });
    }
    return limits;
  }

  /** Forgets every workload not in `ids`. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.entries.keys())
      if (!ids.has(id)) this.entries.delete(id);
  }
}

/** The directories a location reads, as one comparable string. */
function locationKey(location: CgroupLocation): string {
  return location.version === 2
    ? location.dir
    : Object.values(location.dirs).join('\0');
}
