import { readdirSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { parseCmdline } from '../parse/cmdline.js';
import { parseMeminfo, type Meminfo } from '../parse/meminfo.js';
import { parseNetDev, type InterfaceCounters } from '../parse/net-dev.js';
import { parsePidCgroup, type CgroupMembership } from '../parse/pid-cgroup.js';
import { parsePidIo, type PidIo } from '../parse/pid-io.js';
import { parsePidStat, type PidStat } from '../parse/pid-stat.js';
import { parsePidStatus, type PidStatus } from '../parse/pid-status.js';
import { parseProcStat, type ProcStat } from '../parse/proc-stat.js';
import { parseSmapsRollup, type SmapsRollup } from '../parse/smaps-rollup.js';
import { readTextSync, type ReadText } from './read.js';

/**
 * The clock tick of /proc times (USER_HZ). The kernel exports 100 on every
 * architecture it supports, whatever CONFIG_HZ is; Node cannot call sysconf.
 */
export const TICKS_PER_SECOND = 100;

/**
 * Reads /proc under an injectable root (`--path.procfs`), so the same code
 * reads the live host, a host mounted at /host/proc, or a fixture tree.
 * Errors propagate as thrown; callers decide what "gone" means to them.
 *
 * File reads are synchronous, as every kernel-file read is (host/read.ts);
 * only the listing of all of /proc, which can hold tens of thousands of
 * entries, goes through the thread pool.
 */
export class ProcFs {
  constructor(
    readonly root: string,
    private readonly read: ReadText = readTextSync,
  ) {
    // Joined once: path() runs for every file of every sample.
    this.base = join(root, '/');
  }

  private readonly base: string;

  /**
   * The same /proc, its files read through `read`: the sampler's view,
   * which holds the files it reads every second open (host/held-files.ts).
   */
  holding(read: ReadText): ProcFs {
    return new ProcFs(this.root, read);
  }

  /** A path below the root; parts are names, never `..` or absolute. */
  path(...parts: (string | number)[]): string {
    return this.base + parts.join('/');
  }

  stat(): ProcStat {
    return parseProcStat(this.read(this.path('stat')));
  }

  meminfo(): Meminfo {
    return parseMeminfo(this.read(this.path('meminfo')));
  }

  /** Numeric entries of the root: every process visible to us. */
  async pids(): Promise<number[]> {
    const names = await readdir(this.root);
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  pidStat(pid: number): PidStat {
    return parsePidStat(this.read(this.path(pid, 'stat')));
  }

  pidStatus(pid: number): PidStatus {
    return parsePidStatus(this.read(this.path(pid, 'status')));
  }

  cmdline(pid: number): string[] {
    return parseCmdline(this.read(this.path(pid, 'cmdline')));
  }

  cgroups(pid: number): CgroupMembership[] {
    return parsePidCgroup(this.read(this.path(pid, 'cgroup')));
  }

  io(pid: number): PidIo {
    return parsePidIo(this.read(this.path(pid, 'io')));
  }

  /** The interfaces of the network namespace that `pid` lives in. */
  netDev(pid: number): InterfaceCounters[] {
    return parseNetDev(this.read(this.path(pid, 'net', 'dev')));
  }

  /** PSS and RSS of a process (kernel 4.14+); needs ptrace access. */
  smapsRollup(pid: number): SmapsRollup {
    return parseSmapsRollup(this.read(this.path(pid, 'smaps_rollup')));
  }

  /** Thread ids of a process. */
  tasks(pid: number): number[] {
    const names = readdirSync(this.path(pid, 'task'));
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  /** /proc/<pid>/task/<tid>/stat: one thread's times and name. */
  taskStat(pid: number, tid: number): PidStat {
    return parsePidStat(this.read(this.path(pid, 'task', tid, 'stat')));
  }

  /**
   * Child processes, from every thread's `children` file (a child belongs
   * to the thread that forked it). Needs CONFIG_PROC_CHILDREN.
   */
  children(pid: number): number[] {
    const out: number[] = [];
    for (const tid of this.tasks(pid)) {
      const text = this.read(this.path(pid, 'task', tid, 'children'));
      for (const word of text.split(/\s+/))
        if (/^\d+$/.test(word)) out.push(Number(word));
    }
    return out;
  }

  /** The network namespace a process lives in, e.g. `net:[4026531992]`. */
  netNamespace(pid: number | 'self'): string {
    return readlinkSync(this.path(pid, 'ns', 'net'));
  }
}
