import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds fixture hosts for Kata discovery: a /proc tree, a cgroup v2 root
 * and a run directory in a temporary directory, made from the real `ps`
 * listings in test/fixtures/kata-ps or from processes a test makes up.
 */

/** Listings are not compiled: from dist/test/unit the root is three up. */
const LISTINGS = new URL('../../../test/fixtures/kata-ps/', import.meta.url);

/** Where a pasted excerpt was cut; the argv before it is kept. */
const TRUNCATED = ' [... truncated in source excerpt]';

/** One process of a fixture host. */
export interface FixtureProcess {
  readonly pid: number;
  /** 1 where the listing does not say (`ps aux`, `systemd-cgls`). */
  readonly ppid: number;
  readonly argv: readonly string[];
  /** The cgroup v2 path, `/` unless given. */
  readonly cgroup?: string;
  /** Real uid, 0 unless given. */
  readonly uid?: number;
  /** Threads besides the main one, with their names (`comm`). */
  readonly threads?: readonly FixtureThread[];
}

export interface FixtureThread {
  readonly tid: number;
  readonly comm: string;
}

export interface HostSpec {
  readonly processes: readonly FixtureProcess[];
  /** Files below the run directory, by relative path, with their text. */
  readonly runFiles?: Readonly<Record<string, string>>;
  /** Empty directories below the run directory. */
  readonly runDirs?: readonly string[];
}

/** A fixture host on disk. Call `remove()` when done. */
export interface KataHost {
  /** Pass to `new ProcFs(...)`. */
  readonly proc: string;
  /** Pass to `new CgroupResolver(procfs, ...)`. */
  readonly cgroup: string;
  /** Pass as `runDir`: Kata's state directories live below it. */
  readonly run: string;
  remove(): Promise<void>;
}

/** The text of test/fixtures/kata-ps/<name>. */
export async function readListing(name: string): Promise<string> {
  return readFile(fileURLToPath(new URL(name, LISTINGS)), 'utf8');
}

// ps -ef: UID PID PPID C STIME TTY TIME CMD
const PS_EF = /^\S+ +(\d+) +(\d+) +\d+ +\S+ +\S+ +\d[\d:-]* +(\S.*)$/;
// ps aux: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND
const PS_AUX =
  /^\S+ +(\d+) +[\d.]+ +[\d.]+ +\d+ +\d+ +\S+ +\S+ +\S+ +\d[\d:.-]* +(\S.*)$/;
// systemd-cgls: `│ ├─<name>` for a cgroup, `│ ├─<pid> <cmd>` for a process.
const CGLS_ENTRY = /^([│ ]*)[├└]─(.*)$/;
const CGLS_HEADER = /^Control group (\S+):$/;

/**
 * The processes of one listing, in order. Lines that are not process lines
 * (comments, shell prompts, log lines, metric samples) are skipped.
 */
export function parseListing(text: string): FixtureProcess[] {
  const out: FixtureProcess[] = [];
  // systemd-cgls: the cgroup names of the enclosing entries, by depth.
  let base = '/';
  const stack: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(TRUNCATED, '').trimEnd();
    if (line.startsWith('#')) continue;

    const header = CGLS_HEADER.exec(line);
    if (header?.[1] !== undefined) {
      base = header[1];
      stack.length = 0;
      continue;
    }
    const entry = CGLS_ENTRY.exec(line);
    if (entry !== null) {
      const depth = (entry[1] ?? '').length / 2;
      const process = /^(\d+) (.+)$/.exec(entry[2] ?? '');
      if (process === null) {
        stack.length = depth;
        stack.push(entry[2] ?? '');
        continue;
      }
      // systemd-cgls marks a command it cut with a trailing ">".
      const cmd = (process[2] ?? '').replace(/>$/, '');
      const cgroup = join(base, ...stack.slice(0, depth));
      out.push({ pid: Number(process[1]), ppid: 1, argv: split(cmd), cgroup });
      continue;
    }

    const ef = PS_EF.exec(line);
    if (ef !== null) {
      out.push({ pid: Number(ef[1]), ppid: Number(ef[2]), argv: split(ef[3]) });
      continue;
    }
    const aux = PS_AUX.exec(line);
    if (aux !== null) {
      out.push({ pid: Number(aux[1]), ppid: 1, argv: split(aux[2]) });
    }
  }
  return out;
}

function split(cmd: string | undefined): string[] {
  return (cmd ?? '').split(' ').filter((arg) => arg !== '');
}

/** Writes a host holding `spec` into a new temporary directory. */
export async function buildHost(spec: HostSpec): Promise<KataHost> {
  const root = await mkdtemp(join(tmpdir(), 'microstat-kata-'));
  const host: KataHost = {
    proc: join(root, 'proc'),
    cgroup: join(root, 'sys', 'fs', 'cgroup'),
    run: join(root, 'run'),
    remove: () => rm(root, { recursive: true, force: true }),
  };
  try {
    await writeProc(host.proc, spec.processes);
    await writeCgroups(host.cgroup, spec.processes);
    await mkdir(host.run, { recursive: true });
    for (const dir of spec.runDirs ?? []) {
      await mkdir(join(host.run, dir), { recursive: true });
    }
    for (const [path, text] of Object.entries(spec.runFiles ?? {})) {
      await put(join(host.run, path), text);
    }
  } catch (error: unknown) {
    await host.remove();
    throw error;
  }
  return host;
}

/** Builds the host of one listing plus any synthetic extras. */
export async function listingHost(
  name: string,
  extra: Partial<HostSpec> = {},
): Promise<KataHost> {
  const processes = parseListing(await readListing(name));
  return buildHost({
    ...extra,
    processes: [...processes, ...(extra.processes ?? [])],
  });
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

async function writeProc(
  proc: string,
  processes: readonly FixtureProcess[],
): Promise<void> {
  const children = new Map<number, number[]>();
  for (const p of processes) {
    children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  }

  await put(join(proc, 'stat'), PROC_STAT);
  await put(join(proc, 'meminfo'), MEMINFO);
  for (const p of processes) {
    const dir = join(proc, String(p.pid));
    const comm = commOf(p.argv);
    const threads = 1 + (p.threads?.length ?? 0);
    const stat = statLine(p.pid, comm, p.ppid, threads);
    await put(join(dir, 'cmdline'), p.argv.map((a) => `${a}\0`).join(''));
    await put(join(dir, 'comm'), `${comm}\n`);
    await put(join(dir, 'stat'), stat);
    await put(join(dir, 'status'), statusText(p, comm, threads));
    await put(join(dir, 'cgroup'), `0::${p.cgroup ?? '/'}\n`);

    // The kernel lists a child under the thread that forked it; here the
    // main thread forked them all. Every thread has a children file.
    const own = (children.get(p.pid) ?? []).map((pid) => `${pid} `).join('');
    await put(join(dir, 'task', String(p.pid), 'stat'), stat);
    await put(join(dir, 'task', String(p.pid), 'children'), own);
    for (const t of p.threads ?? []) {
      const task = join(dir, 'task', String(t.tid));
      await put(join(task, 'stat'), statLine(t.tid, t.comm, p.ppid, threads));
      await put(join(task, 'children'), '');
    }
  }
}

/** A cgroup v2 root; one directory with `cgroup.procs` per cgroup used. */
async function writeCgroups(
  root: string,
  processes: readonly FixtureProcess[],
): Promise<void> {
  const members = new Map<string, number[]>([['/', []]]);
  for (const p of processes) {
    const path = p.cgroup ?? '/';
    members.set(path, [...(members.get(path) ?? []), p.pid]);
  }
  await put(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  for (const [path, pids] of members) {
    const text = pids.map((pid) => `${pid}\n`).join('');
    await put(join(root, path, 'cgroup.procs'), text);
  }
}

/** `comm`: the executable's base name cut to 15 bytes, as the kernel does. */
function commOf(argv: readonly string[]): string {
  const exe = argv[0] ?? '';
  return exe.slice(exe.lastIndexOf('/') + 1).slice(0, 15);
}

/** A /proc/<pid>/stat line (proc(5)), all 52 fields. */
export function statLine(
  pid: number,
  comm: string,
  ppid: number,
  threads: number,
): string {
  const fields = [
    `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560`,
    '1024 0 0 0 250 120 0 0 20 0', // minflt..cmajflt, utime, stime, ..., nice
    `${threads} 0 98765 104857600 2048`, // threads, starttime, vsize, rss
    '18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0',
    '0 0 0 0 0 0 0 0 0 0',
  ];
  return `${fields.join(' ')}\n`;
}

function statusText(p: FixtureProcess, comm: string, threads: number): string {
  const uid = p.uid ?? 0;
  return [
    `Name:\t${comm}`,
    'Umask:\t0022',
    'State:\tS (sleeping)',
    `Tgid:\t${p.pid}`,
    'Ngid:\t0',
    `Pid:\t${p.pid}`,
    `PPid:\t${p.ppid}`,
    'TracerPid:\t0',
    `Uid:\t${uid}\t${uid}\t${uid}\t${uid}`,
    `Gid:\t${uid}\t${uid}\t${uid}\t${uid}`,
    `NStgid:\t${p.pid}`,
    `NSpid:\t${p.pid}`,
    'VmRSS:\t    8192 kB',
    'RssAnon:\t    6144 kB',
    'RssFile:\t    2048 kB',
    'RssShmem:\t       0 kB',
    `Threads:\t${threads}`,
    '',
  ].join('\n');
}

const PROC_STAT = `cpu  6682 0 3277 82348 376 0 77 12 0 0
cpu0 2738 0 1161 42439 24 0 14 4 0 0
cpu1 3943 0 2116 39908 352 0 62 7 0 0
ctxt 798246
btime 1796315416
processes 10508
procs_running 1
procs_blocked 0
`;

const MEMINFO = `MemTotal:       24683664 kB
MemFree:        24121844 kB
MemAvailable:   24256432 kB
Buffers:            4056 kB
Cached:           305724 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Shmem:              9736 kB
`;
