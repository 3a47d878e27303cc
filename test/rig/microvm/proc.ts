import { readdir, readFile } from 'node:fs/promises';

/**
 * Small /proc readers for the rig and its self-test, written apart from the
 * agent's parsers on purpose: the tests compare the agent with these.
 */

export interface ProcStat {
  readonly ppid: number;
  /** One letter: R, S, D, Z, ... (proc(5), field 3). */
  readonly state: string;
  /** utime + stime, in clock ticks (USER_HZ, 100 on Linux x86). */
  readonly cpuTicks: number;
}

export interface MemoryFootprint {
  readonly rssKiB: number;
  readonly pssKiB: number;
  /** Shared memory (shmem, /dev/shm) part of Pss. */
  readonly pssShmemKiB: number;
}

/** Parses /proc/<pid>/stat; comm may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const fields = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // fields[0] is field 3 of proc(5): state, ppid at 4, utime 14, stime 15.
  const number = (field: number): number => Number(fields[field - 3]);
  return {
    state: fields[0] ?? '',
    ppid: number(4),
    cpuTicks: number(14) + number(15),
  };
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True while `pid` exists and is not a zombie waiting to be reaped. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** argv from /proc/<pid>/cmdline; empty for kernel threads and zombies. */
export async function readArgv(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  const argv = text.split('\0');
  if (argv.at(-1) === '') argv.pop();
  return argv;
}

/** Rss, Pss and Pss_Shmem from /proc/<pid>/smaps_rollup (kB there). */
export async function readFootprint(pid: number): Promise<MemoryFootprint> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (match?.[1] === undefined) {
      throw new Error(`no ${name} in /proc/${pid}/smaps_rollup`);
    }
    return Number(match[1]);
  };
  return {
    rssKiB: field('Rss'),
    pssKiB: field('Pss'),
    pssShmemKiB: field('Pss_Shmem'),
  };
}

/** Pids whose parent is `pid`, found by scanning /proc. */
export async function childPids(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readProcStat(Number(name));
    if (stat?.ppid === pid) children.push(Number(name));
  }
  return children;
}
