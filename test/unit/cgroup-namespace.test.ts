import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CgroupResolver } from '../../agent/src/discover/cgroups.js';
import {
  detectLayout,
  findCgroupOf,
  resolveCgroup,
} from '../../agent/src/host/cgroupfs.js';
import { ProcFs } from '../../agent/src/host/procfs.js';

/**
 * An agent in a private cgroup namespace (Docker's default on cgroup v2,
 * every Kubernetes pod) reads /proc/<pid>/cgroup relative to its own
 * cgroup: a sibling container shows as `0::/../<id>`. The resolver finds
 * its own cgroup once and resolves every path from there.
 */
describe('cgroup paths seen from a private cgroup namespace', () => {
  const AGENT_PID = 77;
  const ID = 'abc123';
  let root = '';
  let cgroup = '';
  /** /proc as the agent in its private namespace reads it. */
  let privateProc = '';
  /** /proc as an agent in the host's namespace reads it. */
  let hostProc = '';

  async function file(path: string, text: string): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'microstat-cgroupns-'));
    cgroup = join(root, 'cgroup');
    await file(join(cgroup, 'cgroup.controllers'), 'cpu memory pids io\n');
    await file(join(cgroup, 'cgroup.procs'), '1\n');
    await file(
      join(cgroup, 'docker', 'agent', 'cgroup.procs'),
      `${AGENT_PID}\n`,
    );
    await file(join(cgroup, 'docker', ID, 'cgroup.procs'), '500\n');

    privateProc = join(root, 'private-proc');
    await file(join(privateProc, String(AGENT_PID), 'cgroup'), '0::/\n');
    await symlink(String(AGENT_PID), join(privateProc, 'self'));
    await file(join(privateProc, '500', 'cgroup'), `0::/../${ID}\n`);

    hostProc = join(root, 'host-proc');
    await file(
      join(hostProc, String(AGENT_PID), 'cgroup'),
      '0::/docker/agent\n',
    );
    await symlink(String(AGENT_PID), join(hostProc, 'self'));
    await file(join(hostProc, '500', 'cgroup'), `0::/docker/${ID}\n`);
    await file(join(hostProc, '501', 'cgroup'), '0::/../escape\n');
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds the cgroup a pid is in', async () => {
    assert.equal(
      await findCgroupOf(cgroup, AGENT_PID),
      join(cgroup, 'docker', 'agent'),
    );
    assert.equal(await findCgroupOf(cgroup, 4242), undefined);
  });

  it('resolves `/../<id>` from the namespace root, and only from there', async () => {
    const layout = await detectLayout(cgroup);
    const membership = [{ hierarchyId: 0, controllers: [], path: `/../${ID}` }];
    assert.equal(resolveCgroup(layout, membership), undefined);
    const roots = new Map([[cgroup, join(cgroup, 'docker', 'agent')]]);
    assert.deepEqual(resolveCgroup(layout, membership, roots), {
      version: 2,
      dir: join(cgroup, 'docker', ID),
    });
    const escaping = [
      { hierarchyId: 0, controllers: [], path: '/../../../etc' },
    ];
    assert.equal(resolveCgroup(layout, escaping, roots), undefined);
  });

  it('finds its namespace root from its own cgroup and resolves containers', async () => {
    const resolver = new CgroupResolver(new ProcFs(privateProc), cgroup);
    assert.deepEqual(await resolver.forPid(500), {
      version: 2,
      dir: join(cgroup, 'docker', ID),
    });
    assert.deepEqual(await resolver.forPid(AGENT_PID), {
      version: 2,
      dir: join(cgroup, 'docker', 'agent'),
    });
  });

  it('in the host namespace, resolves paths as printed and rejects escapes', async () => {
    const resolver = new CgroupResolver(new ProcFs(hostProc), cgroup);
    assert.deepEqual(await resolver.forPid(500), {
      version: 2,
      dir: join(cgroup, 'docker', ID),
    });
    assert.equal(await resolver.forPid(501), undefined);
  });
});
