import type { LiveWorkloadJson, TickEvent } from './api.js';
import { TimeChart, type Line } from './charts.js';
import type { Series, SeriesStore } from './series.js';
import type { SeriesName } from './api.js';

/**
 * The overview's live charts: CPU % of the busiest workloads and memory
 * of the largest. Which workloads are "top" is decided every few ticks,
 * not every tick, so lines do not come and go with every blip.
 */

const TOP = 5;
const RECHOOSE_TICKS = 5;

export class TopCharts {
  private readonly cpu: TimeChart;
  private readonly memory: TimeChart;
  private topCpu: string[] = [];
  private topMemory: string[] = [];
  private ticksSinceChoice = RECHOOSE_TICKS;
  private names = new Map<string, string>();
  private lastEvent: TickEvent | undefined;

  constructor(
    cpuCanvas: HTMLCanvasElement,
    memoryCanvas: HTMLCanvasElement,
    private readonly store: SeriesStore,
    /** Workloads the rest of the page needs tracked as well. */
    private readonly alsoTracked: () => readonly string[],
  ) {
    this.cpu = new TimeChart('cpu', cpuCanvas, 'CPU', 'percent');
    this.memory = new TimeChart('memory', memoryCanvas, 'Memory', 'bytes');
  }

  update(event: TickEvent): void {
    this.lastEvent = event;
    this.names = new Map(event.workloads.map((w) => [w.id, w.name]));
    const present = new Set(this.names.keys());
    const lost = [...this.topCpu, ...this.topMemory].some(
      (id) => !present.has(id),
    );
    this.ticksSinceChoice += 1;
    if (lost || this.ticksSinceChoice >= RECHOOSE_TICKS) {
      this.ticksSinceChoice = 0;
      this.topCpu = top(event.workloads, (w) => w.rates.cpuPercent);
      this.topMemory = top(event.workloads, (w) => w.rates.memoryBytes);
      this.retrack();
    }
    this.draw();
  }

  /** Tracks the charted workloads and whatever else the page shows. */
  retrack(): void {
    const ids = [...this.topCpu, ...this.topMemory, ...this.alsoTracked()];
    this.store.track([...new Set(ids)]);
  }

  /** Redraws from the store, after a history load or a window change. */
  draw(): void {
    const now = this.lastEvent?.takenAtMs ?? Date.now();
    const window = this.store.window;
    this.cpu.update(this.lines(this.topCpu, 'cpuPercent'), window, now);
    this.memory.update(this.lines(this.topMemory, 'memoryBytes'), window, now);
  }

  private lines(ids: readonly string[], name: SeriesName): Line[] {
    return ids.flatMap((id) => {
      const series = this.store.get(id);
      if (series === undefined) return [];
      return [
        {
          key: id,
          label: this.names.get(id) ?? id,
          points: points(series, name),
        },
      ];
    });
  }
}

export function points(series: Series, name: SeriesName): Line['points'] {
  const values = series.values[name];
  return series.times.map((x, i) => ({ x, y: values[i] ?? null }));
}

function top(
  workloads: readonly LiveWorkloadJson[],
  value: (w: LiveWorkloadJson) => number | undefined,
): string[] {
  return workloads
    .filter((w) => value(w) !== undefined)
    .sort((a, b) => (value(b) ?? 0) - (value(a) ?? 0))
    .slice(0, TOP)
    .map((w) => w.id);
}
