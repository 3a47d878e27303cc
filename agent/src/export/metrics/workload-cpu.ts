import { UNLIMITED } from '../../model.js';
import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const cpuMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_cpu_seconds_total',
    'CPU time the workload used on the host, all CPUs (cgroup cpuacct.usage ' +
      'or cpu.stat usage_usec).',
    'counter',
    (r) => r.usage.cpuSeconds,
  ),
  workloadMetric(
    'microstat_workload_cpu_limit_cores',
    'CPU the workload may use, in cores: its cgroup CPU quota, or for a ' +
      'microVM its configured vCPUs; absent when unlimited.',
    'gauge',
    (r) => {
      if (r.workload.microvm !== undefined) return r.workload.microvm.vcpus;
      const limit = r.usage.cpuLimitCores;
      return limit === UNLIMITED ? undefined : limit;
    },
  ),
];
