import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { statLine } from './kata-tree.js';

/**
 * A generated host whose workloads come and go: a /proc tree, a cgroup v2
 * root and a run directory in a temporary directory, written and removed
 * as a test starts and stops containers and Kata-shaped microVMs. Each
 * container is a process in its own cgroup below /docker; each microVM is
 * a Go-runtime shim, a QEMU with a vCPU thread and a virtiofsd in
 * cgroup /kata_<id>, with persist.json and a shim-monitor.sock that
 * answers like a real shim.
 */

const MIB = 2 ** 20;
/** The host's own network namespace, as /proc/1/ns/net names it. */
const HOST_NET_NS = 'net:[4026531840]';

export interface ChurnHost {
  /** Pass to `new ProcFs(...)`. */
  readonly proc: string;
  /** Pass to `new CgroupResolver(procfs, ...)`. */
  readonly cgroup: string;
  /** Pass as Kata's `runDir`. */
  readonly run: string;
  /** Moves the host's CPU clock on by one second (two CPUs busy). */
  tick(): void;
  startContainer(n: number): ContainerProcess;
  /** The process exits and its cgroup is removed, as runc leaves it. */
  stopContainer(container: ContainerProcess): void;
  startSandbox(n: number): Promise<SandboxProcesses>;
  /** The shim, QEMU and virtiofsd exit; the state and socket go. */
  stopSandbox(sandbox: SandboxProcesses): Promise<void>;
  remove(): Promise<void>;
}

export interface ContainerProcess {
  /** 64 hex digits, as Docker's ids. */
  readonly id: string;
  readonly pid: number;
}

export interface SandboxProcesses {
  readonly id: string;
  readonly shimPid: number;
  readonly qemuPid: number;
  readonly virtiofsdPid: number;
}

/** A Docker-style id, the same for the same `seed`. */
export function hexId(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/**
 * Files are written synchronously: thousands of workloads pass through a
 * run, and each would otherwise cost a dozen thread-pool round trips.
 */
function put(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Memory-backed where the host has it, as /proc and cgroupfs are. */
function scratchDir(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** Writes a new, empty host into a temporary directory. */
export function createChurnHost(): ChurnHost {
  const root = mkdtempSync(join(scratchDir(), 'ms-churn-'));
  const proc = join(root, 'proc');
  const cgroup = join(root, 'cgroup');
  const run = join(root, 'run');
  const monitors = new Map<string, Server>();
  let nextPid = 1000;
  let seconds = 0;

  put(join(cgroup, 'cgroup.controllers'), 'cpu io memory pids\n');
  put(join(proc, 'meminfo'), 'MemTotal: 8388608 kB\nMemFree: 4194304 kB\n');
  writeProcStat(proc, seconds);
  writeProcess(proc, {
    pid: 1,
    ppid: 0,
    argv: ['/sbin/init'],
    cgroup: '/',
    netNs: HOST_NET_NS,
  });
  mkdirSync(run, { recursive: true });

  return {
    proc,
    cgroup,
    run,

    tick() {
      seconds += 1;
      writeProcStat(proc, seconds);
    },

    startContainer(n) {
      const id = hexId(`container-${n}`);
      const pid = nextPid++;
      const dir = join(cgroup, 'docker', id);
      writeCgroup(dir, [pid], n);
      writeProcess(proc, {
        pid,
        ppid: 1,
        argv: ['sleep', '3600'],
        cgroup: `/docker/${id}`,
        netNs: `net:[${4026532000 + pid}]`,
      });
      return { id, pid };
    },

    stopContainer(container) {
      rmSync(join(proc, String(container.pid)), { recursive: true });
      rmSync(join(cgroup, 'docker', container.id), { recursive: true });
    },

    async startSandbox(n) {
      const id = `vm${String(n).padStart(5, '0')}`;
      const [shimPid, qemuPid, virtiofsdPid] = [
        nextPid++,
        nextPid++,
        nextPid++,
      ];
      const sandboxCgroup = `/kata_${id}`;
      const netNs = `net:[${4026532000 + qemuPid}]`;
      const sbs = join(run, 'vc', 'sbs', id);
      const shared = join(run, 'kata-containers', 'shared', 'sandboxes', id);
      writeCgroup(
        join(cgroup, sandboxCgroup.slice(1)),
        [shimPid, qemuPid, virtiofsdPid],
        n,
      );
      writeProcess(proc, {
        pid: shimPid,
        ppid: 1,
        argv: [
          '/opt/kata/bin/containerd-shim-kata-v2',
          ...['-namespace', 'default', '-address', '/run/containerd.sock'],
          ...['-publish-binary', '/usr/bin/containerd', '-id', id],
        ],
        cgroup: sandboxCgroup,
        netNs: HOST_NET_NS,
        children: [virtiofsdPid],
      });
      writeProcess(proc, {
        pid: qemuPid,
        ppid: 1,
        argv: [
          '/usr/bin/qemu-system-x86_64',
          ...['-name', `sandbox-${id},debug-threads=on`],
          ...['-m', '256M', '-smp', '1', '-machine', 'q35,accel=tcg'],
        ],
        cgroup: sandboxCgroup,
        netNs,
        threads: [{ tid: qemuPid + 100_000, comm: 'CPU 0/TCG' }],
        smapsPssBytes: 200 * MIB,
      });
      writeProcess(proc, {
        pid: virtiofsdPid,
        ppid: shimPid,
        argv: [
          '/usr/libexec/virtiofsd',
          `--socket-path=${join(run, 'vc', 'vm', id, 'vhost-fs.sock')}`,
          `--shared-dir=${shared}`,
        ],
        cgroup: sandboxCgroup,
        netNs: HOST_NET_NS,
        smapsPssBytes: 100 * MIB,
      });
      put(
        join(sbs, 'persist.json'),
        JSON.stringify({
          HypervisorState: {
            Pid: qemuPid,
            VirtiofsDaemonPid: virtiofsdPid,
            Type: 'qemu',
          },
          Config: { HypervisorConfig: { NumVCPUs: 1, MemorySize: 256 } },
        }),
      );
      monitors.set(id, await serveShimMonitor(join(sbs, 'shim-monitor.sock')));
      return { id, shimPid, qemuPid, virtiofsdPid };
    },

    async stopSandbox(sandbox) {
      const monitor = monitors.get(sandbox.id);
      monitors.delete(sandbox.id);
      if (monitor !== undefined) await closeServer(monitor);
      const { shimPid, qemuPid, virtiofsdPid } = sandbox;
      for (const pid of [shimPid, qemuPid, virtiofsdPid]) {
        rmSync(join(proc, String(pid)), { recursive: true });
      }
      rmSync(join(cgroup, `kata_${sandbox.id}`), { recursive: true });
      rmSync(join(run, 'vc', 'sbs', sandbox.id), { recursive: true });
    },

    async remove() {
      await Promise.all([...monitors.values()].map(closeServer));
      monitors.clear();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** /proc/stat of a two-CPU host `seconds` into its life, half busy. */
function writeProcStat(proc: string, seconds: number): void {
  const ticks = 100 * seconds;
  put(
    join(proc, 'stat'),
    `cpu  ${ticks} 0 0 ${ticks} 0 0 0 0 0 0\n` +
      `cpu0 ${ticks / 2} 0 0 ${ticks / 2} 0 0 0 0 0 0\n` +
      `cpu1 ${ticks / 2} 0 0 ${ticks / 2} 0 0 0 0 0 0\n` +
      'btime 1796315416\n',
  );
}

/** A cgroup v2 directory with the files the agent reads, sized by `n`. */
function writeCgroup(dir: string, pids: readonly number[], n: number): void {
  const memory = (8 + (n % 64)) * MIB;
  const files: Record<string, string> = {
    'cgroup.procs': pids.map((pid) => `${pid}\n`).join(''),
    'cpu.stat': `usage_usec ${1000 * n}\nuser_usec ${600 * n}\nsystem_usec ${400 * n}\n`,
    'cpu.max': n % 2 === 0 ? 'max 100000\n' : '50000 100000\n',
    'memory.current': `${memory}\n`,
    'memory.stat': `anon ${memory / 2}\nfile ${memory / 2}\ninactive_file ${memory / 4}\n`,
    'memory.max': n % 3 === 0 ? 'max\n' : `${512 * MIB}\n`,
    'pids.current': `${pids.length}\n`,
    'pids.max': 'max\n',
    'io.stat': `8:0 rbytes=${4096 * n} wbytes=${1024 * n} rios=1 wios=1\n`,
  };
  for (const [name, text] of Object.entries(files)) {
    put(join(dir, name), text);
  }
}

interface ProcessSpec {
  readonly pid: number;
  readonly ppid: number;
  readonly argv: readonly string[];
  readonly cgroup: string;
  /** What /proc/<pid>/ns/net links to. */
  readonly netNs: string;
  readonly children?: readonly number[];
  readonly threads?: readonly { readonly tid: number; readonly comm: string }[];
  /** Writes smaps_rollup with this PSS; without it, the file is absent. */
  readonly smapsPssBytes?: number;
}

/** One process: the files the agent's discovery and sampling read. */
function writeProcess(proc: string, p: ProcessSpec): void {
  const dir = join(proc, String(p.pid));
  const exe = p.argv[0] ?? '';
  const comm = exe.slice(exe.lastIndexOf('/') + 1).slice(0, 15);
  const threads = 1 + (p.threads?.length ?? 0);
  put(join(dir, 'cmdline'), p.argv.map((a) => `${a}\0`).join(''));
  put(join(dir, 'stat'), statLine(p.pid, comm, p.ppid, threads));
  put(
    join(dir, 'status'),
    `Name:\t${comm}\nState:\tS (sleeping)\nPid:\t${p.pid}\nPPid:\t${p.ppid}\n` +
      `VmRSS:\t    8192 kB\nRssAnon:\t    6144 kB\nRssFile:\t    2048 kB\n` +
      `RssShmem:\t       0 kB\nThreads:\t${threads}\n`,
  );
  put(join(dir, 'cgroup'), `0::${p.cgroup}\n`);
  put(
    join(dir, 'io'),
    `rchar: 1024\nwchar: 512\nread_bytes: ${4096 * p.pid}\n` +
      'write_bytes: 4096\ncancelled_write_bytes: 0\n',
  );
  put(
    join(dir, 'net', 'dev'),
    'Inter-|   Receive                            |  Transmit\n' +
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
      '    lo:     999       9    0    0    0     0          0         0      999       9    0    0    0     0       0          0\n' +
      `  eth0: ${2048 * p.pid} 16    0    0    0     0          0         0 ${1024 * p.pid} 8    0    0    0     0       0          0\n`,
  );
  mkdirSync(join(dir, 'ns'), { recursive: true });
  symlinkSync(p.netNs, join(dir, 'ns', 'net'));
  if (p.smapsPssBytes !== undefined) {
    const kib = p.smapsPssBytes / 1024;
    put(
      join(dir, 'smaps_rollup'),
      `Rss: ${kib} kB\nPss: ${kib} kB\nPss_Anon: ${kib / 2} kB\n` +
        `Pss_File: ${kib / 4} kB\nPss_Shmem: ${kib / 4} kB\n`,
    );
  }
  const children = (p.children ?? []).map((c) => `${c} `).join('');
  put(join(dir, 'task', String(p.pid), 'children'), children);
  put(
    join(dir, 'task', String(p.pid), 'stat'),
    statLine(p.pid, comm, p.ppid, threads),
  );
  for (const t of p.threads ?? []) {
    put(join(dir, 'task', String(t.tid), 'children'), '');
    put(
      join(dir, 'task', String(t.tid), 'stat'),
      statLine(t.tid, t.comm, p.ppid, threads),
    );
  }
}

/** What a Go shim serves on GET /metrics: the guest's own figures. */
const GUEST_METRICS =
  'kata_guest_meminfo{item="mem_total"} 268435456\n' +
  'kata_guest_meminfo{item="mem_available"} 134217728\n' +
  'kata_guest_meminfo{item="mem_free"} 100663296\n' +
  'kata_guest_cpu_time{cpu="total",item="user"} 1500\n' +
  'kata_guest_cpu_time{cpu="total",item="idle"} 90000\n';

async function serveShimMonitor(socketPath: string): Promise<Server> {
  const server = createServer((_req, res) => {
    res.end(GUEST_METRICS);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return server;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
