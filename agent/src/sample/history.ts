import type { Snapshot, WorkloadReading } from '../model.js';
import { cpuPercent, memoryPercent, perSecond, type Reading } from './rates.js';

/**
 * The recent past of every workload, for the dashboard: one point per tick,
 * the last `capacity` ticks (an hour at one tick a second), kept as the
 * figures the dashboard plots. Rates are computed once, here, through
 * rates.ts, from each workload's previous reading and its current one.
 *
 * Memory is bounded: each workload owns one Float32Array of SERIES.length x
 * capacity values (100,800 bytes for an hour), all workloads share one
 * Float64Array of tick times, a workload gone for `capacity` ticks is
 * dropped, and at most `maxWorkloads` are kept at once.
 */

/** The figures kept per point, in storage order. */
export const SERIES = [
  'cpuPercent',
  'memoryBytes',
  'memoryPercent',
  'networkReceiveBytesPerSecond',
  'networkTransmitBytesPerSecond',
  'blockReadBytesPerSecond',
  'blockWriteBytesPerSecond',
] as const;

export type SeriesName = (typeof SERIES)[number];

/** One tick's figures of one workload; absent where they could not be had. */
export type Rates = Partial<Record<SeriesName, number>>;

/** A stretch of one workload's history, oldest point first. */
export interface HistoryWindow {
  /** Wall clock of each point, milliseconds since the epoch. */
  readonly timesMs: number[];
  /** Per series, one value per time; null where there was none. */
  readonly series: Record<SeriesName, (number | null)[]>;
}

export interface HistoryOptions {
  /** Points kept per workload; a workload gone this many ticks is dropped. */
  readonly capacity?: number;
  /** Workloads kept at once; the longest gone make room for new ones. */
  readonly maxWorkloads?: number;
}

export const DEFAULT_CAPACITY = 3600;
export const DEFAULT_MAX_WORKLOADS = 1000;

/** What one workload keeps. */
interface Ring {
  /** Series-major: series i, point j at i * capacity + j. */
  readonly values: Float32Array;
  /** The tick of its first point, to leave out the time before it. */
  readonly firstTick: number;
  lastSeenTick: number;
  previous: Reading;
}

export class History {
  readonly capacity: number;
  readonly maxWorkloads: number;
  private readonly timesMs: Float64Array;
  private readonly rings = new Map<string, Ring>();
  /** Ticks recorded so far; the next one goes to slot tick % capacity. */
  private tick = 0;
  private lastMonotonicSeconds = Number.NaN;
  private lastRates = new Map<string, Rates>();
  /** Workloads turned away because maxWorkloads were present. */
  private turnedAway = 0;

  constructor(options: HistoryOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.maxWorkloads = options.maxWorkloads ?? DEFAULT_MAX_WORKLOADS;
    this.timesMs = new Float64Array(this.capacity);
  }

  /** Workloads currently kept, present or recently gone. */
  get size(): number {
    return this.rings.size;
  }

  /** Bytes held in typed arrays: the bulk of what the history costs. */
  get bytes(): number {
    let total = this.timesMs.byteLength;
    for (const ring of this.rings.values()) total += ring.values.byteLength;
    return total;
  }

  /** Workloads not kept since start because the history was full. */
  get rejected(): number {
    return this.turnedAway;
  }

  has(id: string): boolean {
    return this.rings.has(id);
  }

  /**
   * Adds one snapshot as the next point of every workload and returns the
   * figures stored for each workload in it, by id. The same snapshot twice
   * (a sampler reading shared by two ticks) is recorded once.
   */
  record(snapshot: Snapshot): ReadonlyMap<string, Rates> {
    if (snapshot.monotonicSeconds === this.lastMonotonicSeconds) {
      return this.lastRates;
    }
    this.lastMonotonicSeconds = snapshot.monotonicSeconds;
    const slot = this.tick % this.capacity;
    this.timesMs[slot] = snapshot.takenAtMs;

    const rates = new Map<string, Rates>();
    for (const reading of snapshot.workloads) {
      const ring = this.ringFor(reading.workload.id, snapshot, reading);
      if (ring === undefined) continue;
      const current = readingOf(snapshot, reading);
      const figures = figuresBetween(ring.previous, current);
      this.write(ring, slot, figures);
      ring.previous = current;
      ring.lastSeenTick = this.tick;
      rates.set(reading.workload.id, this.read(ring, slot));
    }
    this.forgetAbsent(slot);

    this.tick += 1;
    this.lastRates = rates;
    return rates;
  }

  /**
   * The last `seconds` ticks of one workload (at most capacity, never from
   * before it was first seen), or undefined for a workload not kept.
   */
  window(id: string, seconds: number): HistoryWindow | undefined {
    const ring = this.rings.get(id);
    if (ring === undefined) return undefined;
    const from = Math.max(
      ring.firstTick,
      this.tick - Math.min(seconds, this.capacity),
      0,
    );
    const timesMs: number[] = [];
    const series = Object.fromEntries(
      SERIES.map((name) => [name, [] as (number | null)[]]),
    ) as Record<SeriesName, (number | null)[]>;
    for (let tick = from; tick < this.tick; tick++) {
      const slot = tick % this.capacity;
      timesMs.push(this.timesMs[slot] ?? 0);
      SERIES.forEach((name, i) => {
        const value = ring.values[i * this.capacity + slot] ?? Number.NaN;
        series[name].push(Number.isNaN(value) ? null : value);
      });
    }
    return { timesMs, series };
  }

  /** The workload's ring, made on first sight while there is room. */
  private ringFor(
    id: string,
    snapshot: Snapshot,
    reading: WorkloadReading,
  ): Ring | undefined {
    const existing = this.rings.get(id);
    if (existing !== undefined) return existing;
    if (this.rings.size >= this.maxWorkloads && !this.evictLongestGone()) {
      this.turnedAway += 1;
      return undefined;
    }
    const ring: Ring = {
      values: new Float32Array(SERIES.length * this.capacity).fill(Number.NaN),
      firstTick: this.tick,
      lastSeenTick: this.tick,
      // No previous reading: the first point has no rates, only levels.
      previous: readingOf(snapshot, reading),
    };
    this.rings.set(id, ring);
    return ring;
  }

  /** Drops the workload gone longest; false when none is gone. */
  private evictLongestGone(): boolean {
    let oldest: [string, Ring] | undefined;
    for (const entry of this.rings) {
      const ring = entry[1];
      if (ring.lastSeenTick === this.tick) continue;
      if (oldest === undefined || ring.lastSeenTick < oldest[1].lastSeenTick) {
        oldest = entry;
      }
    }
    if (oldest === undefined) return false;
    this.rings.delete(oldest[0]);
    return true;
  }

  /**
   * Blanks this slot for workloads absent from the snapshot (it still holds
   * a point from an hour ago) and drops those gone for a whole window.
   */
  private forgetAbsent(slot: number): void {
    for (const [id, ring] of this.rings) {
      if (ring.lastSeenTick === this.tick) continue;
      if (this.tick - ring.lastSeenTick >= this.capacity) {
        this.rings.delete(id);
        continue;
      }
      this.write(ring, slot, {});
    }
  }

  private write(ring: Ring, slot: number, figures: Rates): void {
    SERIES.forEach((name, i) => {
      ring.values[i * this.capacity + slot] = figures[name] ?? Number.NaN;
    });
  }

  /** The figures as stored (single precision), absent ones left out. */
  private read(ring: Ring, slot: number): Rates {
    const out: Rates = {};
    SERIES.forEach((name, i) => {
      const value = ring.values[i * this.capacity + slot] ?? Number.NaN;
      if (!Number.isNaN(value)) out[name] = value;
    });
    return out;
  }
}

function readingOf(snapshot: Snapshot, reading: WorkloadReading): Reading {
  return {
    monotonicSeconds: snapshot.monotonicSeconds,
    host: snapshot.host,
    usage: reading.usage,
  };
}

/**
 * One point's figures: levels from the current reading, rates from the
 * previous one (a workload's first point, or a point after a gap, compares
 * with its last reading, whenever that was).
 */
export function figuresBetween(previous: Reading, current: Reading): Rates {
  const seconds = current.monotonicSeconds - previous.monotonicSeconds;
  const before = previous.usage;
  const after = current.usage;
  return {
    cpuPercent: cpuPercent(previous, current),
    memoryBytes: after.memoryUsageBytes,
    memoryPercent: memoryPercent(after, current.host),
    networkReceiveBytesPerSecond: perSecond(
      before.networkReceiveBytes,
      after.networkReceiveBytes,
      seconds,
    ),
    networkTransmitBytesPerSecond: perSecond(
      before.networkTransmitBytes,
      after.networkTransmitBytes,
      seconds,
    ),
    blockReadBytesPerSecond: perSecond(
      before.blockReadBytes,
      after.blockReadBytes,
      seconds,
    ),
    blockWriteBytesPerSecond: perSecond(
      before.blockWriteBytes,
      after.blockWriteBytes,
      seconds,
    ),
  };
}
