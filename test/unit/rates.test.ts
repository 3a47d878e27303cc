import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  UNLIMITED,
  type HostUsage,
  type WorkloadUsage,
} from '../../agent/src/model.js';
import {
  cpuPercent,
  effectiveMemoryLimit,
  memoryPercent,
  perSecond,
  type Reading,
} from '../../agent/src/sample/rates.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function host(
  monotonicSeconds = 0,
  memoryTotalBytes = 4 * GiB,
  stealCpuSeconds = 0,
): HostUsage {
  return { cpus: 2, memoryTotalBytes, stealCpuSeconds, monotonicSeconds };
}

/** A reading at `seconds` on the monotonic clock, on a two-CPU host. */
function reading(
  seconds: number,
  usage: WorkloadUsage,
  stealCpuSeconds = 0,
): Reading {
  return {
    monotonicSeconds: seconds,
    host: host(seconds, 4 * GiB, stealCpuSeconds),
    usage,
  };
}

describe('cpuPercent', () => {
  // docker: (container delta / system delta) * online CPUs * 100, where the
  // system delta is the host's CPU time less steal: elapsed time * CPUs.
  it('follows docker stats: one busy core of two is 100 %', () => {
    const before = reading(0, { cpuSeconds: 10 });
    const after = reading(1, { cpuSeconds: 11 });
    assert.equal(cpuPercent(before, after), 100);
  });

  it('gives a quarter core as 25 %', () => {
    const before = reading(0, { cpuSeconds: 10 });
    const after = reading(2, { cpuSeconds: 10.5 });
    assert.equal(cpuPercent(before, after), 25);
  });

  it('is exact over a short window, where /proc/stat ticks are coarse', () => {
    // 250 ms on two CPUs is 50 ticks of /proc/stat: one tick more or less
    // would read 98 % or 102 %.
    const before = reading(100, { cpuSeconds: 10 });
    const after = reading(100.25, { cpuSeconds: 10.25 });
    assert.equal(cpuPercent(before, after), 100);
  });

  it('leaves stolen time out of the host time, as docker does', () => {
    // 2 s of host time, 0.5 s of it stolen: 0.75 s of work is half of it.
    const before = reading(0, { cpuSeconds: 0 }, 5);
    const after = reading(1, { cpuSeconds: 0.75 }, 5.5);
    assert.equal(cpuPercent(before, after), 100);
  });

  it('gives 0 for an idle workload', () => {
    const before = reading(0, { cpuSeconds: 3 });
    const after = reading(1, { cpuSeconds: 3 });
    assert.equal(cpuPercent(before, after), 0);
  });

  const undefinedCases: readonly [string, Reading, Reading][] = [
    ['no CPU time before', reading(0, {}), reading(1, { cpuSeconds: 1 })],
    ['no CPU time after', reading(0, { cpuSeconds: 1 }), reading(1, {})],
    [
      'no time passed',
      reading(1, { cpuSeconds: 1 }),
      reading(1, { cpuSeconds: 2 }),
    ],
    [
      'readings in the wrong order',
      reading(2, { cpuSeconds: 1 }),
      reading(1, { cpuSeconds: 2 }),
    ],
    [
      'a workload counter reset (restart)',
      reading(0, { cpuSeconds: 50 }),
      reading(1, { cpuSeconds: 1 }),
    ],
  ];
  for (const [name, before, after] of undefinedCases) {
    it(`is undefined for ${name}`, () => {
      assert.equal(cpuPercent(before, after), undefined);
    });
  }
});

describe('effectiveMemoryLimit', () => {
  const total = 4 * GiB;
  const cases: readonly [string, WorkloadUsage['memoryLimit'], number][] = [
    ['a limit below host RAM', 128 * MiB, 128 * MiB],
    ['a limit above host RAM, capped', 16 * GiB, total],
    ['unlimited, as host RAM', UNLIMITED, total],
    ['an unread limit, as host RAM', undefined, total],
  ];
  for (const [name, limit, expected] of cases) {
    it(`gives ${name}`, () => {
      assert.equal(effectiveMemoryLimit(limit, host(0, total)), expected);
    });
  }
});

describe('memoryPercent', () => {
  it('divides usage by the limit', () => {
    const usage: WorkloadUsage = {
      memoryUsageBytes: 64 * MiB,
      memoryLimit: 128 * MiB,
    };
    assert.equal(memoryPercent(usage, host(0)), 50);
  });

  it('divides by host RAM when unlimited', () => {
    const usage: WorkloadUsage = {
      memoryUsageBytes: GiB,
      memoryLimit: UNLIMITED,
    };
    assert.equal(memoryPercent(usage, host(0, 4 * GiB)), 25);
  });

  it('is undefined without usage', () => {
    assert.equal(memoryPercent({ memoryLimit: 128 * MiB }, host(0)), undefined);
  });

  it('is undefined when host RAM is unknown (0)', () => {
    const usage: WorkloadUsage = {
      memoryUsageBytes: MiB,
      memoryLimit: UNLIMITED,
    };
    assert.equal(memoryPercent(usage, host(0, 0)), undefined);
  });
});

describe('perSecond', () => {
  const cases: readonly [
    string,
    number | undefined,
    number | undefined,
    number,
    number | undefined,
  ][] = [
    ['a growing counter', 100, 300, 2, 100],
    ['a still counter', 300, 300, 5, 0],
    ['a counter reset', 300, 100, 2, undefined],
    ['no previous value', undefined, 100, 2, undefined],
    ['no current value', 100, undefined, 2, undefined],
    ['no time passed', 100, 300, 0, undefined],
    ['time running backwards', 100, 300, -1, undefined],
  ];
  for (const [name, previous, current, seconds, expected] of cases) {
    it(`gives ${String(expected)} for ${name}`, () => {
      assert.equal(perSecond(previous, current, seconds), expected);
    });
  }
});
