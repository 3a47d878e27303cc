import { workloadMetric, type MetricSpec } from '../metric-table.js';

export const networkMetrics: readonly MetricSpec[] = [
  workloadMetric(
    'microstat_workload_network_receive_bytes_total',
    "Bytes received on the workload's network interfaces, loopback excluded.",
    'counter',
    (r) => r.usage.networkReceiveBytes,
  ),
  workloadMetric(
    'microstat_workload_network_transmit_bytes_total',
    "Bytes sent on the workload's network interfaces, loopback excluded.",
    'counter',
    (r) => r.usage.networkTransmitBytes,
  ),
];
