import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const cpuMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_cpu_seconds_total',
    'CPU time the workload used on the host, all CPUs (cgroup cpuacct.usage or cpu.stat usage_usec).',
    'counter',
    (r) => r.usage.cpuSeconds,
  ),
];
