import {
  Counter,
  Gauge,
  type Registry,
  type RegistryContentType,
} from 'prom-client';

import type {
  CollectorStatus,
  HostUsage,
  Snapshot,
  WorkloadReading,
} from '../model.js';

export type Labels = Record<string, string>;
export type Sample = readonly [Labels, number];

/**
 * One metric family declared as data: name, help, type, labels, and how to
 * get its samples out of a snapshot. Each group file exports a table of
 * these; `registerTables` turns them into prom-client metrics.
 */
export interface MetricSpec {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  readonly labelNames: readonly string[];
  samples(snapshot: Snapshot): Iterable<Sample>;
}

/** The labels every per-workload series carries. */
export const WORKLOAD_LABELS = ['id', 'name', 'kind'] as const;

export function workloadLabels(r: WorkloadReading): Labels {
  return { id: r.workload.id, name: r.workload.name, kind: r.workload.kind };
}

/**
 * A per-workload family: one sample per workload whose value is known.
 * An absent value emits no sample rather than a false 0.
 */
export function workloadMetric(
  name: string,
  help: string,
  type: MetricSpec['type'],
  value: (r: WorkloadReading, host: HostUsage) => number | undefined,
): MetricSpec {
  return {
    name,
    help,
    type,
    labelNames: WORKLOAD_LABELS,
    *samples(snapshot) {
      for (const r of snapshot.workloads) {
        const v = value(r, snapshot.host);
        if (v !== undefined) yield [workloadLabels(r), v];
      }
    },
  };
}

/**
 * A per-workload family with labels of its own beyond id, name and kind:
 * `samples` yields the extra labels and the value, any number per workload.
 */
export function workloadSeries(
  name: string,
  help: string,
  type: MetricSpec['type'],
  extraLabels: readonly string[],
  samples: (r: WorkloadReading) => Iterable<readonly [Labels, number]>,
): MetricSpec {
  return {
    name,
    help,
    type,
    labelNames: [...WORKLOAD_LABELS, ...extraLabels],
    *samples(snapshot) {
      for (const r of snapshot.workloads) {
        for (const [labels, value] of samples(r)) {
          yield [{ ...workloadLabels(r), ...labels }, value];
        }
      }
    },
  };
}

/** A gauge with one unlabelled sample per snapshot. */
export function snapshotMetric(
  name: string,
  help: string,
  value: (snapshot: Snapshot) => number,
): MetricSpec {
  return {
    name,
    help,
    type: 'gauge',
    labelNames: [],
    *samples(snapshot) {
      yield [{}, value(snapshot)];
    },
  };
}

/** A gauge with one sample per collector of the snapshot. */
export function collectorMetric(
  name: string,
  help: string,
  value: (status: CollectorStatus) => number,
): MetricSpec {
  return {
    name,
    help,
    type: 'gauge',
    labelNames: ['collector'],
    *samples(snapshot) {
      for (const c of snapshot.collectors)
        yield [{ collector: c.collector }, value(c)];
    },
  };
}

/**
 * Registers every spec with every registry. At each scrape a family is
 * emptied and refilled from the current snapshot, so series of workloads
 * that are gone disappear, and no sample carries a timestamp.
 */
export function registerTables(
  tables: readonly (readonly MetricSpec[])[],
  registries: Registry<RegistryContentType>[],
  current: () => Snapshot | undefined,
): void {
  // One metric object per registry: prom-client renames counters in place
  // while rendering OpenMetrics (dropping `_total`), which would leak into
  // the text format if the two registries shared an object.
  for (const registry of registries) {
    for (const spec of tables.flat())
      register(spec, registry as Registry, current);
  }
}

function register(
  spec: MetricSpec,
  registry: Registry,
  current: () => Snapshot | undefined,
): void {
  const base = {
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
  };
  if (spec.type === 'gauge') {
    new Gauge({
      ...base,
      collect(this: Gauge) {
        this.reset();
        const snapshot = current();
        if (snapshot === undefined) return;
        for (const [labels, value] of spec.samples(snapshot))
          this.set(labels, value);
      },
    });
    return;
  }
  new Counter({
    ...base,
    collect(this: Counter) {
      // prom-client counters only go up; refill from the cumulative
      // kernel counter by resetting and adding the whole value.
      this.reset();
      const snapshot = current();
      if (snapshot === undefined) return;
      for (const [labels, value] of spec.samples(snapshot))
        this.inc(labels, value);
    },
  });
}
