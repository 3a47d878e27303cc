import type { Snapshot } from '../../model.js';
import type { MetricSpec, Sample } from '../metric-table.js';

/**
 * The `--max-workloads` cardinality bound: how many workloads were found
 * and how many were left out of the export. Only registered by an agent
 * that bounds its readings; a snapshot without a bound emits nothing.
 */
export const boundMetrics: readonly MetricSpec[] = [
  {
    name: 'microstat_workloads_seen',
    help: 'Workloads discovered in the last reading, exported or not.',
    type: 'gauge',
    labelNames: [],
    *samples(snapshot: Snapshot): Iterable<Sample> {
      if (snapshot.bound !== undefined)
        yield [{}, snapshot.bound.seenWorkloads];
    },
  },
  {
    name: 'microstat_workloads_dropped_total',
    help: 'Workloads left out of readings by --max-workloads, summed over readings.',
    type: 'counter',
    labelNames: [],
    *samples(snapshot: Snapshot): Iterable<Sample> {
      if (snapshot.bound !== undefined) yield [{}, snapshot.bound.droppedTotal];
    },
  },
];
