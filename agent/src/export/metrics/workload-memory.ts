import { UNLIMITED } from '../../model.js';
import { effectiveMemoryLimit } from '../../sample/rates.js';
import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const memoryMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_memory_usage_bytes',
    'Memory in use as docker stats shows it: usage minus inactive file pages.',
    'gauge',
    (r) => r.usage.memoryUsageBytes,
  ),
  workloadMetric(
    'microstat_workload_memory_rss_bytes',
    'Anonymous memory (cgroup rss or anon).',
    'gauge',
    (r) => r.usage.memoryRssBytes,
  ),
  workloadMetric(
    'microstat_workload_memory_cache_bytes',
    'Page cache charged to the workload (cgroup cache or file).',
    'gauge',
    (r) => r.usage.memoryCacheBytes,
  ),
  workloadMetric(
    'microstat_workload_memory_limit_bytes',
    'Memory limit as docker stats shows it: the configured limit, or host memory when unlimited.',
    'gauge',
    (r, host) =>
      r.usage.memoryLimit === undefined
        ? undefined
        : effectiveMemoryLimit(r.usage.memoryLimit, host),
  ),
  workloadMetric(
    'microstat_workload_memory_limited',
    '1 when the workload has a memory limit of its own, 0 when it may use all host memory.',
    'gauge',
    (r) =>
      r.usage.memoryLimit === undefined
        ? undefined
        : r.usage.memoryLimit === UNLIMITED
          ? 0
          : 1,
  ),
];
