import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseCmdline } from '../../agent/src/parse/cmdline.js';
import { parseMeminfo } from '../../agent/src/parse/meminfo.js';
import { parseNetDev, sumNonLoopback } from '../../agent/src/parse/net-dev.js';
import { parsePidCgroup } from '../../agent/src/parse/pid-cgroup.js';
import { parsePidIo } from '../../agent/src/parse/pid-io.js';
import { parsePidStat } from '../../agent/src/parse/pid-stat.js';
import { parsePidStatus } from '../../agent/src/parse/pid-status.js';
import { parseProcStat } from '../../agent/src/parse/proc-stat.js';
import { itRejects } from './parse-cases.js';

// Samples taken from a Debian 12 test host (kernel 6.18, 2 CPUs), some
// lines left out where the parser ignores them.

const PROC_STAT = `cpu  6259 0 2950 63335 341 0 69 11 0 0
cpu0 2568 0 1017 32857 18 0 13 4 0 0
cpu1 3690 0 1933 30477 322 0 56 7 0 0
intr 287176 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 14 0 0
ctxt 671033
btime 1796315416
processes 8477
procs_running 1
procs_blocked 0
softirq 142609 0 13536 7 9270 58131 0 3 31380 0 30282
`;

describe('parseProcStat', () => {
  it('reads the cpu line, counts cpuN lines and reads btime', () => {
    assert.deepEqual(parseProcStat(PROC_STAT), {
      cpu: {
        user: 6259,
        nice: 0,
        system: 2950,
        idle: 63335,
        iowait: 341,
        irq: 0,
        softirq: 69,
        steal: 11,
      },
      onlineCpus: 2,
      bootTimeSeconds: 1796315416,
    });
  });

  it('accepts an old kernel without steal and without btime', () => {
    const stat = parseProcStat('cpu 1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\n');
    assert.equal(stat.cpu.steal, undefined);
    assert.equal(stat.bootTimeSeconds, undefined);
    assert.equal(stat.onlineCpus, 1);
  });

  itRejects(parseProcStat, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: 'not /proc/stat at all\n' },
    { name: 'a truncated cpu line', text: 'cpu  6259 0 2950\ncpu0 1 2 3\n' },
    { name: 'no cpuN lines', text: 'cpu  1 2 3 4 5 6 7 8 0 0\n' },
    { name: 'a letter in the cpu line', text: 'cpu 1 2 x 4 5 6 7\ncpu0 1\n' },
    { name: 'a negative tick count', text: 'cpu 1 2 -3 4 5 6 7\ncpu0 1\n' },
    { name: 'a bad btime', text: `${PROC_STAT}btime soon\n` },
  ]);
});

const MEMINFO = `MemTotal:       24683664 kB
MemFree:        24280456 kB
MemAvailable:   24281240 kB
Buffers:            1640 kB
Cached:           172716 kB
Active(anon):       1536 kB
Inactive(file):    67652 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap1G:    25165824 kB
`;

describe('parseMeminfo', () => {
  const meminfo = parseMeminfo(MEMINFO);

  const cases: readonly [string, number][] = [
    ['MemTotal', 24683664 * 1024],
    ['MemAvailable', 24281240 * 1024],
    ['Active(anon)', 1536 * 1024],
    ['Inactive(file)', 67652 * 1024],
    ['VmallocTotal', 34359738367 * 1024],
    // No unit: a page count, not kB.
    ['HugePages_Total', 0],
  ];
  for (const [key, bytes] of cases) {
    it(`reads ${key}`, () => {
      assert.equal(meminfo.get(key), bytes);
    });
  }

  it('leaves an absent field absent', () => {
    assert.equal(meminfo.get('SwapTotal'), undefined);
  });

  itRejects(parseMeminfo, [
    { name: 'an empty file', text: '' },
    { name: 'a file without MemTotal', text: 'MemFree: 1024 kB\n' },
    { name: 'a truncated line', text: 'MemTotal:\n' },
    { name: 'garbage', text: 'hello world\n' },
    { name: 'a non-numeric value', text: 'MemTotal: 12x kB\n' },
    { name: 'an unknown unit', text: 'MemTotal: 12 MB\n' },
  ]);
});

// /proc/<pid>/stat of `sleep` in a container, as the kernel wrote it.
const SLEEP_STAT =
  '7541 (sleep) S 7520 7541 7541 0 -1 4194560 965 0 0 0 1 0 0 0 20 0 1 0 ' +
  '20271 2322432 332 18446744073709551615 4198400 5785993 140726232022608 ' +
  '0 0 0 0 0 0 1 0 0 17 0 0 0 0 0 0 6141704 6178576 127860736 ' +
  '140726232027068 140726232027078 140726232027078 140726232027117 0\n';
/** Everything after `(sleep)`. */
const SLEEP_TAIL = SLEEP_STAT.slice(SLEEP_STAT.indexOf(')') + 1);

describe('parsePidStat', () => {
  it('reads a real line', () => {
    assert.deepEqual(parsePidStat(SLEEP_STAT), {
      pid: 7541,
      comm: 'sleep',
      state: 'S',
      ppid: 7520,
      utimeTicks: 1,
      stimeTicks: 0,
      numThreads: 1,
      startTimeTicks: 20271,
      rssPages: 332,
    });
  });

  it('reads a kernel thread (ppid 0, rss 0)', () => {
    const text =
      '2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 23 0 0 ' +
      '18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0\n';
    const stat = parsePidStat(text);
    assert.equal(stat.ppid, 0);
    assert.equal(stat.rssPages, 0);
    assert.equal(stat.startTimeTicks, 23);
  });

  // comm is whatever the process named itself, up to 15 bytes.
  const comms = [
    'a) (b c)',
    'tmux: server',
    'kworker/0:1H',
    'my app',
    ')',
    '((',
    '',
  ];
  for (const comm of comms) {
    it(`reads comm ${JSON.stringify(comm)} and the fields after it`, () => {
      const stat = parsePidStat(`1234 (${comm})${SLEEP_TAIL}`);
      assert.equal(stat.pid, 1234);
      assert.equal(stat.comm, comm);
      assert.equal(stat.state, 'S');
      assert.equal(stat.ppid, 7520);
      assert.equal(stat.rssPages, 332);
    });
  }

  const fields = SLEEP_TAIL.trim().split(' ');
  itRejects(parsePidStat, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: 'garbage\n' },
    { name: 'no closing parenthesis', text: '1234 (sleep S 1 2 3\n' },
    { name: 'parentheses the wrong way round', text: '1234 )sleep( S\n' },
    { name: 'a line cut after comm', text: '7541 (sleep)' },
    { name: 'a line cut after ppid', text: '7541 (sleep) S 7520\n' },
    {
      name: 'a line cut before rss (23 fields)',
      text: `7541 (sleep) ${fields.slice(0, 21).join(' ')}`,
    },
    { name: 'a non-numeric pid', text: `pid (sleep)${SLEEP_TAIL}` },
    { name: 'a missing pid', text: `(sleep)${SLEEP_TAIL}` },
    {
      name: 'a non-numeric utime',
      text: `7541 (sleep) ${fields.map((f, i) => (i === 11 ? 'x' : f)).join(' ')}`,
    },
  ]);
});

const SLEEP_STATUS = `Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Tgid:\t7541
Ngid:\t0
Pid:\t7541
PPid:\t7520
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t64
Groups:\t0 
NStgid:\t7541\t1
NSpid:\t7541\t1
VmPeak:\t    2268 kB
VmSize:\t    2268 kB
VmHWM:\t    1380 kB
VmRSS:\t    1380 kB
RssAnon:\t      52 kB
RssFile:\t    1328 kB
RssShmem:\t       0 kB
Threads:\t1
SigQ:\t0/96362
Cpus_allowed_list:\t0-1
voluntary_ctxt_switches:\t15
`;

const KTHREADD_STATUS = `Name:\tkthreadd
Umask:\t0022
State:\tS (sleeping)
Tgid:\t2
Ngid:\t0
Pid:\t2
PPid:\t0
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t64
Groups:\t 
NSpid:\t2
Threads:\t1
`;

describe('parsePidStatus', () => {
  it('reads a process in a container', () => {
    assert.deepEqual(parsePidStatus(SLEEP_STATUS), {
      name: 'sleep',
      ppid: 7520,
      uid: 0,
      threads: 1,
      vmRssBytes: 1380 * 1024,
      rssAnonBytes: 52 * 1024,
      rssFileBytes: 1328 * 1024,
      rssShmemBytes: 0,
      nsPids: [7541, 1],
    });
  });

  it('leaves memory absent, not 0, for a kernel thread', () => {
    const status = parsePidStatus(KTHREADD_STATUS);
    assert.equal(status.name, 'kthreadd');
    assert.equal(status.ppid, 0);
    assert.equal(status.vmRssBytes, undefined);
    assert.equal(status.rssAnonBytes, undefined);
    assert.deepEqual(status.nsPids, [2]);
  });

  it('keeps a colon inside Name', () => {
    const text = SLEEP_STATUS.replace('Name:\tsleep', 'Name:\tweb:1');
    assert.equal(parsePidStatus(text).name, 'web:1');
  });

  itRejects(parsePidStatus, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: 'garbage\n' },
    { name: 'a file cut before PPid', text: 'Name:\tsleep\nUmask:\t0022\n' },
    {
      name: 'a non-numeric PPid',
      text: SLEEP_STATUS.replace('PPid:\t7520', 'PPid:\tx'),
    },
    {
      name: 'VmRSS in another unit',
      text: SLEEP_STATUS.replace('1380 kB\nRssAnon', '1380 MB\nRssAnon'),
    },
    {
      name: 'a truncated VmRSS',
      text: SLEEP_STATUS.replace('VmRSS:\t    1380 kB', 'VmRSS:\t'),
    },
    {
      name: 'a non-numeric NSpid',
      text: SLEEP_STATUS.replace('NSpid:\t7541\t1', 'NSpid:\t7541\tx'),
    },
  ]);
});

describe('parseCmdline', () => {
  const cases: readonly [string, string, string[]][] = [
    ['NUL-separated and NUL-ended', 'sleep\x00300\x00', ['sleep', '300']],
    ['without the final NUL', 'sleep\x00300', ['sleep', '300']],
    ['empty (kernel thread, zombie)', '', []],
    ['an empty argument kept', 'echo\x00\x00x\x00', ['echo', '', 'x']],
    [
      'an argv rewritten with spaces',
      'nginx: master process nginx -g daemon off;',
      ['nginx: master process nginx -g daemon off;'],
    ],
  ];
  for (const [name, text, argv] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseCmdline(text), argv);
    });
  }
});

const ID = 'd2f4edc101bcbf7d26b782b7eef958d5bfa0eab1fd51d64d494fbcbf1dd30c26';

describe('parsePidCgroup', () => {
  it('reads a hybrid host line by line', () => {
    const text = [
      `9:name=systemd:/docker/${ID}`,
      `4:memory:/docker/${ID}`,
      `2:cpu,cpuacct:/docker/${ID}`,
      `0::/docker/${ID}`,
      '',
    ].join('\n');
    assert.deepEqual(parsePidCgroup(text), [
      { hierarchyId: 9, controllers: ['name=systemd'], path: `/docker/${ID}` },
      { hierarchyId: 4, controllers: ['memory'], path: `/docker/${ID}` },
      {
        hierarchyId: 2,
        controllers: ['cpu', 'cpuacct'],
        path: `/docker/${ID}`,
      },
      { hierarchyId: 0, controllers: [], path: `/docker/${ID}` },
    ]);
  });

  const paths = [
    '/',
    '/kubepods/besteffort/pod1:2:3/cri-containerd:abc',
    '/system.slice/docker-x.scope:extra',
    '/../../..',
    '/with space',
  ];
  for (const path of paths) {
    it(`keeps the path ${JSON.stringify(path)} whole`, () => {
      assert.deepEqual(parsePidCgroup(`0::${path}\n`), [
        { hierarchyId: 0, controllers: [], path },
      ]);
    });
  }

  it('reads an empty file as no memberships', () => {
    assert.deepEqual(parsePidCgroup(''), []);
  });

  itRejects(parsePidCgroup, [
    { name: 'garbage', text: 'garbage\n' },
    { name: 'a line with one colon', text: '4:memory\n' },
    { name: 'a non-numeric hierarchy id', text: 'x:memory:/docker\n' },
    { name: 'an empty hierarchy id', text: ':memory:/docker\n' },
    { name: 'a good line then a cut one', text: '0::/\n4:mem' },
  ]);
});

const PID_IO = `rchar: 46238
wchar: 7754
syscr: 37
syscw: 7
read_bytes: 4096
write_bytes: 8192
cancelled_write_bytes: 0
`;

describe('parsePidIo', () => {
  it('reads the byte counters', () => {
    assert.deepEqual(parsePidIo(PID_IO), {
      rcharBytes: 46238,
      wcharBytes: 7754,
      readBytes: 4096,
      writeBytes: 8192,
      cancelledWriteBytes: 0,
    });
  });

  itRejects(parsePidIo, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: 'garbage\n' },
    { name: 'a file cut after syscw', text: PID_IO.slice(0, 44) },
    {
      name: 'a non-numeric counter',
      text: PID_IO.replace('read_bytes: 4096', 'read_bytes: lots'),
    },
    {
      name: 'a value cut off',
      text: PID_IO.replace('write_bytes: 8192\n', 'write_bytes: \n'),
    },
  ]);
});

const NET_HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

const NET_DEV =
  NET_HEADER +
  '    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n' +
  '  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n' +
  '  eth0: 282111188    7357    0    0    0     0          0         0   623515    4953    0    0    0     0       0          0\n';

describe('parseNetDev', () => {
  it('reads every interface', () => {
    assert.deepEqual(parseNetDev(NET_DEV), [
      {
        name: 'lo',
        receiveBytes: 3193,
        receivePackets: 29,
        transmitBytes: 3193,
        transmitPackets: 29,
      },
      {
        name: 'ifb0',
        receiveBytes: 0,
        receivePackets: 0,
        transmitBytes: 0,
        transmitPackets: 0,
      },
      {
        name: 'eth0',
        receiveBytes: 282111188,
        receivePackets: 7357,
        transmitBytes: 623515,
        transmitPackets: 4953,
      },
    ]);
  });

  it('sums every interface but loopback', () => {
    assert.deepEqual(sumNonLoopback(parseNetDev(NET_DEV)), {
      receiveBytes: 282111188,
      transmitBytes: 623515,
    });
  });

  it('reads a namespace with no interfaces left', () => {
    assert.deepEqual(parseNetDev(NET_HEADER), []);
  });

  it('reads counters glued to the colon', () => {
    const line = 'veth1234567:123 1 0 0 0 0 0 0 456 2 0 0 0 0 0 0\n';
    assert.deepEqual(parseNetDev(NET_HEADER + line), [
      {
        name: 'veth1234567',
        receiveBytes: 123,
        receivePackets: 1,
        transmitBytes: 456,
        transmitPackets: 2,
      },
    ]);
  });

  itRejects(parseNetDev, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: 'garbage\n' },
    { name: 'three lines of garbage', text: 'a\nb\nc\n' },
    { name: 'a header cut short', text: NET_HEADER.split('\n')[0] ?? '' },
    { name: 'a line cut short', text: `${NET_HEADER}  eth0: 1 2 3 4\n` },
    { name: 'a line without a colon', text: `${NET_HEADER}  eth0 1 2 3\n` },
    {
      name: 'a non-numeric counter',
      text: `${NET_HEADER}  eth0: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n`,
    },
  ]);
});
