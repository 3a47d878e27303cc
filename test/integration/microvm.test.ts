import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import type {
  WorkloadJson,
  WorkloadsResponse,
} from '../../agent/src/export/api.js';
import { parseKataGuestMetrics } from '../../agent/src/parse/kata-metrics.js';
import {
  getJson,
  getText,
  parseMetrics,
  startAgent,
  type RunningAgent,
} from '../rig/agent.js';
import {
  ctr,
  ensureContainerd,
  ensureImage,
  stopContainerd,
} from '../rig/containerd.js';
import {
  GUEST_METRICS_FILE,
  startMicroVm,
  type MicroVm,
} from '../rig/microvm.js';
import { waitFor } from '../rig/wait.js';

/**
 * A real QEMU microVM laid out as a Kata sandbox (stand-in shim, virtiofsd,
 * state directories, shim-monitor.sock) against the agent: discovery,
 * whole-footprint CPU against the kernel's own accounting, memory growth,
 * components adding up, the guest's view, containerd names, and the VM's
 * series leaving when it stops.
 */

const TICKS_PER_SECOND = 100;

async function workloads(agent: RunningAgent): Promise<WorkloadsResponse> {
  return (await getJson(`${agent.url}/api/v1/workloads`)) as WorkloadsResponse;
}

async function findVm(
  agent: RunningAgent,
  id: string,
): Promise<WorkloadJson | undefined> {
  return (await workloads(agent)).workloads.find((w) => w.id === id);
}

/**
 * The kernel's own CPU accounting of processes: the first field of each
 * thread's /proc/<pid>/task/<tid>/schedstat, nanoseconds on a CPU. The
 * agent reads /proc/<pid>/stat instead, so the two are independent.
 */
async function schedSeconds(pids: readonly number[]): Promise<number> {
  let ns = 0;
  for (const pid of pids) {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const text = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      ns += Number(text.split(' ')[0]);
    }
  }
  return ns / 1e9;
}

describe('a real microVM as a Kata sandbox', () => {
  const id = randomBytes(32).toString('hex');
  let vm: MicroVm;
  let agent: RunningAgent;

  before(async () => {
    vm = await startMicroVm({ id, memoryMiB: 512, vcpus: 1 });
    agent = await startAgent(['--no-collector.containerd']);
  });

  after(async () => {
    await agent.stop();
    await vm.stop();
  });

  it(
    'is discovered with its hypervisor and component processes',
    { timeout: 60_000 },
    async () => {
      const w = await waitFor('the microVM', () => findVm(agent, id), 20_000);
      assert.equal(w.kind, 'microvm');
      assert.equal(w.runtime, 'kata');
      assert.equal(w.hypervisor, 'qemu');
      assert.equal(w.vcpus, 1);
      assert.equal(w.configuredMemoryBytes, 512 * 2 ** 20);
      assert.equal(w.usage.memoryLimitBytes, 512 * 2 ** 20);

      const byPid = new Map(
        (w.processes ?? []).map((p) => [p.pid, p.component]),
      );
      assert.equal(byPid.get(vm.shimPid), 'shim');
      assert.equal(byPid.get(vm.qemuPid), 'hypervisor');
      assert.equal(byPid.get(vm.virtiofsdPid), 'virtiofsd');

      const metrics = parseMetrics(await getText(`${agent.url}/metrics`));
      const info = metrics.find(
        (m) => m.name === 'microstat_workload_info' && m.labels['id'] === id,
      );
      assert.equal(info?.labels['kind'], 'microvm');
      assert.equal(info.labels['hypervisor'], 'qemu');
      assert.equal(info.labels['runtime'], 'kata');
      for (const name of [
        'microstat_workload_cpu_seconds_total',
        'microstat_workload_memory_usage_bytes',
        'microstat_workload_memory_limit_bytes',
        'microstat_workload_pids',
        'microstat_microvm_vcpus',
        'microstat_microvm_configured_memory_bytes',
      ]) {
        assert.ok(
          metrics.some((m) => m.name === name && m.labels['id'] === id),
          `${name} for the microVM`,
        );
      }
      const method = metrics.find(
        (m) =>
          m.name === 'microstat_microvm_memory_accounting_info' &&
          m.labels['id'] === id,
      );
      assert.equal(method?.labels['method'], 'pss');
    },
  );

  it(
    'agrees with the kernel on CPU over a busy window within 5 %',
    { timeout: 120_000 },
    async () => {
      const before = await waitFor(
        'the microVM',
        () => findVm(agent, id),
        20_000,
      );
      const pids = (before.processes ?? []).map((p) => p.pid);
      const kernelBefore = await schedSeconds(pids);

      await vm.send('busy 8');

      const after = await findVm(agent, id);
      const kernelAfter = await schedSeconds(pids);
      assert.ok(after !== undefined);
      const agentDelta =
        (after.usage.cpuSeconds ?? 0) - (before.usage.cpuSeconds ?? 0);
      const kernelDelta = kernelAfter - kernelBefore;
      assert.ok(
        kernelDelta > 4,
        `the guest's busy loop cost the host ${kernelDelta} s`,
      );
      // Tick accounting rounds each process to 1/100 s at both ends.
      const slack = Math.max(
        0.05 * kernelDelta,
        (2 * pids.length) / TICKS_PER_SECOND,
      );
      assert.ok(
        Math.abs(agentDelta - kernelDelta) <= slack,
        `agent ${agentDelta.toFixed(3)} s, kernel ${kernelDelta.toFixed(3)} s`,
      );
    },
  );

  it(
    'shows guest memory growth within seconds, counted once',
    { timeout: 120_000 },
    async () => {
      const before = await waitFor(
        'the microVM',
        () => findVm(agent, id),
        20_000,
      );
      const usageBefore = before.usage.memoryUsageBytes ?? 0;
      await vm.send('alloc 300');

      const grown = await waitFor(
        'memory growth',
        async () => {
          const w = await findVm(agent, id);
          const usage = w?.usage.memoryUsageBytes ?? 0;
          return usage - usageBefore >= 250 * 2 ** 20 ? w : undefined;
        },
        10_000,
      );
      // Guest RAM is shared memory mapped by QEMU and virtiofsd; PSS counts it
      // once, so the footprint stays below guest RAM plus a generous VMM cost.
      const usage = grown.usage.memoryUsageBytes ?? 0;
      assert.ok(usage < (512 + 256) * 2 ** 20, `footprint ${usage} bytes`);
      await vm.send('free');
    },
  );

  it(
    'has components that add up to the whole',
    { timeout: 60_000 },
    async () => {
      const w = await waitFor('the microVM', () => findVm(agent, id), 20_000);
      const components = w.components ?? [];
      const names = components.map((c) => c.component);
      assert.ok(
        names.includes('hypervisor') &&
          names.includes('virtiofsd') &&
          names.includes('shim'),
      );
      const cpu = components.reduce((s, c) => s + c.cpuSeconds, 0);
      const memory = components.reduce((s, c) => s + (c.memoryBytes ?? 0), 0);
      assert.ok(Math.abs(cpu - (w.usage.cpuSeconds ?? 0)) < 1e-6);
      assert.equal(memory, w.usage.memoryUsageBytes);
    },
  );

  it(
    'reports the guest view the shim served',
    { timeout: 60_000 },
    async () => {
      const served = parseKataGuestMetrics(
        await readFile(GUEST_METRICS_FILE, 'utf8'),
      );
      const w = await waitFor(
        'the guest view',
        async () => {
          const vmNow = await findVm(agent, id);
          return vmNow?.guest?.up === true ? vmNow : undefined;
        },
        15_000,
      );
      assert.equal(w.guest?.memoryTotalBytes, served.memoryTotalBytes);
      assert.equal(w.guest?.memoryAvailableBytes, served.memoryAvailableBytes);
      assert.equal(w.guest?.cpuSeconds, (served.cpuBusyMs ?? 0) / 1000);

      const metrics = parseMetrics(await getText(`${agent.url}/metrics`));
      const value = (name: string): number | undefined =>
        metrics.find((m) => m.name === name && m.labels['id'] === id)?.value;
      assert.equal(value('microstat_microvm_guest_up'), 1);
      assert.equal(
        value('microstat_microvm_guest_memory_total_bytes'),
        served.memoryTotalBytes,
      );
      assert.equal(
        value('microstat_microvm_guest_memory_used_bytes'),
        (served.memoryTotalBytes ?? 0) - (served.memoryAvailableBytes ?? 0),
      );
    },
  );
});

/**
 * A microVM whose id has a containerd record (runtime io.containerd.kata.v2,
 * with `labels`) in `namespace`, and an agent watching both.
 */
interface NamedSandbox {
  readonly vm: MicroVm;
  readonly agent: RunningAgent;
  readonly image: string;
  stop(): Promise<void>;
}

async function startNamedSandbox(
  id: string,
  namespace: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<NamedSandbox> {
  const startedContainerd = await ensureContainerd();
  const image = await ensureImage(namespace);
  await ctr([
    ...['-n', namespace, 'containers', 'create'],
    ...['--runtime', 'io.containerd.kata.v2'],
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    image,
    id,
  ]);
  const vm = await startMicroVm({ id, memoryMiB: 256 });
  const agent = await startAgent();
  return {
    vm,
    agent,
    image,
    async stop() {
      await agent.stop();
      await vm.stop();
      await ctr(['-n', namespace, 'containers', 'rm', id]).catch(
        () => undefined,
      );
      if (startedContainerd !== undefined) {
        await stopContainerd(startedContainerd);
      }
    },
  };
}

describe('a microVM named by containerd', () => {
  const id = `test-kata-${randomBytes(4).toString('hex')}`;
  let sandbox: NamedSandbox;

  before(async () => {
    sandbox = await startNamedSandbox(id, 'default');
  });

  after(async () => {
    await sandbox.stop();
  });

  it(
    'reports the record name, image and namespace',
    { timeout: 60_000 },
    async () => {
      const w = await waitFor(
        'containerd names',
        async () => {
          const found = await findVm(sandbox.agent, id);
          return found?.engine === 'containerd' ? found : undefined;
        },
        20_000,
      );
      assert.equal(w.name, id);
      assert.equal(w.image, sandbox.image);
      assert.equal(w.containerdNamespace, 'default');
      assert.equal(w.kind, 'microvm');
    },
  );

  it(
    'drops the microVM at the next scrape once it stops',
    { timeout: 60_000 },
    async () => {
      await waitFor('the microVM', () => findVm(sandbox.agent, id), 20_000);
      await sandbox.vm.stop();
      const text = await getText(`${sandbox.agent.url}/metrics`);
      assert.ok(!text.includes(id), 'no series of the stopped microVM');
    },
  );
});

describe('a microVM that is a Kubernetes pod sandbox', () => {
  const id = randomBytes(32).toString('hex');
  let sandbox: NamedSandbox;

  before(async () => {
    sandbox = await startNamedSandbox(id, 'k8s.io', {
      'io.cri-containerd.kind': 'sandbox',
      'io.kubernetes.pod.name': 'blast-0',
      'io.kubernetes.pod.namespace': 'bio',
      'io.kubernetes.pod.uid': '5f2b8f7e-0000-4000-8000-000000000001',
    });
  });

  after(async () => {
    await sandbox.stop();
  });

  it('reports the pod from the CRI labels', { timeout: 60_000 }, async () => {
    const w = await waitFor(
      'the pod',
      async () => {
        const found = await findVm(sandbox.agent, id);
        return found?.pod !== undefined ? found : undefined;
      },
      20_000,
    );
    assert.deepEqual(w.pod, {
      name: 'blast-0',
      namespace: 'bio',
      uid: '5f2b8f7e-0000-4000-8000-000000000001',
    });
    assert.equal(w.name, 'bio/blast-0');
    assert.equal(w.containerdNamespace, 'k8s.io');

    const metrics = parseMetrics(await getText(`${sandbox.agent.url}/metrics`));
    const info = metrics.find(
      (m) => m.name === 'microstat_workload_info' && m.labels['id'] === id,
    );
    assert.equal(info?.labels['pod'], 'blast-0');
    assert.equal(info.labels['pod_namespace'], 'bio');
  });
});
