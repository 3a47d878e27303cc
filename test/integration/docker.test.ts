import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import type {
  CollectorStatus,
  HostUsage,
  WorkloadUsage,
} from '../../agent/src/model.js';
import { cpuPercent, type Reading } from '../../agent/src/sample/rates.js';
import {
  getJson,
  getText,
  parseMetrics,
  startAgent,
  type MetricSample,
  type RunningAgent,
} from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  dataRootDisk,
  dockerAnswers,
  dockerStatsNoStream,
  ensureDocker,
  removeContainers,
  restartDockerd,
  run,
  runContainer,
  type DockerStatsRow,
} from '../rig/docker.js';
import { repoRoot } from '../rig/paths.js';

/**
 * The agent against a real Docker daemon: its numbers must agree with
 * `docker stats`, its series must follow containers as they come and go, and
 * it must keep serving while dockerd restarts.
 */

const PREFIX = 'ms-it-';
const NETWORK = 'msnet-test';
const VOLUME = `${PREFIX}vol`;
const MIB = 1024 * 1024;
const LONG = { timeout: 120_000 };

/** A file each one-shot container touches when its traffic or I/O is done. */
const DONE_MARKER = '/tmp/done';

interface ContainerSpec {
  readonly name: string;
  readonly args: readonly string[];
  /** Whether the command touches DONE_MARKER once its one-shot work ends. */
  readonly oneShot: boolean;
}

function containerSpecs(disk: string): ContainerSpec[] {
  const none = ['--network', 'none'];
  const sleepy = (...args: string[]): string[] => [...args, 'sleep', '3600'];
  const shell = (script: string): string[] => ['sh', '-c', script];
  return [
    {
      name: `${PREFIX}burner`,
      args: [...none, BUSYBOX_IMAGE, ...shell('while :; do :; done')],
      oneShot: false,
    },
    {
      name: `${PREFIX}idle`,
      args: sleepy(...none, BUSYBOX_IMAGE),
      oneShot: false,
    },
    {
      // 64 MiB written to a tmpfs is shmem, charged to the container.
      name: `${PREFIX}holder`,
      args: [
        ...none,
        '--tmpfs',
        '/mem:size=128m',
        BUSYBOX_IMAGE,
        ...shell(
          'head -c 67108864 /dev/zero > /mem/blob; ' +
            `touch ${DONE_MARKER}; sleep 3600`,
        ),
      ],
      oneShot: true,
    },
    {
      name: `${PREFIX}limited`,
      args: sleepy(
        ...none,
        '--memory',
        '128m',
        '--pids-limit',
        '50',
        BUSYBOX_IMAGE,
      ),
      oneShot: false,
    },
    {
      name: `${PREFIX}peer-a`,
      args: sleepy('--network', NETWORK, BUSYBOX_IMAGE),
      oneShot: false,
    },
    {
      // 300 echo requests of 1200 bytes, answered: about 370 kB each way.
      name: `${PREFIX}peer-b`,
      args: [
        '--network',
        NETWORK,
        BUSYBOX_IMAGE,
        ...shell(
          `ping -c 300 -i 0.01 -s 1200 ${PREFIX}peer-a > /tmp/ping.log 2>&1; ` +
            `touch ${DONE_MARKER}; sleep 3600`,
        ),
      ],
      oneShot: true,
    },
    {
      // On this kernel (6.18, cgroup v1) blkio.throttle.io_service_bytes, the
      // file docker stats reads, stays at 0 unless the cgroup has a throttle
      // rule for the device; a 1 TB/s ceiling turns the accounting on without
      // slowing anything. Direct I/O so the bytes reach the disk, not the
      // page cache; the read back gives a non-zero read column too.
      name: `${PREFIX}writer`,
      args: [
        ...none,
        '--device-write-bps',
        `${disk}:1tb`,
        '--device-read-bps',
        `${disk}:1tb`,
        '-v',
        `${VOLUME}:/data`,
        BUSYBOX_IMAGE,
        ...shell(
          'dd if=/dev/urandom of=/data/f bs=1M count=16 oflag=direct; sync; ' +
            'dd if=/data/f of=/dev/null bs=1M iflag=direct; ' +
            `touch ${DONE_MARKER}; sleep 3600`,
        ),
      ],
      oneShot: true,
    },
  ];
}

const LATE = `${PREFIX}late`;
const PHOENIX = `${PREFIX}phoenix`;

// ---------------------------------------------------------------------------
// The agent's JSON, checked before use.

interface ApiUsage extends WorkloadUsage {
  /** The effective limit: the configured one, or host RAM. */
  readonly memoryLimitBytes: number;
}

interface ApiWorkload {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly runtime: string;
  readonly engine: string;
  readonly image: string;
  readonly state: string;
  readonly initPid?: number | null;
  readonly usage: ApiUsage;
}

interface ApiSnapshot {
  readonly monotonicSeconds: number;
  readonly host: HostUsage;
  readonly workloads: readonly ApiWorkload[];
  readonly collectors: readonly CollectorStatus[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const USAGE_NUMBERS = [
  'cpuSeconds',
  'memoryUsageBytes',
  'memoryRssBytes',
  'memoryCacheBytes',
  'pids',
  'networkReceiveBytes',
  'networkTransmitBytes',
  'blockReadBytes',
  'blockWriteBytes',
] as const;

function checkUsage(usage: unknown, where: string): void {
  assert.ok(isRecord(usage), `${where}: usage is an object`);
  for (const key of USAGE_NUMBERS) {
    const value = usage[key];
    assert.ok(
      value === undefined || typeof value === 'number',
      `${where}: usage.${key} is a number or absent`,
    );
  }
  for (const key of ['memoryLimit', 'pidsLimit']) {
    const value = usage[key];
    assert.ok(
      value === undefined || value === 'unlimited' || typeof value === 'number',
      `${where}: usage.${key} is a number, "unlimited" or absent`,
    );
  }
  assert.equal(typeof usage.memoryLimitBytes, 'number', `${where}: limit`);
}

function asSnapshot(value: unknown): ApiSnapshot {
  assert.ok(isRecord(value), 'workloads document is an object');
  assert.equal(typeof value.monotonicSeconds, 'number');
  assert.ok(isRecord(value.host), 'host is an object');
  for (const key of ['cpus', 'memoryTotalBytes', 'monotonicSeconds']) {
    assert.equal(typeof value.host[key], 'number', `host.${key}`);
  }
  assert.ok(Array.isArray(value.workloads), 'workloads is an array');
  assert.ok(Array.isArray(value.collectors), 'collectors is an array');
  for (const workload of value.workloads as unknown[]) {
    assert.ok(isRecord(workload), 'workload is an object');
    for (const key of ['id', 'name', 'kind', 'runtime', 'engine', 'image']) {
      assert.equal(typeof workload[key], 'string', `workload.${key}`);
    }
    checkUsage(workload.usage, `workload ${String(workload.name)}`);
  }
  return value as unknown as ApiSnapshot;
}

async function readWorkloads(agent: RunningAgent): Promise<ApiSnapshot> {
  return asSnapshot(await getJson(`${agent.url}/api/v1/workloads`));
}

async function scrape(agent: RunningAgent): Promise<MetricSample[]> {
  return parseMetrics(await getText(`${agent.url}/metrics`));
}

// ---------------------------------------------------------------------------
// Small helpers.

/** Polls `check` every `intervalMs` until it holds or `timeoutMs` passes. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await delay(intervalMs);
  }
}

/** The host pid of a container's init process; 0 when it is not running. */
async function initPid(name: string): Promise<number> {
  return Number(await run(['inspect', '-f', '{{.State.Pid}}', name]));
}

/** Whether a container's init process sees DONE_MARKER (read via /proc). */
async function isDone(name: string): Promise<boolean> {
  const pid = await initPid(name);
  return access(`/proc/${pid}/root${DONE_MARKER}`).then(
    () => true,
    () => false,
  );
}

/** |actual - expected| within `relative` of expected, or `absolute`. */
function assertClose(
  actual: number | undefined,
  expected: number,
  tolerance: { relative?: number; absolute?: number },
  message: string,
): void {
  assert.ok(actual !== undefined, `${message}: agent has no value`);
  const allowed = Math.max(
    (tolerance.relative ?? 0) * Math.abs(expected),
    tolerance.absolute ?? 0,
  );
  assert.ok(
    Math.abs(actual - expected) <= allowed,
    `${message}: agent ${actual}, docker ${expected} (allowed ±${allowed})`,
  );
}

function hasSeries(samples: readonly MetricSample[], id: string): boolean {
  return samples.some(
    (s) => s.name === 'microstat_workload_info' && s.labels.id === id,
  );
}

function mentions(samples: readonly MetricSample[], id: string): boolean {
  return samples.some((s) => s.labels.id === id);
}

/** The `cpuN` lines of /proc/stat: online CPUs as docker counts them. */
async function onlineCpus(): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8');
  return text.split('\n').filter((line) => /^cpu\d+ /.test(line)).length;
}

async function memTotalBytes(): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8');
  const kib = /^MemTotal:\s+(\d+) kB$/m.exec(text)?.[1];
  assert.ok(kib !== undefined, 'MemTotal in /proc/meminfo');
  return Number(kib) * 1024;
}

// ---------------------------------------------------------------------------

describe('agent against docker', () => {
  let agent: RunningAgent | undefined;
  let specs: ContainerSpec[] = [];
  /** Container name to full id, for the containers started in `before`. */
  const ids = new Map<string, string>();

  const started = (): RunningAgent => {
    assert.ok(agent !== undefined, 'agent started');
    return agent;
  };
  const idOf = (name: string): string => {
    const id = ids.get(name);
    assert.ok(id !== undefined, `container ${name} started`);
    return id;
  };
  const allNames = (): string[] => [
    ...specs.map((spec) => spec.name),
    LATE,
    PHOENIX,
  ];

  before(async () => {
    await ensureDocker();
    specs = containerSpecs(await dataRootDisk());
    await removeContainers(allNames());
    await run(['volume', 'rm', '-f', VOLUME]);
    await run(['network', 'rm', NETWORK]).catch(() => '');
    await run(['network', 'create', '-d', 'bridge', NETWORK]);

    for (const spec of specs) {
      ids.set(spec.name, await runContainer(spec.name, spec.args));
    }
    for (const spec of specs.filter((s) => s.oneShot)) {
      await waitFor(`${spec.name} done`, () => isDone(spec.name), 60_000, 200);
    }

    agent = await startAgent();
  }, LONG);

  after(async () => {
    if (agent !== undefined) {
      await agent.stop();
      const dir = join(repoRoot, 'test-artifacts');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'agent-docker-integration.log'), agent.logs());
    }
    await removeContainers(allNames());
    await run(['volume', 'rm', '-f', VOLUME]);
    await run(['network', 'rm', NETWORK]).catch(() => '');
  }, LONG);

  it('agrees with docker stats', LONG, async () => {
    const current = started();
    const containerIds = [...ids.values()];

    const readingA = await readWorkloads(current);
    const rows = await dockerStatsNoStream(containerIds);
    // The agent may serve a cached collection; wait for a later one so the
    // two readings span docker's sampling window.
    let readingB = await readWorkloads(current);
    await waitFor(
      'a second agent reading',
      async () => {
        readingB = await readWorkloads(current);
        return readingB.monotonicSeconds >= readingA.monotonicSeconds + 1;
      },
      15_000,
      250,
    );

    assert.deepEqual(
      rows.map((row) => row.id).sort(),
      [...containerIds].sort(),
      'docker stats shows every test container',
    );
    const ours = (snapshot: ApiSnapshot): string[] =>
      snapshot.workloads
        .filter((w) => w.name.startsWith(PREFIX))
        .map((w) => w.id)
        .sort();
    assert.deepEqual(ours(readingA), [...containerIds].sort(), 'reading A');
    assert.deepEqual(ours(readingB), [...containerIds].sort(), 'reading B');

    for (const row of rows) {
      compareRow(row, readingA, readingB);
    }

    const byName = new Map(rows.map((row) => [row.name, row]));
    const row = (name: string): DockerStatsRow => {
      const found = byName.get(name);
      assert.ok(found !== undefined, `docker stats row for ${name}`);
      return found;
    };
    // Guards against passing vacuously: the load really happened.
    assert.ok(row(`${PREFIX}burner`).cpuPercent > 80, 'burner burns a core');
    assert.ok(row(`${PREFIX}holder`).memoryUsageBytes >= 64 * MIB, 'holder');
    for (const peer of [`${PREFIX}peer-a`, `${PREFIX}peer-b`]) {
      assert.ok(row(peer).networkReceiveBytes > 300_000, `${peer} rx`);
      assert.ok(row(peer).networkTransmitBytes > 300_000, `${peer} tx`);
    }
    assert.ok(row(`${PREFIX}writer`).blockWriteBytes >= 16 * MIB, 'writes');
    assert.ok(row(`${PREFIX}writer`).blockReadBytes >= 16 * MIB, 'reads');
    assert.equal(row(`${PREFIX}limited`).memoryLimitBytes, 128 * MIB);

    const limited = find(readingB, idOf(`${PREFIX}limited`));
    assert.equal(limited.usage.memoryLimit, 128 * MIB, 'limited memory');
    assert.equal(limited.usage.pidsLimit, 50, 'limited pids');
    const idle = find(readingB, idOf(`${PREFIX}idle`));
    assert.equal(idle.usage.memoryLimit, 'unlimited', 'idle memory limit');
  });

  it('exports every container and the host in /metrics', LONG, async () => {
    const samples = await scrape(started());
    const value = (
      name: string,
      labels: Record<string, string>,
    ): number | undefined =>
      samples.find(
        (s) =>
          s.name === name &&
          Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )?.value;

    for (const [name, id] of ids) {
      const info = samples.filter(
        (s) => s.name === 'microstat_workload_info' && s.labels.id === id,
      );
      assert.equal(info.length, 1, `one info series for ${name}`);
      const expected = {
        id,
        name,
        kind: 'container',
        runtime: 'runc',
        engine: 'docker',
        image: BUSYBOX_IMAGE,
        hypervisor: '',
      };
      const labels = info[0]?.labels ?? {};
      for (const [key, wanted] of Object.entries(expected)) {
        assert.equal(labels[key], wanted, `info ${name} label ${key}`);
      }
      assert.equal(info[0]?.value, 1, `info ${name} value`);

      for (const metric of WORKLOAD_METRICS) {
        const series = samples.filter(
          (s) => s.name === metric && s.labels.id === id,
        );
        assert.equal(series.length, 1, `one ${metric} series for ${name}`);
        const [only] = series;
        assert.ok(only !== undefined);
        assert.deepEqual(only.labels, { id, name, kind: 'container' });
        assert.ok(
          only.value >= 0 && Number.isFinite(only.value),
          `${metric} ${name}: ${only.value}`,
        );
      }
    }

    const limited = {
      id: idOf(`${PREFIX}limited`),
      name: `${PREFIX}limited`,
      kind: 'container',
    };
    assert.equal(
      value('microstat_workload_memory_limit_bytes', limited),
      128 * MIB,
    );
    assert.equal(value('microstat_host_cpus', {}), await onlineCpus());
    assert.equal(
      value('microstat_host_memory_bytes', {}),
      await memTotalBytes(),
    );
    assert.equal(
      value('microstat_collector_success', { collector: 'docker' }),
      1,
    );
  });

  it('follows containers that come and go within 2 s', LONG, async () => {
    const current = started();
    const id = await runContainer(LATE, [
      '--network',
      'none',
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ]);
    await waitFor(
      `${LATE} appears in /metrics`,
      async () => hasSeries(await scrape(current), id),
      2_000,
    );

    await removeContainers([LATE]);
    await waitFor(
      `${LATE} leaves /metrics`,
      async () => !mentions(await scrape(current), id),
      2_000,
    );
  });

  // Last: dockerd stops every container without a restart policy.
  it('keeps serving while dockerd restarts', LONG, async () => {
    const current = started();
    const id = await runContainer(PHOENIX, [
      '--restart',
      'always',
      '--network',
      'none',
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ]);
    await waitFor(
      `${PHOENIX} appears in /metrics`,
      async () => hasSeries(await scrape(current), id),
      20_000,
    );

    const oldPid = await initPid(PHOENIX);

    const poller = pollWhile(current.url);
    let duringRestart = 0;
    let failures: string[] = [];
    try {
      await restartDockerd();
      duringRestart = poller.count();
      assert.ok(await dockerAnswers(), 'dockerd answers again');

      // A series left over from before the restart would pass a presence
      // check, so wait for the agent to report the restarted process:
      // dockerd starts the container anew, with a new init pid.
      const backBy = Date.now() + 20_000;
      let newPid = 0;
      await waitFor(
        `dockerd restarts ${PHOENIX}`,
        async () => {
          newPid = await initPid(PHOENIX);
          return newPid !== 0 && newPid !== oldPid;
        },
        backBy - Date.now(),
      );
      await waitFor(
        `${PHOENIX} back in /metrics with init pid ${newPid}`,
        async () =>
          hasSeries(await scrape(current), id) &&
          (await readWorkloads(current)).workloads.some(
            (w) => w.id === id && w.initPid === newPid,
          ),
        backBy - Date.now(),
      );
    } finally {
      // Stop polling even when a wait failed, or the loop keeps the test
      // process alive.
      failures = await poller.stop();
    }

    assert.deepEqual(failures, [], 'every poll answered 200');
    assert.ok(duringRestart >= 10, `polled ${duringRestart} times in restart`);
    const sameId = await run(['inspect', '-f', '{{.Id}}', PHOENIX]);
    assert.equal(sameId.trim(), id, 'the same container came back');
  });
});

const WORKLOAD_METRICS = [
  'microstat_workload_cpu_seconds_total',
  'microstat_workload_memory_usage_bytes',
  'microstat_workload_memory_rss_bytes',
  'microstat_workload_memory_limit_bytes',
  'microstat_workload_network_receive_bytes_total',
  'microstat_workload_network_transmit_bytes_total',
  'microstat_workload_block_read_bytes_total',
  'microstat_workload_block_write_bytes_total',
  'microstat_workload_pids',
] as const;

function find(snapshot: ApiSnapshot, id: string): ApiWorkload {
  const workload = snapshot.workloads.find((w) => w.id === id);
  assert.ok(workload !== undefined, `workload ${id} in the agent's reading`);
  return workload;
}

function reading(snapshot: ApiSnapshot, workload: ApiWorkload): Reading {
  return {
    monotonicSeconds: snapshot.monotonicSeconds,
    host: snapshot.host,
    usage: workload.usage,
  };
}

/** One docker stats row against the agent's readings around it. */
function compareRow(row: DockerStatsRow, a: ApiSnapshot, b: ApiSnapshot): void {
  const before = find(a, row.id);
  const now = find(b, row.id);
  const name = row.name;
  assert.equal(now.name, name, 'name');
  assert.equal(now.kind, 'container', `${name} kind`);
  assert.equal(now.engine, 'docker', `${name} engine`);

  const cpu = cpuPercent(reading(a, before), reading(b, now));
  assertClose(cpu, row.cpuPercent, { absolute: 5 }, `${name} CPU %`);

  const memory = { relative: 0.05, absolute: MIB };
  assertClose(
    now.usage.memoryUsageBytes,
    row.memoryUsageBytes,
    memory,
    `${name} memory usage`,
  );
  assertClose(
    now.usage.memoryLimitBytes,
    row.memoryLimitBytes,
    memory,
    `${name} memory limit`,
  );
  assert.equal(now.usage.pids, row.pids, `${name} pids`);

  // docker prints 0B only for a true 0, so 5 % of it demands equality.
  const io = { relative: 0.05 };
  const pairs: [number | undefined, number, string][] = [
    [now.usage.networkReceiveBytes, row.networkReceiveBytes, 'net rx'],
    [now.usage.networkTransmitBytes, row.networkTransmitBytes, 'net tx'],
    [now.usage.blockReadBytes, row.blockReadBytes, 'block read'],
    [now.usage.blockWriteBytes, row.blockWriteBytes, 'block write'],
  ];
  for (const [actual, expected, what] of pairs) {
    assertClose(actual, expected, io, `${name} ${what}`);
  }
}

interface Poller {
  /** Polls completed so far. */
  count(): number;
  /** Stops polling; resolves with the failures seen. */
  stop(): Promise<string[]>;
}

/** GETs /healthz and /metrics in turn, every 100 ms, until stopped. */
function pollWhile(url: string): Poller {
  const failures: string[] = [];
  let polls = 0;
  let running = true;

  const loop = async (): Promise<void> => {
    while (running) {
      for (const path of ['/healthz', '/metrics']) {
        try {
          const response = await fetch(`${url}${path}`, {
            signal: AbortSignal.timeout(10_000),
          });
          await response.arrayBuffer();
          if (response.status !== 200) {
            failures.push(`${path}: ${response.status}`);
          }
        } catch (error: unknown) {
          failures.push(`${path}: ${String(error)}`);
        }
        polls += 1;
      }
      await delay(100);
    }
  };
  const done = loop();

  return {
    count: () => polls,
    stop: async () => {
      running = false;
      await done;
      return failures;
    },
  };
}
