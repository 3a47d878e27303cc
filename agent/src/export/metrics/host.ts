import { snapshotMetric, type MetricSpec } from '../metric-table.js';

export const hostMetrics: readonly MetricSpec[] = [
  snapshotMetric(
    'microstat_host_cpus',
    'Online CPUs of the host (cpuN lines of /proc/stat).',
    (s) => s.host.cpus,
  ),
  snapshotMetric(
    'microstat_host_memory_bytes',
    'Total memory of the host (MemTotal of /proc/meminfo).',
    (s) => s.host.memoryTotalBytes,
  ),
];
