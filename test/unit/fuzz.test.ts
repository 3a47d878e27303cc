import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  parseBlkioServiceBytes,
  parseCfsQuota,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parsePidList,
  parseSingleValue,
} from '../../agent/src/parse/cgroup-files.js';
import { parseCmdline } from '../../agent/src/parse/cmdline.js';
import { ParseError } from '../../agent/src/parse/errors.js';
import {
  parseKataGuestMetrics,
  parseLabels,
} from '../../agent/src/parse/kata-metrics.js';
import {
  classifyKataProcess,
  flagValue,
  parseQemuMemory,
  parseSmp,
  sandboxFromPaths,
} from '../../agent/src/parse/kata-process.js';
import {
  parsePersistJson,
  parseStateJson,
} from '../../agent/src/parse/kata-state.js';
import { parseMeminfo } from '../../agent/src/parse/meminfo.js';
import { parseNetDev } from '../../agent/src/parse/net-dev.js';
import { parsePidCgroup } from '../../agent/src/parse/pid-cgroup.js';
import { parsePidIo } from '../../agent/src/parse/pid-io.js';
import { parsePidStat } from '../../agent/src/parse/pid-stat.js';
import { parsePidStatus } from '../../agent/src/parse/pid-status.js';
import { parseProcStat } from '../../agent/src/parse/proc-stat.js';
import { parseSmapsRollup } from '../../agent/src/parse/smaps-rollup.js';

/**
 * Every parser of agent/src/parse, fed arbitrary text and mutated real
 * files from the fixture hosts: it returns, or throws ParseError, and
 * never anything else (a TypeError, a RangeError, a stack overflow).
 */

const RUNS = 300;
const HOSTS = fileURLToPath(
  new URL('../../../test/fixtures/hosts/', import.meta.url),
);

/** Every fixture file's text, by base name (`stat`, `memory.max`, ...). */
function fixtureTexts(): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile())
        byName.set(entry.name, [
          ...(byName.get(entry.name) ?? []),
          readFileSync(path, 'utf8'),
        ]);
    }
  };
  walk(HOSTS);
  return byName;
}

const fixtures = fixtureTexts();
const samples = (...names: string[]): string[] =>
  names.flatMap((n) => fixtures.get(n) ?? []);

const GUEST_METRICS = `# TYPE kata_guest_cpu_time gauge
kata_guest_cpu_time{cpu="total",item="user"} 1200
kata_guest_cpu_time{cpu="total",item="idle"} 99000
kata_guest_meminfo{item="mem_total"} 2147483648
kata_guest_meminfo{item="mem_free"} 1073741824
`;
const STATE_JSON =
  '{"pid":4242,"virtiofs_daemon_pid":4243,"hypervisor_type":"dragonball"}';

/** One edit of a text: insert, delete, replace or repeat a slice. */
const edit = fc.oneof(
  fc.record({
    at: fc.nat(),
    insert: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.constantFrom(
        '\n',
        ' ',
        ':',
        '-1',
        '(',
        ')',
        '\0',
        '18446744073709551615',
      ),
    ),
    remove: fc.nat({ max: 16 }),
  }),
  fc.record({ at: fc.nat(), repeat: fc.nat({ max: 64 }) }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(text: string, e: Edit): string {
  const at = text.length === 0 ? 0 : e.at % (text.length + 1);
  if ('repeat' in e) {
    const slice = text.slice(at, at + e.repeat);
    return text.slice(0, at) + slice + slice + text.slice(at);
  }
  return text.slice(0, at) + e.insert + text.slice(at + e.remove);
}

/** Arbitrary text, and real files with a few edits applied. */
function inputs(real: readonly string[]): fc.Arbitrary<string> {
  const anyText = fc.string({ unit: 'binary', maxLength: 400 });
  if (real.length === 0) return anyText;
  const mutated = fc
    .tuple(fc.constantFrom(...real), fc.array(edit, { maxLength: 6 }))
    .map(([text, edits]) => edits.reduce(applyEdit, text));
  return fc.oneof(anyText, mutated);
}

/** Runs `parse` and lets only a ParseError escape silently. */
function parsesOrParseError(parse: () => unknown): void {
  try {
    parse();
  } catch (error: unknown) {
    if (!(error instanceof ParseError)) throw error;
  }
}

const TEXT_PARSERS: [string, (text: string) => unknown, string[]][] = [
  ['parseProcStat', parseProcStat, samples('stat')],
  ['parsePidStat', parsePidStat, samples('stat')],
  ['parsePidStatus', parsePidStatus, samples('status')],
  ['parsePidIo', parsePidIo, samples('io')],
  ['parsePidCgroup', parsePidCgroup, samples('cgroup')],
  ['parseMeminfo', parseMeminfo, samples('meminfo')],
  ['parseNetDev', parseNetDev, samples('dev')],
  ['parseSmapsRollup', parseSmapsRollup, samples('smaps_rollup')],
  ['parseCmdline', parseCmdline, samples('cmdline')],
  [
    'parseSingleValue',
    (t) => parseSingleValue('f', t),
    samples('memory.current', 'cpuacct.usage', 'pids.current'),
  ],
  [
    'parseLimit',
    (t) => parseLimit('f', t),
    samples('memory.max', 'memory.limit_in_bytes', 'pids.max'),
  ],
  [
    'parseFlatKeyed',
    (t) => parseFlatKeyed('f', t),
    samples('memory.stat', 'cpu.stat'),
  ],
  [
    'parseBlkioServiceBytes',
    (t) => parseBlkioServiceBytes('f', t),
    samples(
      'blkio.throttle.io_service_bytes',
      'blkio.throttle.io_service_bytes_recursive',
    ),
  ],
  ['parseIoStat', (t) => parseIoStat('f', t), samples('io.stat')],
  ['parseCpuMax', (t) => parseCpuMax('f', t), samples('cpu.max')],
  ['parsePidList', (t) => parsePidList('f', t), samples('cgroup.procs')],
  ['parseKataGuestMetrics', parseKataGuestMetrics, [GUEST_METRICS]],
  ['parseLabels', parseLabels, ['cpu="total",item="user"', 'a="b\\"c\\n"']],
  ['parsePersistJson', parsePersistJson, samples('persist.json')],
  ['parseStateJson', parseStateJson, [STATE_JSON]],
  ['parseSmp', parseSmp, ['2', 'cpus=1,cores=1,threads=1,sockets=4,maxcpus=4']],
  [
    'parseQemuMemory',
    parseQemuMemory,
    ['2048M', '4G', '1024M,slots=10,maxmem=4G'],
  ],
];

/** argv of the fixture processes, and arbitrary string arrays. */
const argvs = fc.oneof(
  fc.constantFrom(...samples('cmdline').map(parseCmdline)),
  fc.array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('-id', '--id', '-name', '-smp', '-m', '/vc/sbs/x/', ''),
    ),
    { maxLength: 12 },
  ),
);

describe('parsers under fuzzing', () => {
  for (const [name, parse, real] of TEXT_PARSERS) {
    it(`${name} parses or throws ParseError`, () => {
      fc.assert(
        fc.property(inputs(real), (text) => {
          parsesOrParseError(() => parse(text));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('parseCfsQuota parses or throws ParseError', () => {
    const quota = inputs(samples('cpu.cfs_quota_us'));
    const period = inputs(samples('cpu.cfs_period_us'));
    fc.assert(
      fc.property(quota, period, (q, p) => {
        parsesOrParseError(() => parseCfsQuota(q, p));
      }),
      { numRuns: RUNS },
    );
  });

  it('the argv classifiers never throw', () => {
    fc.assert(
      fc.property(argvs, (argv) => {
        classifyKataProcess(argv);
        sandboxFromPaths(argv);
        flagValue(argv, '-id', '--id');
      }),
      { numRuns: RUNS },
    );
  });
});
