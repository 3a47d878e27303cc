import { readdir, readlink } from 'node:fs/promises';
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
import { readText } from './read.js';

/**
 * The clock tick of /proc times (USER_HZ). The kernel exports 100 on every
 * architecture it supports, whatever CONFIG_HZ is; Node cannot call sysconf.
 */
export const TICKS_PER_SECOND = 100;

/**
 * Reads /proc under an injectable root (`--path.procfs`), so the same code
 * reads the live host, a host mounted at /host/proc, or a fixture tree.
 * Errors propagate as thrown; callers decide what "gone" means to them.
 */
export class ProcFs {
  constructor(readonly root: string) {}

  path(...parts: (string | number)[]): string {
    return join(this.root, ...parts.map(String));
  }

  async stat(): Promise<ProcStat> {
    return parseProcStat(await readText(this.path('stat')));
  }

  async meminfo(): Promise<Meminfo> {
    return parseMeminfo(await readText(this.path('meminfo')));
  }

  /** Numeric entries of the root: every process visible to us. */
  async pids(): Promise<number[]> {
    const names = await readdir(this.root);
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  async pidStat(pid: number): Promise<PidStat> {
    return parsePidStat(await readText(this.path(pid, 'stat')));
  }

  async pidStatus(pid: number): Promise<PidStatus> {
    return parsePidStatus(await readText(this.path(pid, 'status')));
  }

  async cmdline(pid: number): Promise<string[]> {
    return parseCmdline(await readText(this.path(pid, 'cmdline')));
  }

  async cgroups(pid: number): Promise<CgroupMembership[]> {
    return parsePidCgroup(await readText(this.path(pid, 'cgroup')));
  }

  async io(pid: number): Promise<PidIo> {
    return parsePidIo(await readText(this.path(pid, 'io')));
  }

  /** The interfaces of the network namespace that `pid` lives in. */
  async netDev(pid: number): Promise<InterfaceCounters[]> {
    return parseNetDev(await readText(this.path(pid, 'net', 'dev')));
  }

  /** PSS and RSS of a process (kernel 4.14+); needs ptrace access. */
  async smapsRollup(pid: number): Promise<SmapsRollup> {
    return parseSmapsRollup(await readText(this.path(pid, 'smaps_rollup')));
  }

  /** Thread ids of a process. */
  async tasks(pid: number): Promise<number[]> {
    const names = await readdir(this.path(pid, 'task'));
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  /** /proc/<pid>/task/<tid>/stat: one thread's times and name. */
  async taskStat(pid: number, tid: number): Promise<PidStat> {
    return parsePidStat(await readText(this.path(pid, 'task', tid, 'stat')));
  }

  /**
   * Child processes, from every thread's `children` file (a child belongs
   * to the thread that forked it). Needs CONFIG_PROC_CHILDREN.
   */
  async children(pid: number): Promise<number[]> {
    const out: number[] = [];
    for (const tid of await this.tasks(pid)) {
      const text = await readText(this.path(pid, 'task', tid, 'children'));
      for (const word of text.split(/\s+/))
        if (/^\d+$/.test(word)) out.push(Number(word));
    }
    return out;
  }

  /** The network namespace a process lives in, e.g. `net:[4026531992]`. */
  async netNamespace(pid: number | 'self'): Promise<string> {
    return readlink(this.path(pid, 'ns', 'net'));
  }
}
