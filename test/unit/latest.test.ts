import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ProcFs } from '../../agent/src/host/procfs.js';
import type {
  CgroupLocation,
  Snapshot,
  Workload,
} from '../../agent/src/model.js';
import { LatestSnapshot } from '../../agent/src/sample/latest.js';
import { LimitCache } from '../../agent/src/sample/limits.js';

/** A clock the test moves by hand. */
class Clock {
  ms = 0;
  readonly now = (): number => this.ms;
}

function workload(id: string, extra: Partial<Workload>): Workload {
  return {
    id,
    name: id,
    kind: 'container',
    runtime: 'runc',
    engine: 'docker',
    image: 'local/busybox',
    hypervisor: '',
    state: 'running',
    labels: {},
    composeProject: '',
    composeService: '',
    initPid: undefined,
    ownNetwork: false,
    cgroup: undefined,
    ...extra,
  };
}

function snapshot(workloads: readonly Workload[], takenAtMs = 0): Snapshot {
  return {
    takenAtMs,
    monotonicSeconds: takenAtMs / 1000,
    host: {
      cpus: 2,
      memoryTotalBytes: 1 << 30,
      stealCpuSeconds: 0,
      monotonicSeconds: 0,
    },
    workloads: workloads.map((w) => ({ workload: w, usage: {} })),
    collectors: [],
  };
}

/** A /proc/<pid>/stat line in the given state. */
function statLine(pid: number, state: string): string {
  return (
    `${pid} (qemu-system-x86) ${state} 1 ${pid} ${pid} 0 -1 4194560 ` +
    '100 0 0 0 250 50 0 0 20 0 3 0 1000 100000000 2000 ' +
    '18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n'
  );
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'microstat-latest-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('LatestSnapshot', () => {
  it('answers from the last reading while it is young, then reads anew', async () => {
    const clock = new Clock();
    let fresh = 0;
    const latest = new LatestSnapshot(
      new ProcFs(join(scratch, 'no-proc')),
      () => Promise.resolve(snapshot([], ++fresh)),
      1500,
      clock.now,
    );
    assert.equal((await latest.get()).takenAtMs, 1, 'none yet: a fresh one');
    latest.record(snapshot([], 100));
    clock.ms = 1500;
    assert.equal((await latest.get()).takenAtMs, 100);
    clock.ms = 1501;
    assert.equal((await latest.get()).takenAtMs, 2, 'too old: a fresh one');
    assert.equal(fresh, 2);
  });

  it('leaves out a container whose cgroup went away since the reading', async () => {
    const kept = join(scratch, 'cg-kept');
    const removed = join(scratch, 'cg-removed');
    await mkdir(kept);
    await mkdir(removed);
    const at = (dir: string): CgroupLocation => ({ version: 2, dir });
    const reading = snapshot([
      workload('kept', { cgroup: at(kept) }),
      workload('removed', { cgroup: at(removed) }),
      workload('v1', {
        cgroup: {
          version: 1,
          dirs: { memory: join(scratch, 'nope'), pids: kept },
        },
      }),
    ]);
    const clock = new Clock();
    const latest = new LatestSnapshot(
      new ProcFs(join(scratch, 'no-proc')),
      () => Promise.reject(new Error('must not read anew')),
      1500,
      clock.now,
    );
    latest.record(reading);
    assert.strictEqual(await latest.get(), reading, 'all there: as read');

    await rm(removed, { recursive: true });
    const served = await latest.get();
    assert.deepEqual(
      served.workloads.map((r) => r.workload.id),
      ['kept', 'v1'],
    );
    assert.equal(reading.workloads.length, 3, 'the reading itself is kept');
  });

  it('leaves out a microVM whose processes exited or are zombies', async () => {
    const proc = join(scratch, 'proc');
    const write = async (pid: number, state: string): Promise<void> => {
      await mkdir(join(proc, String(pid)), { recursive: true });
      await writeFile(join(proc, String(pid), 'stat'), statLine(pid, state));
    };
    await write(100, 'S');
    await write(200, 'Z');
    const vm = (id: string, pids: number[]): Workload =>
      workload(id, {
        kind: 'microvm',
        microvm: {
          processes: pids.map((pid) => ({
            pid,
            role: 'hypervisor',
            component: 'hypervisor',
          })),
          cgroups: [],
        },
      });
    const latest = new LatestSnapshot(
      new ProcFs(proc),
      () => Promise.reject(new Error('must not read anew')),
      1500,
      new Clock().now,
    );
    latest.record(
      snapshot([
        vm('running', [100, 300]),
        vm('zombie', [200]),
        vm('gone', [300]),
      ]),
    );
    const served = await latest.get();
    assert.deepEqual(
      served.workloads.map((r) => r.workload.id),
      ['running'],
    );
  });
});

describe('LimitCache', () => {
  it('reads limits once per interval, and again from another cgroup', async () => {
    const dir = join(scratch, 'limits');
    await mkdir(dir);
    await writeFile(join(dir, 'memory.max'), `${128 * 1024 * 1024}\n`);
    await writeFile(join(dir, 'pids.max'), 'max\n');
    const clock = new Clock();
    const cache = new LimitCache(10_000, clock.now);
    const location: CgroupLocation = { version: 2, dir };

    assert.equal(cache.limits('a', location).memoryLimit, 128 * 1024 * 1024);
    await writeFile(join(dir, 'memory.max'), `${256 * 1024 * 1024}\n`);
    clock.ms = 9_999;
    assert.equal(
      cache.limits('a', location).memoryLimit,
      128 * 1024 * 1024,
      'within the interval: as read before',
    );
    assert.equal(
      cache.limits('b', location).memoryLimit,
      256 * 1024 * 1024,
      'another workload reads its own',
    );
    clock.ms = 10_000;
    assert.equal(cache.limits('a', location).memoryLimit, 256 * 1024 * 1024);

    const other = join(scratch, 'limits-other');
    await mkdir(other);
    await writeFile(join(other, 'memory.max'), 'max\n');
    assert.equal(
      cache.limits('a', { version: 2, dir: other }).memoryLimit,
      'unlimited',
      'a new cgroup is read at once',
    );
  });

  it('keeps no reading of a vanished cgroup and forgets gone workloads', async () => {
    const dir = join(scratch, 'limits-vanishing');
    const cache = new LimitCache(10_000, new Clock().now);
    assert.deepEqual(cache.limits('a', { version: 2, dir }), {
      cpuLimitCores: undefined,
      memoryLimit: undefined,
      pidsLimit: undefined,
    });
    assert.equal(cache.size, 0);

    await mkdir(dir);
    await writeFile(join(dir, 'pids.max'), '50\n');
    assert.equal(cache.limits('a', { version: 2, dir }).pidsLimit, 50);
    assert.equal(cache.size, 1);
    cache.retain(new Set(['b']));
    assert.equal(cache.size, 0);
  });
});
