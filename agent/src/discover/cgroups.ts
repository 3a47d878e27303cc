import { readlink } from 'node:fs/promises';
import { join } from 'node:path';

import {
  detectLayout,
  findCgroupOf,
  resolveCgroup,
  type CgroupLayout,
  type NamespaceRoots,
} from '../host/cgroupfs.js';
import type { ProcFs } from '../host/procfs.js';
import { isDenied, isGone, readTextIfPresent } from '../host/read.js';
import type { CgroupLocation } from '../model.js';
import { parsePidList } from '../parse/cgroup-files.js';
import type { CgroupMembership } from '../parse/pid-cgroup.js';

/**
 * Finds a process's cgroups from its /proc/<pid>/cgroup and the layout of
 * the cgroup root, which is detected once: mounts do not change under a
 * running agent.
 */
export class CgroupResolver {
  private layout: Promise<CgroupLayout> | undefined;
  private roots: Promise<NamespaceRoots> | undefined;

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
      return await this.resolve(this.procfs.cgroups(pid));
    } catch (error: unknown) {
      if (isGone(error)) return undefined;
      throw error;
    }
  }

  /** Resolves /proc/<pid>/cgroup lines against this host's tree. */
  async resolve(
    memberships: readonly CgroupMembership[],
  ): Promise<CgroupLocation | undefined> {
    const layout = await this.getLayout();
    this.roots ??= this.namespaceRoots(layout);
    return resolveCgroup(layout, memberships, await this.roots);
  }

  /**
   * Where the agent's cgroup namespace is rooted in each hierarchy. Docker
   * gives every container a private cgroup namespace on cgroup v2 hosts,
   * as Kubernetes does every pod; then the paths in /proc/<pid>/cgroup are
   * relative to the agent's own cgroup, and a sibling container shows as
   * `/../<id>`. The agent's own line says where it is as it sees it; if its
   * pid is not in that directory of the host's tree, the directory that
   * does list it (found once by a walk) less that path is the root.
   */
  private async namespaceRoots(layout: CgroupLayout): Promise<NamespaceRoots> {
    const roots = new Map<string, string>();
    let self: number;
    let own: CgroupMembership[];
    try {
      self = Number(await readlink(this.procfs.path('self')));
      own = this.procfs.cgroups(self);
    } catch (error: unknown) {
      // A procfs without `self` (a fixture tree) or hidden from us: paths
      // are taken as the host's.
      if (isGone(error) || isDenied(error)) return roots;
      throw error;
    }
    for (const m of own) {
      const mount =
        m.controllers.length === 0
          ? m.hierarchyId === 0
            ? layout.unified
            : undefined
          : m.controllers
              .map((c) => layout.v1.get(c))
              .find((d) => d !== undefined);
      if (mount === undefined || roots.has(mount)) continue;
      if (await listsPid(join(mount, m.path), self)) continue;
      const found = await findCgroupOf(mount, self);
      const suffix = m.path === '/' ? '' : m.path;
      if (found !== undefined && found.endsWith(suffix)) {
        roots.set(mount, found.slice(0, found.length - suffix.length));
      }
    }
    return roots;
  }
}

async function listsPid(dir: string, pid: number): Promise<boolean> {
  const text = await readTextIfPresent(join(dir, 'cgroup.procs')).catch(
    () => undefined,
  );
  return text !== undefined && parsePidList('cgroup.procs', text).includes(pid);
}
