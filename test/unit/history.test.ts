import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type {
  HostUsage,
  Snapshot,
  Workload,
  WorkloadReading,
  WorkloadUsage,
} from '../../agent/src/model.js';
import {
  DEFAULT_CAPACITY,
  DEFAULT_COARSE_CAPACITY,
  DEFAULT_COARSE_EVERY,
  History,
  SERIES,
} from '../../agent/src/sample/history.js';
import {
  cpuPercent,
  memoryPercent,
  perSecond,
  type Reading,
} from '../../agent/src/sample/rates.js';

const MiB = 1024 * 1024;

function workload(id: string): Workload {
  return {
    id,
    name: id,
    kind: 'container',
    runtime: 'runc',
    engine: 'docker',
    image: 'local/busybox',
    hypervisor: '',
    state: 'running',
    labels: {},
    composeProject: '',
    composeService: '',
    initPid: 1,
    ownNetwork: true,
    cgroup: undefined,
  };
}

/** A two-CPU host read at `second` on the monotonic clock. */
function host(second: number): HostUsage {
  return {
    cpus: 2,
    memoryTotalBytes: 4096 * MiB,
    stealCpuSeconds: 0,
    monotonicSeconds: second,
  };
}

/** A workload whose counters grow with time, at a pace set by its index. */
function usage(index: number, second: number): WorkloadUsage {
  return {
    cpuSeconds: 0.01 * (index + 1) * second,
    memoryUsageBytes: (10 + index) * MiB + second * 4096,
    memoryLimit: 512 * MiB,
    networkReceiveBytes: 1000 * second,
    networkTransmitBytes: 333 * second,
    blockReadBytes: 7 * index * second,
    blockWriteBytes: 4096 * second,
    pids: 3,
  };
}

function snapshot(
  second: number,
  ids: readonly string[],
  usageOf: (index: number) => WorkloadUsage = (i) => usage(i, second),
): Snapshot {
  const workloads: WorkloadReading[] = ids.map((id, i) => ({
    workload: workload(id),
    usage: usageOf(i),
  }));
  return {
    takenAtMs: 1_700_000_000_000 + second * 1000,
    monotonicSeconds: second,
    host: host(second),
    workloads,
    collectors: [],
  };
}

function ids(count: number, prefix = 'w'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

describe('History', () => {
  it('stores the rates rates.ts computes, in single precision', () => {
    const history = new History({ capacity: 300 });
    const names = ids(3);
    history.record(snapshot(0, names));
    const rates = history.record(snapshot(1, names));

    names.forEach((id, i) => {
      const previous: Reading = {
        monotonicSeconds: 0,
        host: host(0),
        usage: usage(i, 0),
      };
      const current: Reading = {
        monotonicSeconds: 1,
        host: host(1),
        usage: usage(i, 1),
      };
      const got = rates.get(id);
      const expected = {
        cpuPercent: cpuPercent(previous, current),
        memoryBytes: current.usage.memoryUsageBytes,
        memoryPercent: memoryPercent(current.usage, current.host),
        networkReceiveBytesPerSecond: perSecond(0, 1000, 1),
        networkTransmitBytesPerSecond: perSecond(0, 333, 1),
        blockReadBytesPerSecond: perSecond(0, 7 * i, 1),
        blockWriteBytesPerSecond: perSecond(0, 4096, 1),
      };
      for (const name of SERIES) {
        const value = expected[name];
        assert.ok(value !== undefined, name);
        assert.equal(got?.[name], Math.fround(value), `${id} ${name}`);
      }
    });

    const window = history.window('w1', 300);
    assert.deepEqual(window?.timesMs, [1_700_000_000_000, 1_700_000_001_000]);
    // The first point has levels but no rates: there was nothing before.
    assert.equal(window.series.cpuPercent[0], null);
    assert.equal(window.series.cpuPercent[1], rates.get('w1')?.cpuPercent);
    assert.equal(window.series.memoryBytes[0], Math.fround(11 * MiB));
  });

  it('leaves absent figures and counter resets out, never as 0', () => {
    const history = new History({ capacity: 10 });
    history.record(snapshot(5, ['a']));
    // The counters went back: the workload restarted under the same id.
    const rates = history.record(snapshot(6, ['a'], () => ({ cpuSeconds: 0 })));
    const a = rates.get('a');
    assert.equal(a?.cpuPercent, undefined);
    assert.equal(a?.memoryBytes, undefined);
    assert.equal(a?.networkReceiveBytesPerSecond, undefined);
  });

  it('records a snapshot shared by two ticks once', () => {
    const history = new History({ capacity: 300 });
    const first = snapshot(0, ['a']);
    history.record(first);
    history.record(first);
    assert.equal(history.window('a', 300)?.timesMs.length, 1);
  });

  it('keeps the last capacity points, oldest first', () => {
    const history = new History({ capacity: 5 });
    for (let s = 0; s < 12; s++) history.record(snapshot(s, ['a']));
    const window = history.window('a', 5);
    assert.deepEqual(
      window?.timesMs.map((t) => (t - 1_700_000_000_000) / 1000),
      [7, 8, 9, 10, 11],
    );
    assert.equal(history.window('a', 3)?.timesMs.length, 3);
    assert.equal(history.window('nobody', 5), undefined);
  });

  it('blanks the ticks a workload missed and drops it after its span', () => {
    // Both tiers five ticks long: gone five ticks is gone from both.
    const history = new History({
      capacity: 5,
      coarseEvery: 1,
      coarseCapacity: 5,
    });
    history.record(snapshot(0, ['a', 'b']));
    history.record(snapshot(1, ['a', 'b']));
    for (let s = 2; s < 6; s++) history.record(snapshot(s, ['a']));
    // b was last seen at tick 1, and the four ticks since were blanked.
    assert.deepEqual(history.window('b', 5)?.series.memoryBytes.slice(1), [
      null,
      null,
      null,
      null,
    ]);
    history.record(snapshot(6, ['a']));
    assert.equal(history.has('b'), false);
    assert.equal(history.has('a'), true);
  });

  it('makes room for new workloads by dropping the longest gone', () => {
    const history = new History({ capacity: 100, maxWorkloads: 3 });
    history.record(snapshot(0, ['a', 'b', 'c']));
    history.record(snapshot(1, ['b', 'c']));
    history.record(snapshot(2, ['c', 'd']));
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => history.has(id)),
      [false, true, true, true],
    );
    // All three present: a fourth is turned away, not kept.
    history.record(snapshot(3, ['b', 'c', 'd', 'e']));
    assert.equal(history.has('e'), false);
    assert.equal(history.rejected, 1);
  });

  it('never makes room by dropping a workload present in the same snapshot', () => {
    const history = new History({ capacity: 100, maxWorkloads: 3 });
    history.record(snapshot(0, ['a', 'b', 'c']));
    // The newcomer comes first: a, b and c are still present, so there is
    // no room for it, and none of them loses its points.
    history.record(snapshot(1, ['e', 'a', 'b', 'c']));
    assert.deepEqual(
      ['a', 'b', 'c', 'e'].map((id) => history.has(id)),
      [true, true, true, false],
    );
    assert.equal(history.window('a', 10)?.timesMs.length, 2);
    assert.equal(history.rejected, 1);
  });

  it('stays within its bound with 2000 workloads for an hour', () => {
    const history = new History({ maxWorkloads: 2000 });
    const points = DEFAULT_CAPACITY + DEFAULT_COARSE_CAPACITY;
    // Both tiers, and the sums and counts of the coarse point being built.
    const perWorkload = SERIES.length * (points * 4 + 8 + 2);
    const shared = points * 8;
    const many = ids(2000);
    const hour = DEFAULT_COARSE_EVERY * DEFAULT_COARSE_CAPACITY;
    assert.equal(hour, 3600);
    // An hour of ticks and more: rings wrap, and the bound is the same.
    const constant = (): WorkloadUsage => ({ memoryUsageBytes: MiB });
    for (let s = 0; s < hour + 10; s++) {
      history.record(snapshot(s, many, constant));
    }
    assert.equal(history.size, 2000);
    assert.equal(history.bytes, 2000 * perWorkload + shared);
    assert.equal(perWorkload, 35_350);
    assert.equal(history.window('w1999', 900)?.timesMs.length, 900);
    assert.equal(history.window('w1999', 3600)?.timesMs.length, 360);

    // A new generation replaces the first, which is gone an hour later.
    const next = ids(2000, 'x');
    for (let s = 0; s < hour; s++) {
      history.record(snapshot(hour + 10 + s, next, constant));
      assert.ok(history.bytes <= 2000 * perWorkload + shared);
    }
    assert.equal(history.has('w0'), false);
    assert.equal(history.has('x0'), true);
    assert.equal(history.size, 2000);
  });
  it('serves long windows as means of every coarseEvery ticks', () => {
    const history = new History({
      capacity: 300,
      coarseEvery: 10,
      coarseCapacity: 6,
    });
    // Memory climbs one MiB a tick; b is away for ticks 10..19.
    const memory = (second: number) => (): WorkloadUsage => ({
      memoryUsageBytes: second * MiB,
    });
    for (let s = 0; s < 75; s++) {
      const present = s >= 10 && s < 20 ? ['a'] : ['a', 'b'];
      history.record(snapshot(s, present, memory(s)));
    }
    const a = history.window('a', 900);
    assert.deepEqual(
      a?.timesMs.map((t) => (t - 1_700_000_000_000) / 1000),
      [19, 29, 39, 49, 59, 69],
      'finished points only, each stamped with its last tick',
    );
    // Six kept of seven finished: the means of 10..19 MiB, 20..29 MiB, ...
    assert.deepEqual(
      a.series.memoryBytes,
      [14.5, 24.5, 34.5, 44.5, 54.5, 64.5].map((m) => m * MiB),
    );
    const b = history.window('b', 900);
    assert.equal(b?.series.memoryBytes[0], null, 'away: no point, not 0');
    assert.equal(b.series.memoryBytes[1], 24.5 * MiB);
    assert.equal(history.window('a', 300)?.timesMs.length, 75, 'fine tier');
  });
});
