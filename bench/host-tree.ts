import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Writes a made-up host of `n` workloads for the benchmark: a /proc tree,
 * a cgroup tree (v1 with co-mounted cpu,cpuacct, or v2), a run directory
 * and the Docker Engine answers that describe the containers. A tenth of
 * the workloads are Kata-shaped QEMU microVMs (shim, QEMU with vCPU
 * threads, virtiofsd), the rest runc containers with their cgroup files.
 */

export type Layout = 'v1' | 'v2';

export interface GeneratedHost {
  readonly proc: string;
  readonly cgroup: string;
  readonly run: string;
  /** A recording for test/unit/docker-fixture-server.ts. */
  readonly dockerRecording: string;
  readonly containers: number;
  readonly microvms: number;
  remove(): Promise<void>;
}

const V1_CONTROLLERS = ['cpu,cpuacct', 'memory', 'pids', 'blkio'];
/** A pid space above anything a real host fixture would collide with. */
const FIRST_PID = 10_000;
const VCPU_THREADS = 2;

export async function generateHost(
  n: number,
  layout: Layout,
): Promise<GeneratedHost> {
  const root = await mkdtemp(join(tmpdir(), `microstat-bench-${layout}-`));
  const host = {
    proc: join(root, 'proc'),
    cgroup: join(root, 'cgroup'),
    run: join(root, 'run'),
    dockerRecording: join(root, 'docker.json'),
    microvms: Math.round(n / 10),
    containers: n - Math.round(n / 10),
    remove: () => rm(root, { recursive: true, force: true }),
  };
  await mkdir(host.run, { recursive: true });
  await writeHostFiles(host.proc, host.cgroup, layout);

  const recorded: unknown[] = [];
  let pid = FIRST_PID;
  for (let i = 0; i < host.containers; i++, pid += 1) {
    const id = hexId(i, 'c');
    await writeContainer(host, layout, id, pid);
    recorded.push(inspectAnswer(id, `ms-bench-gen-${i}`, pid));
  }
  for (let i = 0; i < host.microvms; i++, pid += 10) {
    await writeMicroVm(host, layout, hexId(i, 'a'), pid);
  }
  await writeFile(
    host.dockerRecording,
    JSON.stringify({ version: VERSION_ANSWER, containers: recorded }),
  );
  return host;
}

function hexId(i: number, tag: string): string {
  return `${tag}${i.toString(16).padStart(7, '0')}`.repeat(8);
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

async function writeHostFiles(
  proc: string,
  cgroup: string,
  layout: Layout,
): Promise<void> {
  await put(join(proc, 'stat'), PROC_STAT);
  await put(join(proc, 'meminfo'), MEMINFO);
  await mkdir(join(proc, '1', 'ns'), { recursive: true });
  await symlink('net:[4026531840]', join(proc, '1', 'ns', 'net'));
  if (layout === 'v2') {
    await put(join(cgroup, 'cgroup.controllers'), 'cpu io memory pids\n');
    return;
  }
  for (const controller of V1_CONTROLLERS) {
    await put(join(cgroup, controller, 'cgroup.procs'), '');
  }
  await symlink('cpu,cpuacct', join(cgroup, 'cpu'));
  await symlink('cpu,cpuacct', join(cgroup, 'cpuacct'));
}

interface HostDirs {
  readonly proc: string;
  readonly cgroup: string;
}

/** /proc/<pid>/cgroup for a member of `path` in every hierarchy. */
function membership(layout: Layout, path: string): string {
  if (layout === 'v2') return `0::${path}\n`;
  return [
    `5:blkio:${path}`,
    `4:pids:${path}`,
    `3:memory:${path}`,
    `2:cpu,cpuacct:${path}`,
    `0::/`,
    '',
  ].join('\n');
}

async function writeCgroupFiles(
  host: HostDirs,
  layout: Layout,
  path: string,
  pids: readonly number[],
  seed: number,
): Promise<void> {
  const procs = pids.map((p) => `${p}\n`).join('');
  const usage = 20_000_000 + seed * 4096;
  if (layout === 'v2') {
    const dir = join(host.cgroup, path);
    await put(join(dir, 'cgroup.procs'), procs);
    await put(join(dir, 'cpu.stat'), cpuStatV2(seed));
    await put(join(dir, 'memory.current'), `${usage}\n`);
    await put(join(dir, 'memory.stat'), memoryStatV2(seed));
    await put(
      join(dir, 'memory.max'),
      seed % 3 === 0 ? 'max\n' : '268435456\n',
    );
    await put(join(dir, 'pids.current'), `${pids.length}\n`);
    await put(join(dir, 'pids.max'), 'max\n');
    await put(
      join(dir, 'io.stat'),
      `8:0 rbytes=${seed * 512} wbytes=4096 ` +
        'rios=3 wios=1 dbytes=0 dios=0\n',
    );
    return;
  }
  const at = (controller: string, file: string): string =>
    join(host.cgroup, controller, path, file);
  for (const controller of V1_CONTROLLERS)
    await put(at(controller, 'cgroup.procs'), procs);
  await put(at('cpu,cpuacct', 'cpuacct.usage'), `${seed * 1_000_003}\n`);
  await put(at('memory', 'memory.usage_in_bytes'), `${usage}\n`);
  await put(at('memory', 'memory.stat'), memoryStatV1(seed));
  await put(at('memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
  await put(at('pids', 'pids.current'), `${pids.length}\n`);
  await put(at('pids', 'pids.max'), 'max\n');
  await put(
    at('blkio', 'blkio.throttle.io_service_bytes_recursive'),
    `8:0 Read ${seed * 512}\n8:0 Write 4096\n8:0 Sync 0\n8:0 Async 0\n` +
      `8:0 Discard 0\n8:0 Total ${seed * 512 + 4096}\nTotal 0\n`,
  );
}

/** The files of one process; `threads` are extra task names. */
async function writeProcess(
  host: HostDirs,
  layout: Layout,
  proc: ProcessSpec,
): Promise<void> {
  const dir = join(host.proc, String(proc.pid));
  const comm = (proc.argv[0] ?? '').split('/').pop()?.slice(0, 15) ?? '';
  const threads = proc.threads ?? [];
  const stat = statLine(proc.pid, comm, proc.ppid, 1 + threads.length);
  await put(join(dir, 'cmdline'), proc.argv.map((a) => `${a}\0`).join(''));
  await put(join(dir, 'stat'), stat);
  await put(join(dir, 'status'), statusText(proc.pid, comm, threads.length));
  await put(join(dir, 'cgroup'), membership(layout, proc.cgroup));
  await put(join(dir, 'io'), IO_TEXT);
  await put(join(dir, 'smaps_rollup'), SMAPS_ROLLUP);
  await put(join(dir, 'net', 'dev'), netDev(proc.pid));
  await mkdir(join(dir, 'ns'), { recursive: true });
  await symlink(`net:[${4026532000 + proc.netns}]`, join(dir, 'ns', 'net'));
  const children = (proc.children ?? []).map((c) => `${c} `).join('');
  await put(join(dir, 'task', String(proc.pid), 'stat'), stat);
  await put(join(dir, 'task', String(proc.pid), 'children'), children);
  for (const [i, name] of threads.entries()) {
    const tid = proc.pid + 5 + i;
    const task = join(dir, 'task', String(tid));
    // A process's own times include its threads': keep threads' smaller.
    await put(join(task, 'stat'), statLine(tid, name, proc.ppid, 1, 10));
    await put(join(task, 'children'), '');
  }
}

interface ProcessSpec {
  readonly pid: number;
  readonly ppid: number;
  readonly argv: readonly string[];
  readonly cgroup: string;
  /** Network namespace number: each workload has its own. */
  readonly netns: number;
  readonly threads?: readonly string[];
  readonly children?: readonly number[];
}

async function writeContainer(
  host: HostDirs,
  layout: Layout,
  id: string,
  pid: number,
): Promise<void> {
  const cgroup =
    layout === 'v2' ? `/system.slice/docker-${id}.scope` : `/docker/${id}`;
  await writeProcess(host, layout, {
    pid,
    ppid: 1,
    argv: ['/bin/sh', '-c', 'sleep 3600'],
    cgroup,
    netns: pid,
  });
  await writeCgroupFiles(host, layout, cgroup, [pid], pid);
}

async function writeMicroVm(
  host: HostDirs,
  layout: Layout,
  id: string,
  shim: number,
): Promise<void> {
  const qemu = shim + 1;
  const virtiofsd = shim + 2;
  const cgroup = `/kata_${id}`;
  const shared = `/run/kata-containers/shared/sandboxes/${id}/shared`;
  const processes: ProcessSpec[] = [
    {
      pid: shim,
      ppid: 1,
      argv: [
        '/usr/bin/containerd-shim-kata-v2',
        '-namespace',
        'k8s.io',
        '-address',
        '/run/containerd/containerd.sock',
        '-id',
        id,
      ],
      cgroup,
      netns: shim,
      children: [virtiofsd],
    },
    {
      pid: qemu,
      ppid: 1,
      argv: [
        '/usr/bin/qemu-system-x86_64',
        '-name',
        `sandbox-${id}`,
        '-qmp',
        `unix:/run/vc/vm/${id}/qmp.sock,server=on,wait=off`,
        '-m',
        '2048M,slots=10,maxmem=8192M',
        '-smp',
        `1,cores=1,threads=1,sockets=${VCPU_THREADS},maxcpus=${VCPU_THREADS}`,
      ],
      cgroup,
      netns: shim,
      threads: [
        ...Array.from({ length: VCPU_THREADS }, (_, i) => `CPU ${i}/KVM`),
        'qemu-system-x86',
      ],
    },
    {
      pid: virtiofsd,
      ppid: shim,
      argv: ['/usr/libexec/virtiofsd', '--fd=3', '-o', `source=${shared}`],
      cgroup,
      netns: shim,
    },
  ];
  for (const p of processes) await writeProcess(host, layout, p);
  await writeCgroupFiles(host, layout, cgroup, [shim, qemu, virtiofsd], shim);
}

function inspectAnswer(id: string, name: string, pid: number): unknown {
  return {
    Id: id,
    Name: `/${name}`,
    State: { Status: 'running', Running: true, Pid: pid },
    HostConfig: { Runtime: 'runc', NetworkMode: 'bridge' },
    Config: { Image: 'local/busybox', Labels: { team: 'bench' } },
  };
}

function statLine(
  pid: number,
  comm: string,
  ppid: number,
  threads: number,
  utime = 1000 + (pid % 997),
): string {
  return (
    `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1024 0 0 0 ` +
    `${utime} 120 0 0 20 0 ${threads} 0 98765 104857600 2048 ` +
    '18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 ' +
    '0 0 0 0 0 0 0 0 0 0\n'
  );
}

function statusText(pid: number, comm: string, threads: number): string {
  return (
    `Name:\t${comm}\nState:\tS (sleeping)\nTgid:\t${pid}\nPid:\t${pid}\n` +
    `PPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n` +
    'VmRSS:\t    8192 kB\nRssAnon:\t    6144 kB\nRssFile:\t    2048 kB\n' +
    `RssShmem:\t       0 kB\nThreads:\t${1 + threads}\n`
  );
}

function netDev(seed: number): string {
  return (
    'Inter-|   Receive                            ' +
    '                    |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|' +
    'bytes    packets errs drop fifo colls carrier compressed\n' +
    '    lo:       0       0    0    0    0     0          0         0 ' +
    '       0       0    0    0    0     0       0          0\n' +
    `  eth0: ${seed * 7}     120    0    0    0     0          0  ` +
    `       0 ${seed * 3}      80    0    0    0     0       0          0\n`
  );
}

function cpuStatV2(seed: number): string {
  return (
    `usage_usec ${seed * 1009}\nuser_usec ${seed * 700}\n` +
    `system_usec ${seed * 309}\nnr_periods 0\nnr_throttled 0\n` +
    'throttled_usec 0\n'
  );
}

function memoryStatV2(seed: number): string {
  const keys = [
    ['anon', 12_000_000 + seed],
    ['file', 8_000_000],
    ['kernel_stack', 16384],
    ['shmem', 0],
    ['file_mapped', 1_000_000],
    ['active_anon', 0],
    ['inactive_anon', 12_000_000],
    ['active_file', 4_000_000],
    ['inactive_file', 4_000_000],
    ['unevictable', 0],
    ['pgfault', 1200],
    ['pgmajfault', 3],
  ] as const;
  return keys.map(([k, v]) => `${k} ${v}\n`).join('');
}

function memoryStatV1(seed: number): string {
  const base = [
    ['cache', 8_000_000],
    ['rss', 12_000_000 + seed],
    ['mapped_file', 1_000_000],
    ['pgpgin', 5000],
    ['pgpgout', 1000],
    ['inactive_anon', 0],
    ['active_anon', 12_000_000],
    ['inactive_file', 4_000_000],
    ['active_file', 4_000_000],
    ['hierarchical_memory_limit', 9223372036854771712],
  ] as const;
  return base
    .flatMap(([k, v]) => [`${k} ${v}`, `total_${k} ${v}`])
    .map((line) => `${line}\n`)
    .join('');
}

const VERSION_ANSWER = {
  Version: '20.10.24+dfsg1',
  ApiVersion: '1.41',
  MinAPIVersion: '1.12',
  Os: 'linux',
  Arch: 'amd64',
};

const IO_TEXT =
  'rchar: 120000\nwchar: 4000\nsyscr: 50\nsyscw: 10\n' +
  'read_bytes: 40960\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n';

const SMAPS_ROLLUP =
  '55d0c0a00000-7ffd1b5fe000 ---p 00000000 00:00 0    [rollup]\n' +
  'Rss:              104448 kB\nPss:               52224 kB\n' +
  'Pss_Anon:          40960 kB\nPss_File:          11264 kB\n' +
  'Pss_Shmem:             0 kB\nShared_Clean:      10240 kB\n' +
  'Private_Dirty:     40960 kB\nSwap:                  0 kB\n';

const PROC_STAT =
  'cpu  6682 0 3277 82348 376 0 77 12 0 0\n' +
  'cpu0 2738 0 1161 42439 24 0 14 4 0 0\n' +
  'cpu1 3943 0 2116 39908 352 0 62 7 0 0\n' +
  'ctxt 798246\nbtime 1796315416\nprocesses 10508\n' +
  'procs_running 1\nprocs_blocked 0\n';

const MEMINFO =
  'MemTotal:       24683664 kB\nMemFree:        24121844 kB\n' +
  'MemAvailable:   24256432 kB\nBuffers:            4056 kB\n' +
  'Cached:           305724 kB\nSwapTotal:             0 kB\n';
