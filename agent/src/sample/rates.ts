import {
  UNLIMITED,
  type HostUsage,
  type Limit,
  type WorkloadUsage,
} from '../model.js';

/**
 * The one place where two readings become rates and percentages, with the
 * formulas docker stats uses (docker/cli cli/command/container/
 * stats_helpers.go), so the stats view, the API and the dashboard agree.
 */

/** One workload's counters and the host's, as read at one moment. */
export interface Reading {
  readonly monotonicSeconds: number;
  readonly host: HostUsage;
  readonly usage: WorkloadUsage;
}

/**
 * docker's CPU %: the workload's CPU time delta over the host's CPU time
 * delta, times the online CPUs, times 100. 100 % is one full core.
 *
 * docker takes the host's delta from user..softirq of /proc/stat. Every
 * online CPU accrues those fields plus steal at one second per second, so
 * that delta is the elapsed time times the online CPUs, less steal; this
 * computes it that way, from the monotonic clock. /proc/stat counts in
 * 10 ms ticks, which over the first 250 ms frame of `microstat stats`
 * (50 ticks on two CPUs) is good to only about 4 points; the clock is
 * exact. Undefined when either reading lacks CPU time or no time passed.
 */
export function cpuPercent(
  previous: Reading,
  current: Reading,
): number | undefined {
  const before = previous.usage.cpuSeconds;
  const after = current.usage.cpuSeconds;
  if (before === undefined || after === undefined) return undefined;
  const { host } = current;
  const elapsed = host.monotonicSeconds - previous.host.monotonicSeconds;
  const stolen = host.stealCpuSeconds - previous.host.stealCpuSeconds;
  const systemDelta = elapsed * host.cpus - Math.max(stolen, 0);
  const workloadDelta = after - before;
  if (systemDelta <= 0 || workloadDelta < 0) return undefined;
  return (workloadDelta / systemDelta) * host.cpus * 100;
}

/** The limit docker shows: the configured one, capped at host memory. */
export function effectiveMemoryLimit(
  limit: Limit | undefined,
  host: HostUsage,
): number {
  if (limit === undefined || limit === UNLIMITED) return host.memoryTotalBytes;
  return Math.min(limit, host.memoryTotalBytes);
}

/** docker's MEM %: usage over the effective limit, times 100. */
export function memoryPercent(
  usage: WorkloadUsage,
  host: HostUsage,
): number | undefined {
  if (usage.memoryUsageBytes === undefined) return undefined;
  const limit = effectiveMemoryLimit(usage.memoryLimit, host);
  return limit > 0 ? (usage.memoryUsageBytes / limit) * 100 : undefined;
}

/** Per-second rate of a counter between two readings. */
export function perSecond(
  previous: number | undefined,
  current: number | undefined,
  seconds: number,
): number | undefined {
  if (previous === undefined || current === undefined || seconds <= 0)
    return undefined;
  // A counter that went backwards was reset (the workload restarted).
  if (current < previous) return undefined;
  return (current - previous) / seconds;
}
