import { collectorMetric, type MetricSpec } from '../metric-table.js';

export const collectorMetrics: readonly MetricSpec[] = [
  collectorMetric(
    'microstat_collector_success',
    '1 when the collector reached its source and read every workload in the last collection.',
    (c) => (c.success ? 1 : 0),
  ),
  collectorMetric(
    'microstat_collector_duration_seconds',
    'How long the collector took in the last collection.',
    (c) => c.durationSeconds,
  ),
];
