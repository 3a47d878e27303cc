import assert from 'node:assert/strict';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

import { after, before, describe, it } from 'node:test';

import {
  detectLayout,
  layoutMode,
  readCgroupCounters,
  readCgroupUsage,
  resolveCgroup,
  type CgroupLayout,
  type CgroupMode,
} from '../../agent/src/host/cgroupfs.js';
import { ProcFs } from '../../agent/src/host/procfs.js';
import { readTextSync } from '../../agent/src/host/read.js';
import {
  UNLIMITED,
  type CgroupLocation,
  type Controller,
  type WorkloadUsage,
} from '../../agent/src/model.js';
import { sumNonLoopback } from '../../agent/src/parse/net-dev.js';
import { parsePidCgroup } from '../../agent/src/parse/pid-cgroup.js';
import { fixtureHost, type FixtureHost } from './fixture-path.js';

// The two containers of every fixture host; see test/fixtures/hosts/README.md.
interface Container {
  readonly label: string;
  readonly id: string;
  readonly pid: number;
  readonly usage: WorkloadUsage;
}

const LIMITED: Container = {
  label: 'A (128 MiB, 50 pids)',
  id: '4c5f8e2b7d1a9036e4b2c8f71d5a0e93b6c2f84d17e5a9b03c6d2e8f41a7b590',
  pid: 4242,
  usage: {
    cpuSeconds: 1.5,
    cpuLimitCores: 0.5,
    memoryUsageBytes: 52428800 - 10485760,
    memoryRssBytes: 31457280,
    memoryCacheBytes: 20971520,
    memoryLimit: 134217728,
    pids: 7,
    pidsLimit: 50,
    blockReadBytes: 4194304 + 65536,
    blockWriteBytes: 1048576,
  },
};

const UNLIMITED_CONTAINER: Container = {
  label: 'B (unlimited)',
  id: '9e1d3c7a5b2f48061d9c3e7a2b5f8d04e6c1a9b37d2f5e80c4a6b1d9e3f7c052',
  pid: 5151,
  usage: {
    cpuSeconds: 0.25,
    cpuLimitCores: UNLIMITED,
    memoryUsageBytes: 8388608 - 1048576,
    memoryRssBytes: 6291456,
    memoryCacheBytes: 2097152,
    memoryLimit: UNLIMITED,
    pids: 1,
    pidsLimit: UNLIMITED,
    blockReadBytes: 0,
    blockWriteBytes: 0,
  },
};

const CONTAINERS = [LIMITED, UNLIMITED_CONTAINER];

interface LayoutCase {
  readonly name: string;
  readonly mode: CgroupMode;
  /** The container's cgroup below the root (v2) or a controller (v1). */
  readonly path: (id: string) => string;
}

const LAYOUTS: readonly LayoutCase[] = [
  { name: 'v1-cgroupfs', mode: 'v1', path: (id) => `docker/${id}` },
  {
    name: 'v1-systemd',
    mode: 'v1',
    path: (id) => `system.slice/docker-${id}.scope`,
  },
  { name: 'hybrid', mode: 'hybrid', path: (id) => `docker/${id}` },
  { name: 'v2-cgroupfs', mode: 'v2', path: (id) => `docker/${id}` },
  {
    name: 'v2-systemd',
    mode: 'v2',
    path: (id) => `system.slice/docker-${id}.scope`,
  },
  {
    name: 'rootless-v2',
    mode: 'v2',
    path: (id) =>
      'user.slice/user-1000.slice/user@1000.service/user.slice/' +
      `docker-${id}.scope`,
  },
];

const CONTROLLERS: readonly Controller[] = [
  'blkio',
  'cpu',
  'cpuacct',
  'memory',
  'pids',
];

async function locate(
  host: FixtureHost,
  pid: number,
): Promise<CgroupLocation | undefined> {
  const layout = await detectLayout(host.cgroup);
  return resolveCgroup(layout, new ProcFs(host.proc).cgroups(pid));
}

/**
 * Checks a v1 location controller by controller. Directories are compared
 * after resolving symlinks: `cpu` and `cpuacct` may both be links to a
 * co-mounted `cpu,cpuacct`, and either spelling names the same cgroup.
 */
async function assertV1Dirs(
  location: CgroupLocation | undefined,
  root: string,
  path: string,
): Promise<void> {
  assert.equal(location?.version, 1);
  assert.deepEqual(Object.keys(location.dirs).sort(), CONTROLLERS);
  for (const controller of CONTROLLERS) {
    const dir: string | undefined = location.dirs[controller];
    assert.ok(dir !== undefined, controller);
    assert.equal(
      await realpath(dir),
      await realpath(join(root, controller, path)),
      controller,
    );
  }
}

for (const layout of LAYOUTS) {
  describe(`fixture host ${layout.name}`, () => {
    const host = fixtureHost(layout.name);

    it(`detects ${layout.mode}`, async () => {
      assert.equal(layoutMode(await detectLayout(host.cgroup)), layout.mode);
    });

    for (const c of CONTAINERS) {
      it(`resolves container ${c.label} from /proc/${c.pid}/cgroup`, async () => {
        const location = await locate(host, c.pid);
        const path = layout.path(c.id);
        if (layout.mode === 'v2') {
          assert.deepEqual(location, {
            version: 2,
            dir: join(host.cgroup, path),
          });
        } else {
          await assertV1Dirs(location, host.cgroup, path);
        }
      });

      it(`reads container ${c.label} as docker stats does`, async () => {
        const location = await locate(host, c.pid);
        assert.ok(location !== undefined);
        assert.deepEqual(readCgroupUsage(location), c.usage);
      });
    }
  });
}

describe('detectLayout', () => {
  it('sees a v1 co-mount through its symlinks', async () => {
    const layout = await detectLayout(fixtureHost('v1-systemd').cgroup);
    for (const controller of CONTROLLERS) {
      assert.ok(layout.v1.has(controller), controller);
    }
    assert.equal(layout.unified, undefined);
  });

  it('finds the hybrid unified mount', async () => {
    const host = fixtureHost('hybrid');
    const layout = await detectLayout(host.cgroup);
    assert.equal(layout.unified, join(host.cgroup, 'unified'));
    assert.equal(layout.v1.has('unified'), false);
  });

  it('gives "none" for a missing root', async () => {
    const layout = await detectLayout(join(tmpdir(), 'microstat-no-such-root'));
    assert.equal(layoutMode(layout), 'none');
  });
});

describe('resolveCgroup', () => {
  let v1: CgroupLayout;
  let v2: CgroupLayout;
  const v2Root = fixtureHost('v2-cgroupfs').cgroup;
  before(async () => {
    v1 = await detectLayout(fixtureHost('v1-cgroupfs').cgroup);
    v2 = await detectLayout(v2Root);
  });

  const escaping = ['0::/../../x', '0::/..', '0::/docker/../../../etc'];
  for (const text of escaping) {
    it(`refuses ${JSON.stringify(text)}, which leaves the root`, () => {
      assert.equal(resolveCgroup(v2, parsePidCgroup(text)), undefined);
    });
  }

  it('refuses v1 paths that leave the controller mount', () => {
    const text = '4:memory:/../../x\n2:cpuacct:/../..\n';
    assert.equal(resolveCgroup(v1, parsePidCgroup(text)), undefined);
  });

  const inside: readonly [string, string][] = [
    ['0::/', ''],
    [
      '0::/kubepods/pod1:2:3/cri-containerd:abc',
      'kubepods/pod1:2:3/cri-containerd:abc',
    ],
    ['0::/docker/../docker/x', 'docker/x'],
    ['0::/..hidden', '..hidden'],
  ];
  for (const [text, path] of inside) {
    it(`resolves ${JSON.stringify(text)} below the root`, () => {
      const location = resolveCgroup(v2, parsePidCgroup(text));
      assert.equal(location?.version, 2);
      // The root cgroup may come back with a trailing slash.
      assert.equal(resolve(location.dir), join(v2Root, path));
    });
  }

  it('ignores v1 controllers that are not mounted', () => {
    assert.equal(
      resolveCgroup(v2, parsePidCgroup('4:memory:/docker\n')),
      undefined,
    );
  });

  it('gives nothing for a v2 line on a pure v1 host', () => {
    assert.equal(
      resolveCgroup(v1, parsePidCgroup('0::/docker/x\n')),
      undefined,
    );
  });
});

describe('readCgroupUsage on vanished or bare cgroups', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'microstat-cgroupfs-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  const NOTHING: WorkloadUsage = {
    cpuSeconds: undefined,
    cpuLimitCores: undefined,
    memoryUsageBytes: undefined,
    memoryRssBytes: undefined,
    memoryCacheBytes: undefined,
    memoryLimit: undefined,
    pids: undefined,
    pidsLimit: undefined,
    blockReadBytes: undefined,
    blockWriteBytes: undefined,
  };

  it('gives undefined fields for a removed v1 cgroup', () => {
    const gone = join('docker', 'f'.repeat(64));
    const root = fixtureHost('v1-cgroupfs').cgroup;
    const dirs: Partial<Record<Controller, string>> = {};
    for (const c of CONTROLLERS) dirs[c] = join(root, c, gone);
    assert.deepEqual(readCgroupUsage({ version: 1, dirs }), NOTHING);
  });

  it('gives undefined fields for a removed v2 cgroup', () => {
    const dir = join(
      fixtureHost('v2-cgroupfs').cgroup,
      'docker',
      'f'.repeat(64),
    );
    assert.deepEqual(readCgroupUsage({ version: 2, dir }), NOTHING);
  });

  it('gives undefined fields for a cgroup removed after a read', async () => {
    const dir = await mkdtemp(join(scratch, 'gone-'));
    await writeFile(join(dir, 'memory.current'), '4096\n');
    await rm(dir, { recursive: true });
    assert.deepEqual(readCgroupUsage({ version: 2, dir }), NOTHING);
  });

  it('reads an empty throttle blkio file as zero I/O', async () => {
    const dir = await mkdtemp(join(scratch, 'blkio-'));
    await writeFile(join(dir, 'blkio.throttle.io_service_bytes'), '');
    const usage = readCgroupUsage({ version: 1, dirs: { blkio: dir } });
    assert.equal(usage.blockReadBytes, 0);
    assert.equal(usage.blockWriteBytes, 0);
    assert.equal(usage.cpuSeconds, undefined);
  });

  it('leaves block I/O absent when no blkio file exists', async () => {
    const dir = await mkdtemp(join(scratch, 'noblkio-'));
    const usage = readCgroupUsage({ version: 1, dirs: { blkio: dir } });
    assert.equal(usage.blockReadBytes, undefined);
  });

  it('stops trying a v1 blkio file the kernel was found not to have', async () => {
    const dirs = await Promise.all(
      ['throttle-a-', 'throttle-b-'].map((p) => mkdtemp(join(scratch, p))),
    );
    for (const dir of dirs) {
      await writeFile(
        join(dir, 'blkio.throttle.io_service_bytes_recursive'),
        '8:0 Read 4096\n8:0 Write 512\nTotal 4608\n',
      );
    }
    const asked: string[] = [];
    const read = (path: string): string => {
      asked.push(basename(path));
      return readTextSync(path);
    };
    const absent = new Set<string>();
    for (const dir of dirs) {
      const counters = readCgroupCounters(
        { version: 1, dirs: { blkio: dir } },
        read,
        absent,
      );
      assert.equal(counters.blockReadBytes, 4096);
      assert.equal(counters.blockWriteBytes, 512);
    }
    assert.deepEqual(asked, [
      'blkio.io_service_bytes_recursive',
      'blkio.throttle.io_service_bytes_recursive',
      'blkio.throttle.io_service_bytes_recursive',
    ]);
    assert.deepEqual([...absent], ['blkio.io_service_bytes_recursive']);
  });

  it('learns nothing from a blkio dir that is gone', () => {
    const absent = new Set<string>();
    const dir = join(scratch, 'never-made');
    readCgroupCounters({ version: 1, dirs: { blkio: dir } }, undefined, absent);
    assert.equal(absent.size, 0);
  });

  it('keeps usage when inactive_file is not below it', async () => {
    const dir = await mkdtemp(join(scratch, 'v2-'));
    await writeFile(join(dir, 'memory.current'), '4096\n');
    await writeFile(join(dir, 'memory.stat'), 'anon 0\ninactive_file 8192\n');
    const usage = readCgroupUsage({ version: 2, dir });
    assert.equal(usage.memoryUsageBytes, 4096);
  });
});

describe('ProcFs over a fixture host', () => {
  const procfs = new ProcFs(fixtureHost('v2-systemd').proc);

  it('reads the host figures', () => {
    const stat = procfs.stat();
    const meminfo = procfs.meminfo();
    assert.equal(stat.onlineCpus, 2);
    assert.equal(meminfo.get('MemTotal'), 24683664 * 1024);
  });

  it('lists the container init processes', async () => {
    assert.deepEqual((await procfs.pids()).sort(), [4242, 5151]);
  });

  it('reads a container init process', () => {
    const stat = procfs.pidStat(4242);
    const status = procfs.pidStatus(4242);
    const argv = procfs.cmdline(4242);
    assert.equal(stat.comm, 'nginx');
    assert.deepEqual(status.nsPids, [4242, 1]);
    assert.deepEqual(argv, ['nginx', '-g', 'daemon off;']);
  });

  it('sums the container network without loopback', () => {
    assert.deepEqual(sumNonLoopback(procfs.netDev(4242)), {
      receiveBytes: 123456,
      transmitBytes: 65432,
    });
    assert.deepEqual(sumNonLoopback(procfs.netDev(5151)), {
      receiveBytes: 2048,
      transmitBytes: 1024,
    });
  });

  it('reads /proc/<pid>/io', () => {
    const io = procfs.io(4242);
    assert.equal(io.readBytes, 4194304);
    assert.equal(io.writeBytes, 1048576);
  });
});
