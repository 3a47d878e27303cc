import {
  detectLayout,
  resolveCgroup,
  type CgroupLayout,
} from '../host/cgroupfs.js';
import type { ProcFs } from '../host/procfs.js';
import { isGone } from '../host/read.js';
import type { CgroupLocation } from '../model.js';

/**
 * Finds a process's cgroups from its /proc/<pid>/cgroup and the layout of
 * the cgroup root, which is detected once: mounts do not change under a
 * running agent.
 */
export class CgroupResolver {
  private layout: Promise<CgroupLayout> | undefined;

  constructor(
    private readonly procfs: ProcFs,
    private readonly cgroupRoot: string,
  ) {}

  getLayout(): Promise<CgroupLayout> {
    this.layout ??= detectLayout(this.cgroupRoot);
    return this.layout;
  }

  /** The cgroup of `pid`, or undefined when the process is gone. */
  async forPid(pid: number): Promise<CgroupLocation | undefined> {
    try {
      return resolveCgroup(
        await this.getLayout(),
        await this.procfs.cgroups(pid),
      );
    } catch (error: unknown) {
      if (isGone(error)) return undefined;
      throw error;
    }
  }
}
