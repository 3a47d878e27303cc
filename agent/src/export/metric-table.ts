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
 * Registers every spec with every registry. Each scrape reads its samples
 * straight from the current snapshot, so series of workloads that are gone
 * disappear, and no sample carries a timestamp.
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
    for (const spec of tables.flat()) {
      const options = {
        name: spec.name,
        help: spec.help,
        labelNames: spec.labelNames,
        registers: [registry as Registry],
      };
      if (spec.type === 'gauge') new SnapshotGauge(options, spec, current);
      else new SnapshotCounter(options, spec, current);
    }
  }
}

/**
 * The samples of one spec in the shape prom-client's registry renders.
 * prom-client formats and escapes them; the values are handed over as
 * they are instead of through set() and inc(), which would hash and
 * validate every label set into a map only to read it back at once
 * (about half of a scrape's time at 2,000 workloads: README, Performance).
 */
function valuesOf(
  spec: MetricSpec,
  current: () => Snapshot | undefined,
): { labels: Labels; value: number }[] {
  const snapshot = current();
  if (snapshot === undefined) return [];
  const values: { labels: Labels; value: number }[] = [];
  for (const [labels, value] of spec.samples(snapshot))
    values.push({ labels, value });
  return values;
}

/** What both metric kinds take: no collect hook, values come from get(). */
interface MetricOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registers: Registry[];
}

class SnapshotGauge extends Gauge {
  constructor(
    options: MetricOptions,
    private readonly spec: MetricSpec,
    private readonly current: () => Snapshot | undefined,
  ) {
    super(options);
  }

  override async get(): ReturnType<Gauge['get']> {
    // Name, help, type and aggregator; never set, so no values of its own.
    const metric = await super.get();
    return { ...metric, values: valuesOf(this.spec, this.current) };
  }
}

class SnapshotCounter extends Counter {
  constructor(
    options: MetricOptions,
    private readonly spec: MetricSpec,
    private readonly current: () => Snapshot | undefined,
  ) {
    super(options);
  }

  override async get(): ReturnType<Counter['get']> {
    const metric = await super.get();
    return { ...metric, values: valuesOf(this.spec, this.current) };
  }
}
