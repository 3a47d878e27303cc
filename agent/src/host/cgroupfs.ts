import { readdir, stat } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';

import type { CgroupLocation, Controller, WorkloadUsage } from '../model.js';
import {
  parseBlkioServiceBytes,
  parseCfsQuota,
  parseCpuMax,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parsePidList,
  parseSingleValue,
  type BlockBytes,
} from '../parse/cgroup-files.js';
import type { CgroupMembership } from '../parse/pid-cgroup.js';
import { isGone, readTextSync, type ReadText } from './read.js';

const CONTROLLERS: readonly Controller[] = [
  'cpu',
  'cpuacct',
  'memory',
  'pids',
  'blkio',
];

/**
 * How the cgroup tree under the root is mounted: v1 controllers each at a
 * directory (`cpu,cpuacct` co-mounted with `cpu` and `cpuacct` symlinks on
 * most distributions), a v2 hierarchy at the root (pure v2) or at `unified`
 * (hybrid), or both.
 */
export interface CgroupLayout {
  readonly v1: ReadonlyMap<string, string>;
  readonly unified: string | undefined;
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';

export function layoutMode(layout: CgroupLayout): CgroupMode {
  if (layout.v1.size > 0) return layout.unified === undefined ? 'v1' : 'hybrid';
  return layout.unified === undefined ? 'none' : 'v2';
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error: unknown) {
    if (isGone(error)) return false;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error: unknown) {
    if (isGone(error)) return false;
    throw error;
  }
}

/**
 * Works out the layout from the directory itself rather than from
 * /proc/self/mountinfo, so that an injected root (a fixture tree, or the
 * host's tree bind-mounted into a container) is read the same way.
 */
export async function detectLayout(root: string): Promise<CgroupLayout> {
  if (await exists(join(root, 'cgroup.controllers'))) {
    return { v1: new Map(), unified: root };
  }
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error: unknown) {
    if (isGone(error)) return { v1, unified };
    throw error;
  }
  for (const name of names.sort()) {
    const dir = join(root, name);
    if (!(await isDir(dir))) continue;
    if (name === 'unified' && (await exists(join(dir, 'cgroup.controllers')))) {
      unified = dir;
      continue;
    }
    for (const controller of name.split(',')) {
      if (!v1.has(controller)) v1.set(controller, dir);
    }
  }
  return { v1, unified };
}

/**
 * Resolves where a process's cgroups live from its /proc/<pid>/cgroup. v1
 * controllers win when mounted (that is where docker stats reads on a
 * hybrid host); otherwise the v2 `0::` line. Paths that would leave the
 * root (a foreign cgroup namespace shows `/../..`) resolve to nothing.
 */
export function resolveCgroup(
  layout: CgroupLayout,
  memberships: readonly CgroupMembership[],
  namespaceRoots?: NamespaceRoots,
): CgroupLocation | undefined {
  const inside = (mount: string, path: string): string | undefined =>
    within(mount, namespaceRoots?.get(mount) ?? mount, path);
  const dirs: Partial<Record<Controller, string>> = {};
  let found = false;
  for (const m of memberships) {
    for (const c of m.controllers) {
      const mount = layout.v1.get(c);
      if (mount === undefined || !CONTROLLERS.includes(c as Controller))
        continue;
      const dir = inside(mount, m.path);
      if (dir === undefined) continue;
      dirs[c as Controller] = dir;
      found = true;
    }
  }
  if (found) return { version: 1, dirs };

  const v2 = memberships.find(
    (m) => m.hierarchyId === 0 && m.controllers.length === 0,
  );
  if (layout.unified === undefined || v2 === undefined) return undefined;
  const dir = inside(layout.unified, v2.path);
  return dir === undefined ? undefined : { version: 2, dir };
}

/**
 * Where a reader in a private cgroup namespace has its namespace root in
 * each hierarchy, keyed by the hierarchy's mount directory. Paths in
 * /proc/<pid>/cgroup are relative to the reader's namespace root, so such
 * a reader sees a sibling container as `/../<id>`.
 */
export type NamespaceRoots = ReadonlyMap<string, string>;

/** `path` below `base`, as long as the result stays below `mount`. */
function within(mount: string, base: string, path: string): string | undefined {
  // No trailing separator: the root cgroup's `/` must not leave one.
  const dir = join(base, path).replace(/(.)\/+$/, '$1');
  const rel = relative(mount, dir);
  // `..` or `../x` leaves the mount; a cgroup named `..foo` does not.
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    return undefined;
  return dir;
}

/**
 * Reads a file under a cgroup dir; undefined when the file or dir is gone.
 * Synchronous like every kernel-file read (see host/read.ts).
 */
function readIn(
  dir: string | undefined,
  file: string,
  read: ReadText = readTextSync,
): string | undefined {
  if (dir === undefined) return undefined;
  try {
    // Concatenated, not join()ed: dirs come resolved, and this runs for
    // every file of every sample.
    return read(`${dir}/${file}`);
  } catch (error: unknown) {
    if (isGone(error)) return undefined;
    throw error;
  }
}

/** The v1 block I/O files, most preferred first. */
const V1_BLKIO_FILES = [
  'blkio.io_service_bytes_recursive',
  'blkio.throttle.io_service_bytes_recursive',
  'blkio.throttle.io_service_bytes',
] as const;

function mapped<T>(
  text: string | undefined,
  parse: (text: string) => T,
): T | undefined {
  return text === undefined ? undefined : parse(text);
}

/** The counters of a cgroup: what changes from one second to the next. */
export type CgroupCounters = Pick<
  WorkloadUsage,
  | 'cpuSeconds'
  | 'memoryUsageBytes'
  | 'memoryRssBytes'
  | 'memoryCacheBytes'
  | 'pids'
  | 'blockReadBytes'
  | 'blockWriteBytes'
>;

/** The limits of a cgroup: what only `docker update` or a cgroup write moves. */
export type CgroupLimits = Pick<
  WorkloadUsage,
  'cpuLimitCores' | 'memoryLimit' | 'pidsLimit'
>;

/**
 * Reads a cgroup's counters the way docker stats does (docker/cli
 * stats_helpers.go): memory usage is usage minus inactive file pages unless
 * that would go negative; block I/O sums Read and Write over devices.
 */
export function readCgroupCounters(
  location: CgroupLocation,
  read: ReadText = readTextSync,
  absentBlkioFiles?: Set<string>,
): CgroupCounters {
  return location.version === 1
    ? countersV1(location.dirs, read, absentBlkioFiles)
    : countersV2(location.dir, read);
}

/** Reads a cgroup's CPU quota, memory limit and pids limit. */
export function readCgroupLimits(location: CgroupLocation): CgroupLimits {
  return location.version === 1
    ? limitsV1(location.dirs)
    : limitsV2(location.dir);
}

/** Counters and limits together, as one reading. */
export function readCgroupUsage(location: CgroupLocation): WorkloadUsage {
  return { ...readCgroupCounters(location), ...readCgroupLimits(location) };
}

function countersV1(
  dirs: Partial<Record<Controller, string>>,
  read: ReadText,
  absentBlkioFiles: Set<string> | undefined,
): CgroupCounters {
  const usageNs = readIn(dirs.cpuacct, 'cpuacct.usage', read);
  const memUsage = readIn(dirs.memory, 'memory.usage_in_bytes', read);
  const memStat = readIn(dirs.memory, 'memory.stat', read);
  const pids = readIn(dirs.pids, 'pids.current', read);
  const blkio = readV1Blkio(dirs.blkio, read, absentBlkioFiles);

  const stat = mapped(memStat, (t) => parseFlatKeyed('memory.stat', t));
  // Hierarchical totals first: they include child cgroups.
  const pick = (key: string): number | undefined =>
    stat?.get(`total_${key}`) ?? stat?.get(key);
  const usage = mapped(memUsage, (t) =>
    parseSingleValue('memory.usage_in_bytes', t),
  );

  return {
    cpuSeconds: mapped(
      usageNs,
      (t) => parseSingleValue('cpuacct.usage', t) / 1e9,
    ),
    memoryUsageBytes: workingSet(usage, pick('inactive_file')),
    memoryRssBytes: pick('rss'),
    memoryCacheBytes: pick('cache'),
    pids: mapped(pids, (t) => parseSingleValue('pids.current', t)),
    blockReadBytes: blkio?.readBytes,
    blockWriteBytes: blkio?.writeBytes,
  };
}

function limitsV1(dirs: Partial<Record<Controller, string>>): CgroupLimits {
  const memLimit = readIn(dirs.memory, 'memory.limit_in_bytes');
  const pidsMax = readIn(dirs.pids, 'pids.max');
  const quota = readIn(dirs.cpu, 'cpu.cfs_quota_us');
  const period = readIn(dirs.cpu, 'cpu.cfs_period_us');
  return {
    cpuLimitCores:
      quota === undefined || period === undefined
        ? undefined
        : parseCfsQuota(quota, period),
    memoryLimit: mapped(memLimit, (t) =>
      parseLimit('memory.limit_in_bytes', t),
    ),
    pidsLimit: mapped(pidsMax, (t) => parseLimit('pids.max', t)),
  };
}

/**
 * v1 block I/O: the CFQ/BFQ-independent `blkio.io_service_bytes_recursive`
 * where the kernel fills it, else the throttle policy's counters, which
 * every v1 kernel keeps (the same order containerd's cgroups library uses).
 *
 * Kernels without CFQ or BFQ (every kernel since 5.0 unless BFQ is loaded)
 * have no `blkio.io_service_bytes_recursive` in any cgroup. A caller that
 * passes `absentBlkioFiles` has the files learnt missing skipped from then
 * on, instead of one failed open per container per sample; a file counts
 * as missing once a later one is found in the same cgroup. (Were BFQ
 * loaded later, the throttle counters would go on being read: they count
 * the same bytes at the block layer.)
 */
function readV1Blkio(
  dir: string | undefined,
  read: ReadText,
  absentBlkioFiles: Set<string> | undefined,
): BlockBytes | undefined {
  const missing: string[] = [];
  for (const file of V1_BLKIO_FILES) {
    if (absentBlkioFiles?.has(file) === true) continue;
    const text = readIn(dir, file, read);
    if (text === undefined) {
      missing.push(file);
      continue;
    }
    for (const name of missing) absentBlkioFiles?.add(name);
    const bytes = parseBlkioServiceBytes(file, text);
    if (bytes !== undefined) return bytes;
    // An existing but empty throttle file means no I/O yet: zeros.
    if (file.startsWith('blkio.throttle')) {
      return { readBytes: 0, writeBytes: 0 };
    }
  }
  return undefined;
}

function countersV2(dir: string, read: ReadText): CgroupCounters {
  const cpuStat = readIn(dir, 'cpu.stat', read);
  const memCurrent = readIn(dir, 'memory.current', read);
  const memStat = readIn(dir, 'memory.stat', read);
  const pids = readIn(dir, 'pids.current', read);
  const ioStat = readIn(dir, 'io.stat', read);

  const cpu = mapped(cpuStat, (t) => parseFlatKeyed('cpu.stat', t));
  const stat = mapped(memStat, (t) => parseFlatKeyed('memory.stat', t));
  const usage = mapped(memCurrent, (t) =>
    parseSingleValue('memory.current', t),
  );
  const usec = cpu?.get('usage_usec');
  const io = mapped(ioStat, (t) => parseIoStat('io.stat', t));

  return {
    cpuSeconds: usec === undefined ? undefined : usec / 1e6,
    memoryUsageBytes: workingSet(usage, stat?.get('inactive_file')),
    memoryRssBytes: stat?.get('anon'),
    memoryCacheBytes: stat?.get('file'),
    pids: mapped(pids, (t) => parseSingleValue('pids.current', t)),
    blockReadBytes: io?.readBytes,
    blockWriteBytes: io?.writeBytes,
  };
}

function limitsV2(dir: string): CgroupLimits {
  const memMax = readIn(dir, 'memory.max');
  const pidsMax = readIn(dir, 'pids.max');
  const cpuMax = readIn(dir, 'cpu.max');
  return {
    cpuLimitCores: mapped(cpuMax, (t) => parseCpuMax('cpu.max', t)),
    memoryLimit: mapped(memMax, (t) => parseLimit('memory.max', t)),
    pidsLimit: mapped(pidsMax, (t) => parseLimit('pids.max', t)),
  };
}

/** docker stats' MEM USAGE: usage minus inactive file, unless not below it. */
export function workingSet(
  usage: number | undefined,
  inactiveFile: number | undefined,
): number | undefined {
  if (usage === undefined) return undefined;
  if (inactiveFile === undefined || inactiveFile >= usage) return usage;
  return usage - inactiveFile;
}

/** The directories of a cgroup location, one per mounted controller. */
export function cgroupDirs(location: CgroupLocation): string[] {
  if (location.version === 2) return [location.dir];
  return [...new Set(Object.values(location.dirs))];
}

/**
 * The processes in a cgroup (cgroup.procs), from the first controller
 * directory that lists any: v1 hierarchies hold the same tasks.
 */
export function readCgroupPids(location: CgroupLocation): number[] {
  const dirs =
    location.version === 2
      ? [location.dir]
      : [
          location.dirs.pids,
          location.dirs.memory,
          location.dirs.cpuacct,
          location.dirs.cpu,
        ];
  for (const dir of dirs) {
    const text = readIn(dir, 'cgroup.procs');
    if (text !== undefined) return parsePidList('cgroup.procs', text);
  }
  return [];
}

/**
 * The directory below `mount` whose cgroup.procs lists `pid`, found by a
 * breadth-first walk of at most `maxDirs` directories. Used once, to find
 * where the agent's own private cgroup namespace is rooted.
 */
export async function findCgroupOf(
  mount: string,
  pid: number,
  maxDirs = 100_000,
): Promise<string | undefined> {
  const queue = [mount];
  for (let seen = 0; seen < queue.length && seen < maxDirs; seen++) {
    const dir = queue[seen] ?? mount;
    let procs: string | undefined;
    try {
      procs = readIn(dir, 'cgroup.procs');
    } catch {
      procs = undefined;
    }
    if (
      procs !== undefined &&
      parsePidList('cgroup.procs', procs).includes(pid)
    ) {
      return dir;
    }
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error: unknown) {
      if (isGone(error)) continue;
      throw error;
    }
    for (const e of entries) if (e.isDirectory()) queue.push(join(dir, e.name));
  }
  return undefined;
}
