import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const blockMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_block_read_bytes_total',
    'Bytes read from block devices (cgroup blkio or io.stat), summed over devices.',
    'counter',
    (r) => r.usage.blockReadBytes,
  ),
  workloadMetric(
    'microstat_workload_block_write_bytes_total',
    'Bytes written to block devices (cgroup blkio or io.stat), summed over devices.',
    'counter',
    (r) => r.usage.blockWriteBytes,
  ),
];
