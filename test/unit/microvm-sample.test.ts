import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ProcFs } from '../../agent/src/host/procfs.js';
import type { MicroVmDetail, Workload } from '../../agent/src/model.js';
import type { InterfaceCounters } from '../../agent/src/parse/net-dev.js';
import { countedOnce, readMicroVm } from '../../agent/src/sample/microvm.js';

const MIB = 2 ** 20;

function iface(name: string, rx: number, tx: number): InterfaceCounters {
  return {
    name,
    receiveBytes: rx,
    receivePackets: 1,
    transmitBytes: tx,
    transmitPackets: 2,
  };
}

describe('countedOnce: a VM’s traffic once, not once per mirror', () => {
  it('drops lo and the Kata tap that mirrors the veth', () => {
    const kept = countedOnce([
      iface('lo', 9, 9),
      iface('eth0', 1000, 500),
      iface('tap0_kata', 500, 1000),
    ]);
    assert.deepEqual(
      kept.map((i) => i.name),
      ['eth0'],
    );
  });

  it('uses the taps, directions swapped, when nothing else is there', () => {
    const [tap] = countedOnce([
      iface('lo', 9, 9),
      iface('tap0_kata', 500, 1000),
    ]);
    assert.ok(tap !== undefined);
    assert.equal(tap.receiveBytes, 1000);
    assert.equal(tap.transmitBytes, 500);
  });
});

/**
 * A small hand-made /proc with one QEMU (a named vCPU thread among its
 * threads) and one virtiofsd, mapping the same shared guest RAM.
 */
describe('readMicroVm over a fixture /proc', () => {
  let root = '';

  function stat(
    pid: number,
    comm: string,
    state: string,
    ticks: [number, number],
    threads: number,
  ): string {
    const fields = Array.from({ length: 50 }, () => '0');
    fields[0] = state;
    fields[1] = '1';
    fields[11] = String(ticks[0]);
    fields[12] = String(ticks[1]);
    fields[17] = String(threads);
    return `${pid} (${comm}) ${fields.join(' ')}\n`;
  }

  function smaps(
    rssKb: number,
    pssKb: number,
    anonKb: number,
    shmemKb: number,
    fileKb: number,
  ): string {
    return [
      '55d0c0000000-7ffd00000000 ---p 00000000 00:00 0  [rollup]',
      `Rss:            ${rssKb} kB`,
      `Pss:            ${pssKb} kB`,
      `Pss_Anon:       ${anonKb} kB`,
      `Pss_File:       ${fileKb} kB`,
      `Pss_Shmem:      ${shmemKb} kB`,
      '',
    ].join('\n');
  }

  async function proc(
    pid: number,
    files: Record<string, string>,
    netns: string,
  ): Promise<void> {
    const dir = join(root, String(pid));
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    await mkdir(join(dir, 'ns'), { recursive: true });
    await symlink(netns, join(dir, 'ns', 'net'));
  }

  const NET = [
    'Inter-|   Receive                            |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     999       9    0    0    0     0          0         0      999       9    0    0    0     0       0          0',
    '  eth0:    4000      40    0    0    0     0          0         0     3000      30    0    0    0     0       0          0',
    'tap0_kata:    3000   30    0    0    0     0          0         0     4000      40    0    0    0     0       0          0',
    '',
  ].join('\n');

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'microstat-microvm-'));
    // QEMU: 300 ticks in all, of which its vCPU thread ran 200.
    await proc(
      100,
      {
        stat: stat(100, 'qemu-system-x86', 'S', [250, 50], 3),
        smaps_rollup: smaps(
          300 * 1024,
          280 * 1024,
          20 * 1024,
          256 * 1024,
          4 * 1024,
        ),
        io: 'rchar: 1\nwchar: 1\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n',
        'task/100/stat': stat(100, 'qemu-system-x86', 'S', [50, 30], 1),
        'task/101/stat': stat(101, 'CPU 0/KVM', 'R', [190, 10], 1),
        'task/102/stat': stat(102, 'worker', 'S', [10, 10], 1),
        'net/dev': NET,
      },
      'net:[4026532999]',
    );
    // virtiofsd: maps the same guest RAM, so its PSS takes half of it.
    await proc(
      200,
      {
        stat: stat(200, 'virtiofsd', 'S', [10, 20], 2),
        smaps_rollup: smaps(
          60 * 1024,
          32 * 1024,
          2 * 1024,
          28 * 1024,
          2 * 1024,
        ),
        io: 'rchar: 1\nwchar: 1\nsyscr: 1\nsyscw: 1\nread_bytes: 0\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n',
      },
      'net:[4026531992]',
    );
    // A virtiofsd child that already exited: a zombie costs nothing.
    await proc(
      300,
      { stat: stat(300, 'virtiofsd', 'Z', [5, 5], 1) },
      'net:[4026531992]',
    );
    // A shim whose smaps_rollup is not there: RSS from status instead.
    await proc(
      400,
      {
        stat: stat(400, 'containerd-shim', 'S', [20, 10], 10),
        status:
          'Name:\tcontainerd-shim\nPPid:\t1\nVmRSS:\t40960 kB\nRssAnon:\t30720 kB\nRssFile:\t10240 kB\nRssShmem:\t0 kB\n',
        io: 'rchar: 1\nwchar: 1\nsyscr: 1\nsyscw: 1\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n',
      },
      'net:[4026531992]',
    );
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function vm(
    processes: MicroVmDetail['processes'],
  ): [Workload, MicroVmDetail] {
    const detail: MicroVmDetail = {
      processes,
      cgroups: [],
      vcpus: 1,
      memoryBytes: 512 * MIB,
    };
    const workload: Workload = {
      id: 'vm',
      name: 'vm',
      kind: 'microvm',
      runtime: 'kata',
      engine: 'kata',
      image: '',
      hypervisor: 'qemu',
      state: 'running',
      labels: {},
      composeProject: '',
      composeService: '',
      initPid: 100,
      ownNetwork: true,
      cgroup: undefined,
      microvm: detail,
    };
    return [workload, detail];
  }

  it('sums PSS, splits vCPU time off the hypervisor, skips zombies', () => {
    const [workload, detail] = vm([
      { pid: 100, component: 'hypervisor', role: 'hypervisor' },
      { pid: 200, component: 'virtiofsd', role: 'virtiofsd' },
      { pid: 300, component: 'virtiofsd', role: 'virtiofsd' },
    ]);
    const reading = readMicroVm(
      new ProcFs(root),
      workload,
      detail,
      'net:[4026531992]',
    );
    assert.ok(reading !== undefined);
    assert.equal(reading.memoryMethod, 'pss');
    assert.equal(reading.usage.memoryUsageBytes, (280 + 32) * 1024 * 1024);
    assert.equal(reading.usage.cpuSeconds, (300 + 30) / 100);
    assert.equal(reading.usage.pids, 3 + 2);
    assert.equal(reading.usage.memoryLimit, 512 * MIB);
    assert.equal(reading.usage.blockReadBytes, 4096);
    assert.equal(reading.usage.blockWriteBytes, 8192 + 4096);
    // The VM's own namespace: eth0 only, the mirroring tap left out.
    assert.equal(reading.usage.networkReceiveBytes, 4000);
    assert.equal(reading.usage.networkTransmitBytes, 3000);
    assert.deepEqual(reading.components, [
      { component: 'hypervisor', cpuSeconds: 1, memoryBytes: 280 * MIB },
      { component: 'vcpu', cpuSeconds: 2 },
      { component: 'virtiofsd', cpuSeconds: 0.3, memoryBytes: 32 * MIB },
    ]);
  });

  it('falls back to RSS and says so; no network in the host namespace', () => {
    const [workload, detail] = vm([
      { pid: 400, component: 'shim', role: 'shim' },
    ]);
    const reading = readMicroVm(
      new ProcFs(root),
      workload,
      { ...detail },
      'net:[4026532999]',
    );
    assert.equal(reading?.memoryMethod, 'rss');
    assert.equal(reading.usage.memoryUsageBytes, 40 * MIB);
    assert.equal(reading.usage.memoryRssBytes, 30 * MIB);
    assert.equal(reading.usage.networkReceiveBytes, undefined);
  });

  it('is gone when every process is gone', () => {
    const [workload, detail] = vm([
      { pid: 999, component: 'hypervisor', role: 'hypervisor' },
    ]);
    assert.equal(
      readMicroVm(new ProcFs(root), workload, detail, undefined),
      undefined,
    );
  });
});
