import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

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
  type KataProcess,
} from '../../agent/src/parse/kata-process.js';
import {
  parsePersistJson,
  parseStateJson,
} from '../../agent/src/parse/kata-state.js';
import { parseSmapsRollup } from '../../agent/src/parse/smaps-rollup.js';
import { readListing } from './kata-tree.js';
import { itRejects } from './parse-cases.js';

const MIB = 2 ** 20;
const GIB = 2 ** 30;
const ID = 'f696fbe1040067c976aebdb53365d79cb4d5e075b98dc28155f44c6a9320d415';
const ID32 = ID.slice(0, 32);

/** One argv, written as `ps` shows it, and what it should classify as. */
interface ArgvCase {
  readonly name: string;
  readonly cmd: string;
  readonly want: KataProcess | undefined;
}

const shim = (runtime?: 'go' | 'rust'): KataProcess => ({
  role: 'shim',
  sandboxId: ID,
  idIsPrefix: false,
  ...(runtime === undefined ? {} : { runtime }),
});

const ARGV_CASES: readonly ArgvCase[] = [
  {
    name: 'Go shim, -id last (01.txt)',
    cmd:
      '/data00/kata/bin/containerd-shim-kata-v2 -namespace k8s.io ' +
      '-address /run/containerd/containerd.sock -publish-binary ' +
      `/data00/kubernetes/containerd/containerd -id ${ID}`,
    want: shim('go'),
  },
  {
    name: 'Go shim with -debug after the id (09.txt)',
    cmd:
      '/opt/kata/bin/containerd-shim-kata-v2 -namespace k8s.io ' +
      `-address /run/containerd/containerd.sock -id ${ID} -debug`,
    want: shim('go'),
  },
  {
    name: 'runtime-rs shim, -id first',
    cmd:
      `/opt/kata/runtime-rs/bin/containerd-shim-kata-v2 -id ${ID} ` +
      '-namespace k8s.io -address /run/containerd/containerd.sock',
    want: shim('rust'),
  },
  {
    name: 'wrapped shim containerd-shim-kata-fc-v2',
    cmd:
      '/usr/local/bin/containerd-shim-kata-fc-v2 -namespace default ' +
      `-address /run/containerd/containerd.sock -id ${ID}`,
    want: shim('go'),
  },
  {
    name: 'wrapped shim containerd-shim-kata-qemu-v2',
    cmd:
      '/opt/kata/bin/containerd-shim-kata-qemu-v2 -namespace moby ' +
      `-address /run/containerd/containerd.sock -id ${ID}`,
    want: shim('go'),
  },
  {
    name: 'shim with --id=',
    cmd: `containerd-shim-kata-v2 --id=${ID}`,
    want: shim(),
  },
  {
    name: 'runc shim',
    cmd:
      `containerd-shim-runc-v2 -namespace moby -id ${ID} ` +
      '-address /run/containerd/containerd.sock',
    want: undefined,
  },
  {
    name: 'shim cut after -id',
    cmd: 'containerd-shim-kata-v2 -namespace k8s.io -address /a.sock -id',
    want: undefined,
  },
  {
    name: 'qemu-virtiofs-system-x86_64, -m 2048M,slots,maxmem (01.txt)',
    cmd:
      `/data00/kata/bin/qemu-virtiofs-system-x86_64 -name sandbox-${ID} ` +
      '-uuid 5a34aed5-83d6-4bce-b7b0-7ec8534ecdba ' +
      `-qmp unix:/run/vc/vm/${ID}/qmp.sock,server,nowait ` +
      '-m 2048M,slots=10,maxmem=129191M -device pci-bridge,bus=pci.0',
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'qemu',
      memoryBytes: 2048 * MIB,
    },
  },
  {
    name: 'qemu-lite-system-x86_64 with -smp N,cores,...,maxcpus',
    cmd:
      `/usr/bin/qemu-lite-system-x86_64 -name sandbox-${ID} ` +
      '-smp 1,cores=1,threads=1,sockets=4,maxcpus=4 -m 10240M',
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'qemu',
      vcpus: 1,
      memoryBytes: 10240 * MIB,
    },
  },
  {
    name: 'qemu-system-ppc64, debug-threads, -smp cpus=2, -m size=4G',
    cmd:
      `qemu-system-ppc64 -name sandbox-${ID},debug-threads=on ` +
      '-smp cpus=2 -m size=4G',
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'qemu',
      vcpus: 2,
      memoryBytes: 4 * GIB,
    },
  },
  {
    name: 'QEMU cut inside -name',
    cmd: 'qemu-system-x86_64 -name sand',
    want: undefined,
  },
  {
    name: 'QEMU cut right after sandbox-',
    cmd: 'qemu-system-x86_64 -name sandbox-',
    want: undefined,
  },
  {
    name: 'plain QEMU VM',
    cmd: 'qemu-system-x86_64 -m 1G -hda disk.img',
    want: undefined,
  },
  {
    name: 'libvirt QEMU',
    cmd:
      '/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -S ' +
      '-object {"qom-type":"secret","id":"masterKey0","format":"raw"}',
    want: undefined,
  },
  {
    name: 'Cloud Hypervisor, Go runtime (06.txt)',
    cmd: `/opt/kata/bin/cloud-hypervisor --api-socket /run/vc/vm/${ID}/clh-api.sock`,
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'cloud-hypervisor',
      runtime: 'go',
    },
  },
  {
    name: 'Cloud Hypervisor, Rust runtime',
    cmd: `cloud-hypervisor --api-socket /run/kata/${ID}/ch-api.sock`,
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'cloud-hypervisor',
      runtime: 'rust',
    },
  },
  {
    name: 'Cloud Hypervisor, rootless, path= form',
    cmd:
      'cloud-hypervisor --api-socket ' +
      `path=/run/user/1002/run/vc/vm/${ID}/clh-api.sock`,
    want: {
      role: 'hypervisor',
      sandboxId: ID,
      idIsPrefix: false,
      hypervisor: 'cloud-hypervisor',
      runtime: 'go',
    },
  },
  {
    name: 'Cloud Hypervisor with an API socket that names no sandbox',
    cmd: 'cloud-hypervisor --api-socket fd=3',
    want: undefined,
  },
  {
    name: 'Firecracker, not jailed (17.txt paths)',
    cmd:
      'firecracker --api-sock ' +
      `/run/vc/firecracker/${ID32}/root/run/firecracker.socket --id ${ID32}`,
    want: {
      role: 'hypervisor',
      sandboxId: ID32,
      idIsPrefix: true,
      hypervisor: 'firecracker',
    },
  },
  {
    name: 'Firecracker named only by its path, short id (17.txt)',
    cmd:
      '/opt/kata/bin/firecracker-v1.4.0-x86_64 --api-sock ' +
      '/run/vc/firecracker-v1.4.0-x86_64/ubuntu/root/run/firecracker.socket',
    want: {
      role: 'hypervisor',
      sandboxId: 'ubuntu',
      idIsPrefix: false,
      hypervisor: 'firecracker',
    },
  },
  {
    name: 'jailer',
    cmd:
      `/opt/kata/bin/jailer --id ${ID32} --exec-file /usr/bin/firecracker ` +
      '--uid 0 --gid 0 --chroot-base-dir /run/vc --daemonize',
    want: {
      role: 'jailer',
      sandboxId: ID32,
      idIsPrefix: true,
      hypervisor: 'firecracker',
    },
  },
  {
    name: 'jailed Firecracker child, --id= form',
    cmd: `/firecracker --id=${ID32} --api-sock /run/firecracker.socket`,
    want: {
      role: 'hypervisor',
      sandboxId: ID32,
      idIsPrefix: true,
      hypervisor: 'firecracker',
      // Inside the jail nothing in argv says Kata: only a shim or state
      // directory of the same sandbox confirms it.
      unconfirmed: true,
    },
  },
  {
    name: 'virtiofsd-dax, -o source=<shared> (01.txt)',
    cmd:
      '/opt/kata/bin/virtiofsd-dax --fd=3 -o ' +
      `source=/run/kata-containers/shared/sandboxes/${ID}/shared -o cache=auto`,
    want: { role: 'virtiofsd', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'Rust virtiofsd on the ro directory',
    cmd:
      '/opt/kata/libexec/virtiofsd --shared-dir ' +
      `/run/kata-containers/shared/sandboxes/${ID}/ro --cache auto`,
    want: { role: 'virtiofsd', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'a file server under another name on the shared directory',
    cmd: `/usr/libexec/fsd -o source=/run/kata-containers/shared/sandboxes/${ID}`,
    want: { role: 'virtiofsd', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'nydusd',
    cmd:
      '/opt/kata/libexec/nydusd virtiofs --sock ' +
      `/run/vc/vm/${ID}/vhost-fs.sock --apisock /run/vc/vm/${ID}/nydusd-api.sock`,
    want: { role: 'nydusd', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'Kata 1.x kata-proxy',
    cmd:
      '/usr/libexec/kata-containers/kata-proxy ' +
      `-listen-socket unix:///run/vc/sbs/${ID}/proxy.sock ` +
      `-mux-socket /run/vc/sbs/${ID}/proxy.sock -sandbox ${ID}`,
    want: { role: 'kata-proxy', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'Kata 1.x kata-shim',
    cmd:
      '/usr/libexec/kata-containers/kata-shim ' +
      `-agent unix:///run/vc/sbs/${ID}/proxy.sock ` +
      '-container 2c7a -exec-id 2c7a',
    want: { role: 'kata-shim', sandboxId: ID, idIsPrefix: false },
  },
  {
    name: 'anything else on a sandbox state path',
    cmd: `socat - unix-connect:/run/vc/vm/${ID}/console.sock`,
    want: { role: 'other', sandboxId: ID, idIsPrefix: false },
  },
  { name: 'an unrelated process', cmd: 'sleep infinity', want: undefined },
  { name: 'an empty argv', cmd: '', want: undefined },
];

describe('classifyKataProcess', () => {
  for (const c of ARGV_CASES) {
    it(c.name, () => {
      const argv = c.cmd === '' ? [] : c.cmd.split(' ');
      assert.deepEqual(classifyKataProcess(argv), c.want);
    });
  }

  it('classifies every process line of the listings', async () => {
    const roles: string[] = [];
    for (const file of ['01.txt', '04.txt', '06.txt', '09.txt', '12.txt']) {
      for (const line of (await readListing(file)).split('\n')) {
        const cmd = / (\/\S+ .*)$/.exec(line)?.[1];
        if (cmd === undefined || line.startsWith('#')) continue;
        const kata = classifyKataProcess(cmd.split(' '));
        roles.push(`${file} ${kata?.role ?? '-'} ${kata?.hypervisor ?? ''}`);
      }
    }
    assert.deepEqual(roles, [
      '01.txt shim ',
      '01.txt virtiofsd ',
      '01.txt hypervisor qemu',
      '04.txt virtiofsd ',
      '04.txt hypervisor qemu',
      '06.txt hypervisor cloud-hypervisor',
      '06.txt shim ',
      '06.txt - ', // virtiofsd, argv cut before the shared directory
      '09.txt shim ',
      '09.txt hypervisor qemu',
      '12.txt shim ', // id cut by systemd-cgls: found in full via cgroup
      '12.txt - ',
    ]);
  });
});

describe('Kata argv helpers', () => {
  it('reads -flag value, --flag value and --flag=value', () => {
    const argv = ['x', '-a', '1', '--b', '2', '--c=3', '-d'];
    assert.equal(flagValue(argv, '-a'), '1');
    assert.equal(flagValue(argv, '--b'), '2');
    assert.equal(flagValue(argv, '--c'), '3');
    assert.equal(flagValue(argv, '-d'), undefined);
    assert.equal(flagValue(argv, '-e'), undefined);
    assert.equal(flagValue(['-a', 'argv0'], '-a'), undefined);
  });

  it('finds the sandbox id in Kata state and shared paths', () => {
    const cases: readonly [string, string | undefined][] = [
      [`unix:/run/vc/vm/${ID}/qmp.sock,server,nowait`, ID],
      [`/run/user/1002/run/vc/sbs/${ID}/persist.json`, ID],
      [`source=/run/kata-containers/shared/sandboxes/${ID}/shared`, ID],
      [`/run/kata-containers/shared/sandboxes/${ID}`, ID],
      ['/run/vc/vm/', undefined],
      ['/var/lib/docker/overlay2/abc/merged', undefined],
    ];
    for (const [arg, id] of cases) {
      assert.equal(sandboxFromPaths(['x', arg]), id, arg);
    }
  });

  it('reads boot vCPUs from -smp', () => {
    assert.equal(parseSmp('1,cores=1,threads=1,sockets=8,maxcpus=8'), 1);
    assert.equal(parseSmp('4'), 4);
    assert.equal(parseSmp('cpus=2'), 2);
    assert.equal(parseSmp('cpus=2,maxcpus=4'), 2);
    assert.equal(parseSmp('x'), undefined);
    assert.equal(parseSmp(''), undefined);
    assert.equal(parseSmp(undefined), undefined);
  });

  it('reads guest memory from -m in bytes, MiB when bare', () => {
    const cases: readonly [string | undefined, number | undefined][] = [
      ['2048M,slots=10,maxmem=129191M', 2048 * MIB],
      ['10240M,slots=10,maxmem=65438M', 10240 * MIB],
      ['size=4G', 4 * GIB],
      ['size=4G,slots=2,maxmem=8G', 4 * GIB],
      ['1G', GIB],
      ['1g', GIB],
      ['512', 512 * MIB],
      ['2048MB', 2048 * MIB],
      ['524288K', 512 * MIB],
      ['lots', undefined],
      ['', undefined],
      [undefined, undefined],
    ];
    for (const [raw, bytes] of cases) {
      assert.equal(parseQemuMemory(raw), bytes, String(raw));
    }
  });
});

/** The exposition lines of a pasted excerpt: comments and samples. */
function exposition(text: string): string {
  return text
    .split('\n')
    .filter((line) => /^(#|[a-zA-Z_:][\w:]*[{ ])/.test(line))
    .join('\n');
}

// A Go shim's GET /metrics, cut down: the agent's guest figures pass
// through unchanged (kata-containers src/agent/src/metrics.rs): meminfo in
// bytes, cpu_time per CPU ("0", "1", ...) and summed as cpu="total".
const SHIM_METRICS = `# HELP go_gc_duration_seconds A summary of the GC pause durations.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.3757e-05
go_gc_duration_seconds{quantile="1"} NaN
go_gc_duration_seconds_sum 0.000871541
go_gc_duration_seconds_count 14
# HELP kata_guest_cpu_time Guest CPU statistics.
# TYPE kata_guest_cpu_time gauge
kata_guest_cpu_time{cpu="0",item="guest"} 0
kata_guest_cpu_time{cpu="0",item="idle"} 41310
kata_guest_cpu_time{cpu="0",item="user"} 520
kata_guest_cpu_time{cpu="1",item="idle"} 41020
kata_guest_cpu_time{cpu="1",item="user"} 610
kata_guest_cpu_time{cpu="total",item="guest"} 40
kata_guest_cpu_time{cpu="total",item="guest_nice"} 2
kata_guest_cpu_time{cpu="total",item="idle"} 82330
kata_guest_cpu_time{cpu="total",item="iowait"} 95
kata_guest_cpu_time{cpu="total",item="irq"} 0
kata_guest_cpu_time{cpu="total",item="nice"} 7
kata_guest_cpu_time{cpu="total",item="softirq"} 21
kata_guest_cpu_time{cpu="total",item="steal"} 3
kata_guest_cpu_time{cpu="total",item="system"} 388
kata_guest_cpu_time{cpu="total",item="user"} 1130
# HELP kata_guest_meminfo Statistics about memory usage in the system.
# TYPE kata_guest_meminfo gauge
kata_guest_meminfo{item="active"} 4.4040192e+07
kata_guest_meminfo{item="mem_available"} 1.848578048e+09
kata_guest_meminfo{item="mem_free"} 1.796657152e+09
kata_guest_meminfo{item="mem_total"} 2.078842880e+09
# HELP kata_hypervisor_netdev Net devices statistics.
# TYPE kata_hypervisor_netdev gauge
kata_hypervisor_netdev{interface="tap0_kata",item="recv_bytes"} 15870
# HELP kata_shim_rpc_durations_histogram_milliseconds RPC latency distributions.
# TYPE kata_shim_rpc_durations_histogram_milliseconds histogram
kata_shim_rpc_durations_histogram_milliseconds_bucket{action="create",le="+Inf"} 1
kata_shim_rpc_durations_histogram_milliseconds_sum{action="create"} 512.5
`;

describe('parseKataGuestMetrics', () => {
  it('takes nothing it does not use from 20.txt (kata-monitor)', async () => {
    const text = exposition(await readListing('20.txt'));
    assert.match(text, /kata_guest_meminfo\{item="commit_limit"\}/);
    assert.deepEqual(parseKataGuestMetrics(text), {});
  });

  it('reads meminfo bytes and busy ticks of the aggregate cpu', () => {
    // user + nice + system + irq + softirq + steal: idle and iowait are
    // not busy, guest and guest_nice are inside user and nice already.
    assert.deepEqual(parseKataGuestMetrics(SHIM_METRICS), {
      memoryTotalBytes: 2078842880,
      memoryFreeBytes: 1796657152,
      memoryAvailableBytes: 1848578048,
      cpuBusyMs: 1130 + 7 + 388 + 0 + 21 + 3,
    });
  });

  it('also takes cpu="cpu" for the aggregate', () => {
    const text = [
      'kata_guest_cpu_time{cpu="cpu",item="user"} 1500',
      'kata_guest_cpu_time{cpu="cpu",item="system"} 250',
      'kata_guest_cpu_time{cpu="cpu",item="idle"} 52000',
      'kata_guest_cpu_time{cpu="cpu0",item="user"} 1500',
    ].join('\n');
    assert.deepEqual(parseKataGuestMetrics(text), { cpuBusyMs: 1750 });
  });

  it('accepts a sample timestamp, CRLF and the sandbox_id label', () => {
    const text =
      'kata_guest_meminfo{sandbox_id="5ec3",item="mem_total"} 1024 1587544993187\r\n';
    assert.deepEqual(parseKataGuestMetrics(text), { memoryTotalBytes: 1024 });
  });

  it('returns nothing for an empty scrape', () => {
    assert.deepEqual(parseKataGuestMetrics(''), {});
  });

  itRejects(parseKataGuestMetrics, [
    { name: 'a line that is no sample', text: 'INFO[0000] announce' },
    { name: 'a sample without a value', text: 'kata_guest_meminfo' },
    {
      name: 'a guest value that is no number',
      text: 'kata_guest_meminfo{item="mem_total"} lots',
    },
    {
      name: 'a guest value that is NaN',
      text: 'kata_guest_meminfo{item="mem_free"} NaN',
    },
    {
      name: 'garbage in the labels of a guest sample',
      text: 'kata_guest_meminfo{item="mem_total",oops} 1',
    },
  ]);
});

describe('parseLabels', () => {
  it('unescapes quotes, backslashes and newlines', () => {
    const labels = parseLabels(
      String.raw`a="x",b="y \"q\"",c="C:\\dir",d="two\nlines",e=""`,
    );
    assert.deepEqual(Object.fromEntries(labels), {
      a: 'x',
      b: 'y "q"',
      c: 'C:\\dir',
      d: 'two\nlines',
      e: '',
    });
  });

  it('keeps commas and equals signs inside values', () => {
    const labels = parseLabels('path="/a,b=c", item="x",');
    assert.deepEqual(Object.fromEntries(labels), { path: '/a,b=c', item: 'x' });
  });

  it('reads no labels from an empty set', () => {
    assert.equal(parseLabels('').size, 0);
  });

  itRejects(parseLabels, [
    { name: 'an unquoted value', text: 'item=mem_total' },
    { name: 'an unterminated value', text: 'item="mem_total' },
    { name: 'garbage after a label', text: 'item="x",oops' },
    { name: 'a label without a name', text: '="x"' },
  ]);
});

describe('parsePersistJson', () => {
  it('reads the hypervisor pid, type, vCPUs and memory', () => {
    const text = JSON.stringify({
      HypervisorState: { Pid: 8010, Type: 'qemu', VirtiofsDaemonPid: 8020 },
      Config: { HypervisorConfig: { NumVCPUs: 2, MemorySize: 2048 } },
    });
    assert.deepEqual(parsePersistJson(text), {
      hypervisorPid: 8010,
      virtiofsdPid: 8020,
      hypervisor: 'qemu',
      vcpus: 2,
      memoryBytes: 2 * GIB,
    });
  });

  it('reads the older top-level VirtiofsDaemonPid and NumVCPUsF', () => {
    const text = JSON.stringify({
      VirtiofsDaemonPid: 8020,
      Config: { HypervisorConfig: { NumVCPUsF: 4 } },
    });
    assert.deepEqual(parsePersistJson(text), { virtiofsdPid: 8020, vcpus: 4 });
  });

  it('treats fields of the wrong type as absent', () => {
    const text = JSON.stringify({
      HypervisorState: { Pid: '8010', Type: 7, VirtiofsDaemonPid: null },
      Config: { HypervisorConfig: { NumVCPUs: -1, MemorySize: 0 } },
    });
    assert.deepEqual(parsePersistJson(text), {});
  });

  it('treats JSON of the wrong shape as empty', () => {
    for (const text of [
      'null',
      '[]',
      '42',
      '"x"',
      '{}',
      '{"HypervisorState": [1, 2]}',
      '{"Config": {"HypervisorConfig": "qemu"}}',
    ]) {
      assert.deepEqual(parsePersistJson(text), {}, text);
    }
  });

  itRejects(parsePersistJson, [
    { name: 'an empty file', text: '' },
    { name: 'a file cut short', text: '{"HypervisorState": {"Pid": 80' },
    { name: 'text', text: 'not json' },
  ]);
});

describe('parseStateJson', () => {
  it('reads pid, virtiofsd pid and hypervisor type', () => {
    const text =
      '{"pid": 7000, "virtiofs_daemon_pid": 7100, "hypervisor_type": "dragonball"}';
    assert.deepEqual(parseStateJson(text), {
      hypervisorPid: 7000,
      virtiofsdPid: 7100,
      hypervisor: 'dragonball',
    });
  });

  it('treats fields of the wrong type as absent', () => {
    for (const text of [
      '{"pid": "7000", "virtiofs_daemon_pid": [], "hypervisor_type": ""}',
      '{"pid": 0, "hypervisor_type": null}',
      '[{"pid": 7000}]',
      'null',
    ]) {
      assert.deepEqual(parseStateJson(text), {}, text);
    }
  });

  itRejects(parseStateJson, [
    { name: 'an empty file', text: '' },
    { name: 'garbage', text: '\u0000\u0001' },
    { name: 'a file cut short', text: '{"pid": 7000,' },
  ]);
});

// cat /proc/self/smaps_rollup on the machine the tests were written on
// (kernel 6.18).
const SMAPS_ROLLUP = `557f10b6b000-7ffe63ac9000 ---p 00000000 00:00 0                          [rollup]
Rss:                1696 kB
Pss:                 269 kB
Pss_Dirty:           116 kB
Pss_Anon:            116 kB
Pss_File:            153 kB
Pss_Shmem:             0 kB
Shared_Clean:       1540 kB
Shared_Dirty:          0 kB
Private_Clean:        40 kB
Private_Dirty:       116 kB
Referenced:         1696 kB
Anonymous:           116 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`;

// Kernels 4.14 to 5.8 have smaps_rollup but no Pss_Anon/File/Shmem.
const OLD_SMAPS_ROLLUP = SMAPS_ROLLUP.split('\n')
  .filter((line) => !/^Pss_(Anon|File|Shmem|Dirty):/.test(line))
  .join('\n');

describe('parseSmapsRollup', () => {
  it('reads RSS and PSS in bytes', () => {
    assert.deepEqual(parseSmapsRollup(SMAPS_ROLLUP), {
      rssBytes: 1696 * 1024,
      pssBytes: 269 * 1024,
      pssAnonBytes: 116 * 1024,
      pssFileBytes: 153 * 1024,
      pssShmemBytes: 0,
    });
  });

  it('leaves the PSS split absent on kernels before 5.9', () => {
    assert.deepEqual(parseSmapsRollup(OLD_SMAPS_ROLLUP), {
      rssBytes: 1696 * 1024,
      pssBytes: 269 * 1024,
      pssAnonBytes: undefined,
      pssFileBytes: undefined,
      pssShmemBytes: undefined,
    });
  });

  itRejects(parseSmapsRollup, [
    { name: 'an empty file (a kernel thread)', text: '' },
    { name: 'no Pss', text: 'Rss:                1696 kB\n' },
    { name: 'Rss not in kB', text: 'Rss: 1696 MB\nPss: 269 kB\n' },
  ]);
});

describe('ParseError', () => {
  it('names the format', () => {
    assert.throws(
      () => parseStateJson('{'),
      (error: unknown) =>
        error instanceof ParseError && error.format === 'state.json',
    );
  });
});
