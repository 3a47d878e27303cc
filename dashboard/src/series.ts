import {
  fetchHistory,
  type HistoryWindowSeconds,
  type SeriesName,
  type TickEvent,
} from './api.js';

/**
 * The figures the dashboard plots, per series: what it is and its unit.
 * Keyed by the agent's series names, so a series added there must be
 * described here before this builds.
 */
export const SERIES_INFO: Readonly<
  Record<SeriesName, { readonly label: string; readonly unit: Unit }>
> = {
  cpuPercent: { label: 'CPU', unit: 'percent' },
  memoryBytes: { label: 'Memory', unit: 'bytes' },
  memoryPercent: { label: 'Memory', unit: 'percent' },
  networkReceiveBytesPerSecond: { label: 'Received', unit: 'bytesPerSecond' },
  networkTransmitBytesPerSecond: { label: 'Sent', unit: 'bytesPerSecond' },
  blockReadBytesPerSecond: { label: 'Read', unit: 'bytesPerSecond' },
  blockWriteBytesPerSecond: { label: 'Written', unit: 'bytesPerSecond' },
};

export type Unit = 'percent' | 'bytes' | 'bytesPerSecond';

const NAMES = Object.keys(SERIES_INFO) as SeriesName[];

/** One workload's points, oldest first; null where there was no value. */
export interface Series {
  readonly times: number[];
  readonly values: Record<SeriesName, (number | null)[]>;
}

function emptySeries(): Series {
  const values = {} as Record<SeriesName, (number | null)[]>;
  for (const name of NAMES) values[name] = [];
  return { times: [], values };
}

/**
 * The history of the workloads on screen: loaded from the agent when a
 * workload is first shown or the window changes, then extended by every
 * tick, and trimmed to the window.
 */
export class SeriesStore {
  private windowSeconds: HistoryWindowSeconds = 300;
  private readonly tracked = new Map<string, Series>();

  constructor(private readonly onLoaded: () => void) {}

  get window(): HistoryWindowSeconds {
    return this.windowSeconds;
  }

  get(id: string): Series | undefined {
    return this.tracked.get(id);
  }

  setWindow(windowSeconds: HistoryWindowSeconds): void {
    this.windowSeconds = windowSeconds;
    for (const id of this.tracked.keys()) this.load(id);
  }

  /** Keeps exactly these workloads, loading the history of new ones. */
  track(ids: readonly string[]): void {
    const wanted = new Set(ids);
    for (const id of this.tracked.keys()) {
      if (!wanted.has(id)) this.tracked.delete(id);
    }
    for (const id of wanted) {
      if (this.tracked.has(id)) continue;
      this.tracked.set(id, emptySeries());
      this.load(id);
    }
  }

  append(event: TickEvent): void {
    for (const workload of event.workloads) {
      const series = this.tracked.get(workload.id);
      if (series === undefined) continue;
      const last = series.times.at(-1);
      if (last !== undefined && last >= event.takenAtMs) continue;
      series.times.push(event.takenAtMs);
      for (const name of NAMES) {
        series.values[name].push(workload.rates[name] ?? null);
      }
    }
    this.trim(event.takenAtMs);
  }

  private trim(nowMs: number): void {
    const oldest = nowMs - this.windowSeconds * 1000;
    for (const series of this.tracked.values()) {
      let drop = 0;
      while (drop < series.times.length && (series.times[drop] ?? 0) < oldest) {
        drop += 1;
      }
      if (drop === 0) continue;
      series.times.splice(0, drop);
      for (const name of NAMES) series.values[name].splice(0, drop);
    }
  }

  /**
   * Replaces a workload's points by the agent's history, keeping the ticks
   * that arrived while it loaded.
   */
  private load(id: string): void {
    const windowSeconds = this.windowSeconds;
    void fetchHistory(id, windowSeconds).then((history) => {
      const current = this.tracked.get(id);
      if (history === undefined || current === undefined) return;
      if (windowSeconds !== this.windowSeconds) return;
      const merged: Series = {
        times: [...history.timesMs],
        values: { ...history.series },
      };
      const lastLoaded = merged.times.at(-1) ?? Number.NEGATIVE_INFINITY;
      current.times.forEach((t, i) => {
        if (t <= lastLoaded) return;
        merged.times.push(t);
        for (const name of NAMES) {
          merged.values[name].push(current.values[name][i] ?? null);
        }
      });
      this.tracked.set(id, merged);
      this.onLoaded();
    });
  }
}
