import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { basename, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';

import {
  GUEST_METRICS_FILE,
  startMicroVm,
  type MicroVm,
} from '../rig/microvm.js';
import {
  childPids,
  isRunning,
  readArgv,
  readFootprint,
  readProcStat,
  type MemoryFootprint,
} from '../rig/microvm/proc.js';

/**
 * The microVM rig against the host's own accounting: a real QEMU guest whose
 * processes, state files and monitor socket look like a Kata sandbox, and
 * whose vCPU and RAM use shows up in /proc where the agent will look.
 */

const ID = 'msrig-selftest';
const MEMORY_MIB = 512;
const LONG = { timeout: 180_000 };
const KIB_PER_MIB = 1024;

const execFileAsync = promisify(execFile);

/** USER_HZ, the unit of utime and stime in /proc/<pid>/stat. */
async function clockTicksPerSecond(): Promise<number> {
  const { stdout } = await execFileAsync('getconf', ['CLK_TCK']);
  return Number(stdout.trim());
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readProcStat(pid);
  assert.ok(stat, `pid ${pid} vanished`);
  return stat.cpuTicks;
}

/** The value after `flag` in argv. */
function flagValue(argv: readonly string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index >= 0 ? argv[index + 1] : undefined;
}

/** virtiofsd and the child it forks for its namespace sandbox. */
async function virtiofsdTree(vm: MicroVm): Promise<number[]> {
  return [vm.virtiofsdPid, ...(await childPids(vm.virtiofsdPid))];
}

async function sumFootprints(
  pids: readonly number[],
): Promise<MemoryFootprint> {
  const all = await Promise.all(pids.map((pid) => readFootprint(pid)));
  return {
    rssKiB: all.reduce((sum, f) => sum + f.rssKiB, 0),
    pssKiB: all.reduce((sum, f) => sum + f.pssKiB, 0),
    pssShmemKiB: all.reduce((sum, f) => sum + f.pssShmemKiB, 0),
  };
}

interface Snapshot {
  readonly qemu: MemoryFootprint;
  readonly virtiofsd: MemoryFootprint;
}

async function snapshot(vm: MicroVm): Promise<Snapshot> {
  return {
    qemu: await readFootprint(vm.qemuPid),
    virtiofsd: await sumFootprints(await virtiofsdTree(vm)),
  };
}

function describeSnapshot(label: string, s: Snapshot): string {
  const mib = (kib: number): string => (kib / KIB_PER_MIB).toFixed(1);
  const part = (name: string, f: MemoryFootprint): string =>
    `${name} rss=${mib(f.rssKiB)} pss=${mib(f.pssKiB)} ` +
    `pss_shmem=${mib(f.pssShmemKiB)}`;
  const qemu = part('qemu', s.qemu);
  return `${label}: ${qemu}; ${part('virtiofsd', s.virtiofsd)} (MiB)`;
}

function fetchMonitor(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get({ socketPath, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        if (response.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${path}: ${response.statusCode}`));
      });
    });
    request.on('error', reject);
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

describe('microVM rig', LONG, () => {
  let vm: MicroVm;

  before(async () => {
    vm = await startMicroVm({ id: ID, memoryMiB: MEMORY_MIB });
  }, LONG);

  after(async () => {
    await vm.stop();
  }, LONG);

  it('has a shim, QEMU and virtiofsd shaped like Kata', async () => {
    const shim = await readArgv(vm.shimPid);
    assert.equal(basename(shim[0] ?? ''), 'containerd-shim-kata-v2');
    assert.equal(flagValue(shim, '-id'), ID);
    assert.equal(flagValue(shim, '-namespace'), 'default');

    const qemu = await readArgv(vm.qemuPid);
    assert.match(basename(qemu[0] ?? ''), /^qemu.*-system-/);
    assert.equal(flagValue(qemu, '-name'), `sandbox-${ID}`);
    assert.equal(flagValue(qemu, '-pidfile'), join(vm.paths.vmDir, 'pid'));
    assert.match(flagValue(qemu, '-qmp') ?? '', /^unix:.*\/qmp\.sock,/);

    const virtiofsd = await readArgv(vm.virtiofsdPid);
    const shared = join(vm.paths.sharedDir, 'shared');
    assert.ok(
      virtiofsd.some((arg) => arg === `source=${shared}`),
      virtiofsd.join(' '),
    );
  });

  it('has Kata’s parents: QEMU on PID 1, virtiofsd on the shim', async () => {
    assert.equal((await readProcStat(vm.qemuPid))?.ppid, 1);
    assert.equal((await readProcStat(vm.virtiofsdPid))?.ppid, vm.shimPid);
    assert.equal((await readProcStat(vm.shimPid))?.ppid, 1);
  });

  it('records the pids in persist.json and the pid file', async () => {
    const persist = JSON.parse(
      await readFile(vm.paths.persistFile, 'utf8'),
    ) as { HypervisorState: { Pid: number; VirtiofsDaemonPid: number } };
    assert.equal(persist.HypervisorState.Pid, vm.qemuPid);
    assert.equal(persist.HypervisorState.VirtiofsDaemonPid, vm.virtiofsdPid);

    const pidFile = await readFile(join(vm.paths.vmDir, 'pid'), 'utf8');
    assert.equal(Number(pidFile.trim()), vm.qemuPid);
  });

  it('serves the fixed exposition on shim-monitor.sock', async () => {
    const body = await fetchMonitor(vm.paths.monitorSocket, '/metrics');
    assert.equal(body, await readFile(GUEST_METRICS_FILE, 'utf8'));
    assert.match(body, /^kata_guest_meminfo\{item="mem_total"\} \S+$/m);
    await assert.rejects(fetchMonitor(vm.paths.monitorSocket, '/nope'));
  });

  it('rejects a command the guest does not know', async () => {
    await assert.rejects(vm.send('nonsense 1'), /refused/);
    await vm.send('ping');
  });

  it(
    'charges a busy vCPU to the QEMU process',
    LONG,
    async (t: TestContext) => {
      const hz = await clockTicksPerSecond();
      const before = await cpuTicks(vm.qemuPid);
      const started = Date.now();
      await vm.send('busy 5');
      const seconds = ((await cpuTicks(vm.qemuPid)) - before) / hz;
      const wall = (Date.now() - started) / 1000;
      t.diagnostic(
        `busy 5: QEMU utime+stime +${seconds.toFixed(2)} s ` +
          `in ${wall.toFixed(2)} s wall`,
      );
      assert.ok(seconds >= 3, `only ${seconds} s of CPU`);
    },
  );

  it('shows touched guest RAM in QEMU’s RSS and PSS', LONG, async (t) => {
    const before = await snapshot(vm);
    await vm.send('alloc 300');
    const after = await snapshot(vm);
    t.diagnostic(describeSnapshot('before alloc 300', before));
    t.diagnostic(describeSnapshot('after alloc 300', after));

    const rssGrowthMiB = (after.qemu.rssKiB - before.qemu.rssKiB) / KIB_PER_MIB;
    const pssGrowthMiB = (after.qemu.pssKiB - before.qemu.pssKiB) / KIB_PER_MIB;
    assert.ok(rssGrowthMiB >= 250, `QEMU RSS grew ${rssGrowthMiB} MiB`);
    assert.ok(pssGrowthMiB >= 250, `QEMU PSS grew ${pssGrowthMiB} MiB`);
  });

  it('shows guest pages virtiofsd touched in both RSS', LONG, async (t) => {
    const before = await snapshot(vm);
    await vm.send('share 64');
    const after = await snapshot(vm);
    t.diagnostic(describeSnapshot('before share 64', before));
    t.diagnostic(describeSnapshot('after share 64', after));

    // Pages both processes map are counted whole in each RSS, so the sum
    // of RSS exceeds the sum of PSS by about what virtiofsd touched.
    const rss = after.qemu.rssKiB + after.virtiofsd.rssKiB;
    const pss = after.qemu.pssKiB + after.virtiofsd.pssKiB;
    t.diagnostic(
      `rss sum - pss sum = ${((rss - pss) / KIB_PER_MIB).toFixed(1)} MiB`,
    );
    const growthMiB =
      (after.virtiofsd.rssKiB - before.virtiofsd.rssKiB) / KIB_PER_MIB;
    assert.ok(growthMiB >= 32, `virtiofsd RSS grew ${growthMiB} MiB`);
    assert.ok((rss - pss) / KIB_PER_MIB >= 32, 'RSS and PSS sums agree');
  });

  it('leaves no process and no state behind once stopped', LONG, async () => {
    const virtiofsd = await virtiofsdTree(vm);
    await vm.stop();

    for (const pid of [vm.shimPid, vm.qemuPid, ...virtiofsd]) {
      assert.equal(await isRunning(pid), false, `pid ${pid} still runs`);
    }
    for (const dir of [vm.paths.vmDir, vm.paths.sbsDir, vm.paths.sharedDir]) {
      assert.equal(await exists(dir), false, `${dir} still exists`);
    }
  });
});
