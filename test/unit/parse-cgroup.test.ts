import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UNLIMITED } from '../../agent/src/model.js';
import { ParseError } from '../../agent/src/parse/errors.js';
import {
  parseBlkioServiceBytes,
  parseCfsQuota,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parseSingleValue,
} from '../../agent/src/parse/cgroup-files.js';
import { itRejects } from './parse-cases.js';

describe('parseSingleValue', () => {
  const cases: readonly [string, number][] = [
    ['22925350\n', 22925350],
    ['0\n', 0],
    ['315392', 315392],
  ];
  for (const [text, value] of cases) {
    it(`reads ${JSON.stringify(text)}`, () => {
      assert.equal(parseSingleValue('cpuacct.usage', text), value);
    });
  }

  itRejects(
    (t) => parseSingleValue('pids.current', t),
    [
      { name: 'an empty file', text: '' },
      { name: 'a blank line', text: ' \n' },
      { name: 'a negative value', text: '-1\n' },
      { name: 'garbage', text: 'garbage\n' },
      { name: 'two values', text: '12 34\n' },
      { name: '"max" where a count belongs', text: 'max\n' },
    ],
  );
});

describe('parseLimit', () => {
  const cases: readonly [string, string, number | typeof UNLIMITED][] = [
    ['v2 "max"', 'max\n', UNLIMITED],
    ['v1 "no limit" on 4 KiB pages', '9223372036854771712\n', UNLIMITED],
    ['v1 "no limit" on 64 KiB pages', '9223372036854710272\n', UNLIMITED],
    ['128 MiB', '134217728\n', 134217728],
    ['a pids limit', '50\n', 50],
    // A zero limit is real (pids.max 0 forbids forking); it is not "none".
    ['a zero limit', '0\n', 0],
  ];
  for (const [name, text, limit] of cases) {
    it(`reads ${name}`, () => {
      assert.equal(parseLimit('memory.max', text), limit);
    });
  }

  it('never turns "max" into 0', () => {
    assert.notEqual(parseLimit('pids.max', 'max'), 0);
  });

  itRejects(
    (t) => parseLimit('memory.max', t),
    [
      { name: 'an empty file', text: '' },
      { name: 'garbage', text: 'unlimited\n' },
      { name: 'a negative limit', text: '-1\n' },
      { name: '"max" twice', text: 'max max\n' },
    ],
  );
});

// memory.stat of a docker container on a v1 host (a subset of the keys).
const V1_MEMORY_STAT = `cache 0
rss 53248
rss_huge 0
inactive_anon 49152
active_anon 4096
inactive_file 0
hierarchical_memory_limit 9223372036854771712
total_cache 0
total_rss 53248
total_inactive_file 0
`;

const V2_CPU_STAT = `usage_usec 22925
user_usec 13803
system_usec 9121
nice_usec 0
core_sched.force_idle_usec 0
nr_periods 0
nr_throttled 0
throttled_usec 0
`;

describe('parseFlatKeyed', () => {
  it('reads v1 memory.stat, huge values included', () => {
    const stat = parseFlatKeyed('memory.stat', V1_MEMORY_STAT);
    assert.equal(stat.get('rss'), 53248);
    assert.equal(stat.get('total_rss'), 53248);
    assert.equal(stat.get('inactive_anon'), 49152);
    assert.equal(stat.get('hierarchical_memory_limit'), 9223372036854771712);
    assert.equal(stat.size, 10);
  });

  it('reads v2 cpu.stat, dotted keys included', () => {
    const stat = parseFlatKeyed('cpu.stat', V2_CPU_STAT);
    assert.equal(stat.get('usage_usec'), 22925);
    assert.equal(stat.get('core_sched.force_idle_usec'), 0);
  });

  it('reads an empty file as no keys', () => {
    assert.equal(parseFlatKeyed('memory.stat', '').size, 0);
  });

  itRejects(
    (t) => parseFlatKeyed('memory.stat', t),
    [
      { name: 'a key without a value', text: 'cache 0\nrss\n' },
      { name: 'a line with three fields', text: 'rss 1 2\n' },
      { name: 'a non-numeric value', text: 'rss lots\n' },
      { name: 'a negative value', text: 'rss -1\n' },
      { name: 'garbage', text: 'garbage\n' },
    ],
  );
});

// blkio.throttle.io_service_bytes_recursive with two disks.
const BLKIO = `8:0 Read 4194304
8:0 Write 1048576
8:0 Sync 5242880
8:0 Async 0
8:0 Discard 0
8:0 Total 5242880
8:16 Read 65536
8:16 Write 0
8:16 Sync 65536
8:16 Async 0
8:16 Discard 0
8:16 Total 65536
Total 5308416
`;

describe('parseBlkioServiceBytes', () => {
  const parse = (text: string): unknown =>
    parseBlkioServiceBytes('blkio.throttle.io_service_bytes', text);

  it('sums Read and Write over devices', () => {
    assert.deepEqual(parse(BLKIO), {
      readBytes: 4194304 + 65536,
      writeBytes: 1048576,
    });
  });

  it('reads a device line without the Total line', () => {
    assert.deepEqual(parse('253:0 Read 512\n253:0 Write 1024'), {
      readBytes: 512,
      writeBytes: 1024,
    });
  });

  // The caller decides whether "no device listed" means zeros.
  const empty: readonly [string, string][] = [
    ['an empty file', ''],
    ['a lone Total line', 'Total 0\n'],
    ['blank lines', '\n\n'],
  ];
  for (const [name, text] of empty) {
    it(`reads ${name} as no devices`, () => {
      assert.equal(parse(text), undefined);
    });
  }

  itRejects(parse, [
    { name: 'garbage', text: 'garbage\n' },
    { name: 'a line cut after the op', text: '8:0 Read\n' },
    { name: 'a non-numeric value', text: '8:0 Read lots\n' },
    { name: 'a device name instead of MAJ:MIN', text: 'sda Read 1\n' },
    { name: 'a good line then garbage', text: '8:0 Read 1\noops\n' },
  ]);
});

const IO_STAT =
  '8:0 rbytes=4194304 wbytes=1048576 rios=64 wios=16 dbytes=0 dios=0\n' +
  '253:0 rbytes=65536 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n';

describe('parseIoStat', () => {
  const cases: readonly [string, string, number, number][] = [
    ['two devices', IO_STAT, 4194304 + 65536, 1048576],
    ['an empty file (no I/O yet)', '', 0, 0],
    ['a device with no pairs', '8:0\n', 0, 0],
    ['unknown keys only', '8:0 cost.usage=5\n', 0, 0],
  ];
  for (const [name, text, readBytes, writeBytes] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseIoStat('io.stat', text), { readBytes, writeBytes });
    });
  }

  itRejects(
    (t) => parseIoStat('io.stat', t),
    [
      { name: 'garbage', text: 'garbage\n' },
      { name: 'a pair without "="', text: '8:0 rbytes\n' },
      { name: 'a non-numeric rbytes', text: '8:0 rbytes=lots wbytes=0\n' },
      { name: 'an empty wbytes', text: '8:0 rbytes=1 wbytes=\n' },
      { name: 'a line without a device', text: 'rbytes=1 wbytes=2\n' },
    ],
  );
});

describe('CPU quota', () => {
  it('reads v2 cpu.max in cores, max as unlimited', () => {
    assert.equal(parseCpuMax('cpu.max', '50000 100000\n'), 0.5);
    assert.equal(parseCpuMax('cpu.max', '200000 100000\n'), 2);
    assert.equal(parseCpuMax('cpu.max', 'max 100000\n'), UNLIMITED);
    for (const bad of ['', 'x 100000', '1 0', '1 2 3']) {
      assert.throws(() => parseCpuMax('cpu.max', bad), ParseError, bad);
    }
  });

  it('reads v1 cfs quota over period, -1 as unlimited', () => {
    assert.equal(parseCfsQuota('150000\n', '100000\n'), 1.5);
    assert.equal(parseCfsQuota('-1\n', '100000\n'), UNLIMITED);
    assert.throws(() => parseCfsQuota('100', '0'), ParseError);
    assert.throws(() => parseCfsQuota('-5', '100000'), ParseError);
  });
});
