import type { Snapshot, WorkloadReading } from '../model.js';
import { cpuPercent, memoryPercent, perSecond, type Reading } from './rates.js';

/**
 * The recent past of every workload, for the dashboard, in two tiers: one
 * point per tick for the last `capacity` ticks (15 minutes at one tick a
 * second), and the mean of every `coarseEvery` ticks for the last
 * `coarseCapacity` of those (10 s points for an hour). Windows up to the
 * fine tier's span are served from it, longer ones from the coarse tier,
 * as round-robin databases do. Rates are computed once, here, through
 * rates.ts, from each workload's previous reading and its current one.
 *
 * Memory is bounded: each workload owns two Float32Arrays of SERIES.length
 * x capacity and SERIES.length x coarseCapacity values (35,280 bytes with
 * the defaults, against 100,800 for an hour at one point a second), all
 * workloads share the tick times, a workload gone for the coarse tier's
 * whole span is dropped, and at most `maxWorkloads` are kept at once.
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
  /** Points of the fine tier (one per tick) kept per workload. */
  readonly capacity?: number;
  /** Ticks averaged into one point of the coarse tier. */
  readonly coarseEvery?: number;
  /**
   * Points of the coarse tier kept per workload; a workload gone for
   * coarseEvery x coarseCapacity ticks is dropped.
   */
  readonly coarseCapacity?: number;
  /** Workloads kept at once; the longest gone make room for new ones. */
  readonly maxWorkloads?: number;
}

export const DEFAULT_CAPACITY = 900;
export const DEFAULT_COARSE_EVERY = 10;
export const DEFAULT_COARSE_CAPACITY = 360;
export const DEFAULT_MAX_WORKLOADS = 1000;

/** What one workload keeps. */
interface Ring {
  /** Series-major: series i, point j at i * capacity + j. */
  readonly values: Float32Array;
  /** The coarse tier, series-major likewise. */
  readonly coarse: Float32Array;
  /** Sums and counts of the figures of the coarse point being built. */
  readonly sums: Float64Array;
  readonly counts: Uint16Array;
  /** The tick of its first point, to leave out the time before it. */
  readonly firstTick: number;
  lastSeenTick: number;
  previous: Reading;
}

export class History {
  readonly capacity: number;
  readonly coarseEvery: number;
  readonly coarseCapacity: number;
  readonly maxWorkloads: number;
  private readonly timesMs: Float64Array;
  /** The time of the last tick of each coarse point. */
  private readonly coarseTimesMs: Float64Array;
  private readonly rings = new Map<string, Ring>();
  /** Ticks recorded so far; the next one goes to slot tick % capacity. */
  private tick = 0;
  private lastMonotonicSeconds = Number.NaN;
  private lastRates = new Map<string, Rates>();
  /** Workloads turned away because maxWorkloads were present. */
  private turnedAway = 0;
  /** The last tick whose search for a gone workload found none. */
  private noneGoneAtTick = -1;

  constructor(options: HistoryOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.coarseEvery = options.coarseEvery ?? DEFAULT_COARSE_EVERY;
    this.coarseCapacity = options.coarseCapacity ?? DEFAULT_COARSE_CAPACITY;
    this.maxWorkloads = options.maxWorkloads ?? DEFAULT_MAX_WORKLOADS;
    this.timesMs = new Float64Array(this.capacity);
    this.coarseTimesMs = new Float64Array(this.coarseCapacity);
  }

  /** Workloads currently kept, present or recently gone. */
  get size(): number {
    return this.rings.size;
  }

  /** Bytes held in typed arrays: the bulk of what the history costs. */
  get bytes(): number {
    let total = this.timesMs.byteLength + this.coarseTimesMs.byteLength;
    for (const ring of this.rings.values()) {
      total +=
        ring.values.byteLength +
        ring.coarse.byteLength +
        ring.sums.byteLength +
        ring.counts.byteLength;
    }
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

    // Everything present is marked seen before any newcomer is given room,
    // so that room is only ever made by dropping a workload that is gone.
    for (const reading of snapshot.workloads) {
      const ring = this.rings.get(reading.workload.id);
      if (ring !== undefined) ring.lastSeenTick = this.tick;
    }
    const rates = new Map<string, Rates>();
    for (const reading of snapshot.workloads) {
      const ring = this.ringFor(reading.workload.id, snapshot, reading);
      if (ring === undefined) continue;
      const current = readingOf(snapshot, reading);
      const figures = figuresBetween(ring.previous, current);
      this.write(ring, slot, figures);
      ring.previous = current;
      ring.lastSeenTick = this.tick;
      const stored = this.read(ring, slot);
      accumulate(ring, stored);
      rates.set(reading.workload.id, stored);
    }
    this.forgetAbsent(slot);
    if ((this.tick + 1) % this.coarseEvery === 0) {
      this.closeCoarsePoint(snapshot.takenAtMs);
    }

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
    if (seconds > this.capacity) return this.coarseWindow(ring, seconds);
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

  /**
   * The coarse points covering the last `seconds` ticks: every finished
   * one since the workload was first seen, at most coarseCapacity.
   */
  private coarseWindow(ring: Ring, seconds: number): HistoryWindow {
    const finished = Math.floor(this.tick / this.coarseEvery);
    const wanted = Math.ceil(seconds / this.coarseEvery);
    const from = Math.max(
      Math.floor(ring.firstTick / this.coarseEvery),
      finished - Math.min(wanted, this.coarseCapacity),
      0,
    );
    const timesMs: number[] = [];
    const series = Object.fromEntries(
      SERIES.map((name) => [name, [] as (number | null)[]]),
    ) as Record<SeriesName, (number | null)[]>;
    for (let point = from; point < finished; point++) {
      const slot = point % this.coarseCapacity;
      timesMs.push(this.coarseTimesMs[slot] ?? 0);
      SERIES.forEach((name, i) => {
        const value = ring.coarse[i * this.coarseCapacity + slot] ?? Number.NaN;
        series[name].push(Number.isNaN(value) ? null : value);
      });
    }
    return { timesMs, series };
  }

  /**
   * Ends the coarse point of every workload: the mean of each figure over
   * the ticks that had it, or nothing where none had.
   */
  private closeCoarsePoint(takenAtMs: number): void {
    const slot = Math.floor(this.tick / this.coarseEvery) % this.coarseCapacity;
    this.coarseTimesMs[slot] = takenAtMs;
    for (const ring of this.rings.values()) {
      for (let i = 0; i < SERIES.length; i++) {
        const count = ring.counts[i] ?? 0;
        ring.coarse[i * this.coarseCapacity + slot] =
          count === 0 ? Number.NaN : (ring.sums[i] ?? 0) / count;
      }
      ring.sums.fill(0);
      ring.counts.fill(0);
    }
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
      coarse: new Float32Array(SERIES.length * this.coarseCapacity).fill(
        Number.NaN,
      ),
      sums: new Float64Array(SERIES.length),
      counts: new Uint16Array(SERIES.length),
      firstTick: this.tick,
      lastSeenTick: this.tick,
      // No previous reading: the first point has no rates, only levels.
      previous: readingOf(snapshot, reading),
    };
    this.rings.set(id, ring);
    return ring;
  }

  /**
   * Drops the workload gone longest; false when none is gone. Once a tick
   * finds none, it does not look again: with the history full of present
   * workloads, each further newcomer is turned away at once instead of
   * after a walk over every ring.
   */
  private evictLongestGone(): boolean {
    if (this.noneGoneAtTick === this.tick) return false;
    let oldest: [string, Ring] | undefined;
    for (const entry of this.rings) {
      const ring = entry[1];
      if (ring.lastSeenTick === this.tick) continue;
      if (oldest === undefined || ring.lastSeenTick < oldest[1].lastSeenTick) {
        oldest = entry;
      }
    }
    if (oldest === undefined) {
      this.noneGoneAtTick = this.tick;
      return false;
    }
    this.rings.delete(oldest[0]);
    return true;
  }

  /**
   * Blanks this slot for workloads absent from the snapshot (it still holds
   * a point from a round ago) and drops those gone for the whole span the
   * history covers.
   */
  private forgetAbsent(slot: number): void {
    const span = this.coarseEvery * this.coarseCapacity;
    for (const [id, ring] of this.rings) {
      if (ring.lastSeenTick === this.tick) continue;
      if (this.tick - ring.lastSeenTick >= Math.max(span, this.capacity)) {
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

/** Adds one tick's stored figures to the coarse point being built. */
function accumulate(ring: Ring, figures: Rates): void {
  SERIES.forEach((name, i) => {
    const value = figures[name];
    if (value === undefined) return;
    ring.sums[i] = (ring.sums[i] ?? 0) + value;
    ring.counts[i] = (ring.counts[i] ?? 0) + 1;
  });
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
