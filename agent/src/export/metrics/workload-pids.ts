import { UNLIMITED } from '../../model.js';
import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const pidsMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_pids',
    'Processes and threads in the workload (cgroup pids.current).',
    'gauge',
    (r) => r.usage.pids,
  ),
  workloadMetric(
    'microstat_workload_pids_limit',
    'The pids limit of the workload; absent when unlimited.',
    'gauge',
    (r) => (r.usage.pidsLimit === UNLIMITED ? undefined : r.usage.pidsLimit),
  ),
];
