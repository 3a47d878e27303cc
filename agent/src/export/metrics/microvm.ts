import type { ComponentUsage, WorkloadReading } from '../../model.js';
import {
  workloadMetric,
  workloadSeries,
  type MetricSpec,
} from '../metric-table.js';

/**
 * microVM-only families: the host cost split by component, the configured
 * size, and the guest's own view through the shim. Workload-wide figures
 * (CPU, memory, ...) are in the common workload families with
 * kind="microvm".
 */

function componentMetric(
  name: string,
  help: string,
  type: MetricSpec['type'],
  value: (c: ComponentUsage) => number | undefined,
): MetricSpec {
  return workloadSeries(name, help, type, ['component'], function* (r) {
    for (const c of r.components ?? []) {
      const v = value(c);
      if (v !== undefined) yield [{ component: c.component }, v];
    }
  });
}

/** A guest figure, present only when the guest answered. */
function guestMetric(
  name: string,
  help: string,
  type: MetricSpec['type'],
  value: (r: WorkloadReading) => number | undefined,
): MetricSpec {
  return workloadMetric(name, help, type, (r) =>
    r.guest?.up === true ? value(r) : undefined,
  );
}

export const microvmMetrics: readonly MetricSpec[] = [
  componentMetric(
    'microstat_microvm_component_cpu_seconds_total',
    'Host CPU time of a microVM by component: hypervisor (VMM threads), ' +
      'vcpu (where the vCPU threads are named), virtiofsd, shim, other.',
    'counter',
    (c) => c.cpuSeconds,
  ),
  componentMetric(
    'microstat_microvm_component_memory_bytes',
    'Host memory of a microVM by component (PSS where readable, else RSS; ' +
      'see microstat_microvm_memory_accounting_info).',
    'gauge',
    (c) => c.memoryBytes,
  ),
  workloadSeries(
    'microstat_microvm_memory_accounting_info',
    'How microVM memory is summed: method="pss" (shared guest RAM counted ' +
      'once) or "rss" (smaps_rollup unreadable; shared pages counted per ' +
      'process).',
    'gauge',
    ['method'],
    function* (r) {
      if (r.memoryMethod !== undefined) yield [{ method: r.memoryMethod }, 1];
    },
  ),
  workloadMetric(
    'microstat_microvm_vcpus',
    'vCPUs the microVM was configured with (boot vCPUs).',
    'gauge',
    (r) => r.workload.microvm?.vcpus,
  ),
  workloadMetric(
    'microstat_microvm_configured_memory_bytes',
    'Guest memory the microVM was configured with.',
    'gauge',
    (r) => r.workload.microvm?.memoryBytes,
  ),
  workloadMetric(
    'microstat_microvm_guest_up',
    '1 when the guest answered through the shim monitoring socket at the ' +
      'last read, 0 when it did not; absent where reading it is not safe.',
    'gauge',
    (r) => (r.guest === undefined ? undefined : r.guest.up ? 1 : 0),
  ),
  guestMetric(
    'microstat_microvm_guest_memory_total_bytes',
    "Guest memory as the guest's own /proc/meminfo reports it (MemTotal).",
    'gauge',
    (r) => r.guest?.memoryTotalBytes,
  ),
  guestMetric(
    'microstat_microvm_guest_memory_available_bytes',
    'Guest memory available to new work, as the guest reports it (MemAvailable).',
    'gauge',
    (r) => r.guest?.memoryAvailableBytes,
  ),
  guestMetric(
    'microstat_microvm_guest_memory_used_bytes',
    'Guest memory in use as the guest sees it: MemTotal minus MemAvailable.',
    'gauge',
    (r) => {
      const { memoryTotalBytes: total, memoryAvailableBytes: available } =
        r.guest ?? {};
      return total === undefined || available === undefined
        ? undefined
        : total - available;
    },
  ),
  guestMetric(
    'microstat_microvm_guest_cpu_seconds_total',
    'Busy CPU time inside the guest, all guest CPUs (idle and iowait left out).',
    'counter',
    (r) => r.guest?.cpuSeconds,
  ),
];
