import {
  Registry,
  collectDefaultMetrics,
  type OpenMetricsContentType,
  type RegistryContentType,
} from 'prom-client';

import type { Snapshot } from '../model.js';
import { registerTables, type MetricSpec } from './metric-table.js';
import { blockMetrics } from './metrics/workload-block.js';
import { boundMetrics } from './metrics/bound.js';
import { collectorMetrics } from './metrics/collector.js';
import { cpuMetrics } from './metrics/workload-cpu.js';
import { hostMetrics } from './metrics/host.js';
import { infoMetrics } from './metrics/workload-info.js';
import { memoryMetrics } from './metrics/workload-memory.js';
import { microvmMetrics } from './metrics/microvm.js';
import { networkMetrics } from './metrics/workload-network.js';
import { pidsMetrics } from './metrics/workload-pids.js';

/** The metric groups, in exposition order: the one list that wires them. */
export function metricTables(
  labelAllowlist: readonly string[],
  workloadBound = false,
): (readonly MetricSpec[])[] {
  return [
    infoMetrics(labelAllowlist),
    cpuMetrics,
    memoryMetrics,
    networkMetrics,
    blockMetrics,
    pidsMetrics,
    microvmMetrics,
    hostMetrics,
    collectorMetrics,
    ...(workloadBound ? [boundMetrics] : []),
  ];
}

/**
 * The event-loop lag monitor's timer period. prom-client's 10 ms default
 * wakes the agent 100 times a second per registry, about 0.4 % of a core
 * for that alone (README, Performance); at 100 ms a stall of the loop still
 * shows in the lag histogram, at a tenth of the cost.
 */
const EVENT_LOOP_MONITORING_MS = 100;

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export type Format = 'prometheus' | 'openmetrics';

export interface ExporterOptions {
  readonly labelAllowlist: readonly string[];
  /** Also export the agent's own process and Node.js runtime metrics. */
  readonly selfMetrics: boolean;
  /** Also export the `--max-workloads` bound's seen and dropped counts. */
  readonly workloadBound?: boolean;
}

/**
 * Renders snapshots as Prometheus text (0.0.4) or OpenMetrics. Renders are
 * serialised so that every family of one scrape reads the same snapshot.
 */
export class Exporter {
  private readonly registries: Record<Format, Registry<RegistryContentType>>;
  private current: Snapshot | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: ExporterOptions) {
    const prometheus = new Registry();
    const openmetrics = new Registry<OpenMetricsContentType>();
    openmetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    this.registries = { prometheus, openmetrics };
    registerTables(
      metricTables(options.labelAllowlist, options.workloadBound),
      [prometheus, openmetrics],
      () => this.current,
    );
    if (options.selfMetrics) {
      for (const registry of [prometheus, openmetrics] as Registry[]) {
        collectDefaultMetrics({
          register: registry,
          eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_MS,
        });
        // Gauges misnamed with `_total` that promtool's linter rejects; the
        // same figures are exported without the suffix.
        for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
      }
    }
  }

  contentType(format: Format): string {
    return this.registries[format].contentType;
  }

  render(snapshot: Snapshot, format: Format): Promise<string> {
    const next = this.queue.then(async () => {
      this.current = snapshot;
      try {
        return await this.registries[format].metrics();
      } finally {
        this.current = undefined;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/**
 * Picks the exposition format from an Accept header: OpenMetrics when the
 * scraper asks for it (Prometheus does by default), text otherwise.
 */
export function negotiateFormat(accept: string | undefined): Format {
  return accept !== undefined && accept.includes('application/openmetrics-text')
    ? 'openmetrics'
    : 'prometheus';
}
