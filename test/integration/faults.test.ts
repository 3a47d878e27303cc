import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { REFRESH_MS as CONTAINERD_REFRESH_MS } from '../../agent/src/discover/containerd.js';
import { RETRY_MAX_MS as DOCKER_RETRY_MAX_MS } from '../../agent/src/discover/docker.js';
import type {
  WorkloadJson,
  WorkloadsResponse,
} from '../../agent/src/export/api.js';
import { DEFAULT_TIMEOUT_MS as CONTAINERD_DEADLINE_MS } from '../../agent/src/sources/containerd.js';
import {
  getJson,
  getText,
  parseMetrics,
  startAgent,
  type RunningAgent,
} from '../rig/agent.js';
import {
  atLeast,
  describeRecords,
  parseAgentLog,
  stackTraces,
  type AgentLog,
} from '../rig/agent-log.js';
import { CONTAINERD_SOCKET, ctr, ensureImage } from '../rig/containerd.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  killDockerd,
  removeContainers,
  run,
  runContainer,
  startDockerd,
} from '../rig/docker.js';
import {
  absentContainerd,
  failingContainerd,
  garbageContainerd,
  lateContainerd,
  silentContainerd,
  type FakeContainerd,
} from '../rig/fake-containerd.js';
import { startMicroVm, type MicroVm } from '../rig/microvm.js';
import { repoRoot } from '../rig/paths.js';
import { waitFor } from '../rig/wait.js';
import {
  collectorSuccess,
  exportsWorkload,
  failedPolls,
  watchAgent,
  type Poll,
  type Watch,
} from '../rig/watch.js';

/**
 * The agent while the daemons that name workloads fail under it: dockerd
 * killed and started again, containerd absent, silent, speaking garbage,
 * failing every call or answering too late. Throughout, the agent must
 * keep serving what it reads from /proc and cgroups (a real microVM of the
 * rig, Docker containers), report the failing collector as failed, say so
 * once in its log rather than once per retry, with no stack trace, and
 * take the source up again when it answers.
 */

const PREFIX = 'ms-fault-';
const LONG = { timeout: 180_000 };
/** A pause between polls short enough to catch a brief hiccup. */
const POLL_INTERVAL_MS = 100;
/** Longer than any bound asserted, so a slow answer is measured, not cut. */
const POLL_TIMEOUT_MS = 15_000;

/** The rig's microVM, shared by both scenarios; started in `before`. */
const vmId = randomBytes(32).toString('hex');
let vm: MicroVm | undefined;

before(async () => {
  await ensureDocker();
  vm = await startMicroVm({ id: vmId, memoryMiB: 256, vcpus: 1 });
}, LONG);

after(async () => {
  await vm?.stop();
});

async function workloads(agent: RunningAgent): Promise<WorkloadsResponse> {
  return (await getJson(`${agent.url}/api/v1/workloads`)) as WorkloadsResponse;
}

async function findWorkload(
  agent: RunningAgent,
  id: string,
): Promise<WorkloadJson | undefined> {
  return (await workloads(agent)).workloads.find((w) => w.id === id);
}

function metricsPolls(polls: readonly Poll[]): Poll[] {
  return polls.filter((p) => p.path === '/metrics' && p.status === 200);
}

/** Keeps an agent's output in test-artifacts/ for whoever reads a failure. */
async function saveLog(agent: RunningAgent, name: string): Promise<void> {
  const dir = join(repoRoot, 'test-artifacts');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `agent-faults-${name}.log`), agent.logs());
}

/** Every line is a log record, and none carries a stack trace. */
function assertCleanLog(log: AgentLog): void {
  assert.deepEqual(log.stray, [], 'every output line is a log record');
  assert.deepEqual(stackTraces(log), [], 'no stack trace in the log');
}

// ---------------------------------------------------------------------------

interface Fault {
  readonly name: string;
  /** For file names. */
  readonly slug: string;
  /** Puts the fault at `path`, where the agent looks for containerd. */
  start(path: string): Promise<FakeContainerd>;
}

/** Ten deadlines: the client has given up long before. */
const LATE_ANSWER_MS = 10 * CONTAINERD_DEADLINE_MS;

const FAULTS: readonly Fault[] = [
  {
    name: 'a path with no socket',
    slug: 'absent',
    start: () => Promise.resolve(absentContainerd()),
  },
  {
    name: 'a socket that accepts and never answers',
    slug: 'silent',
    start: silentContainerd,
  },
  {
    name: 'a socket that answers garbage',
    slug: 'garbage',
    start: garbageContainerd,
  },
  {
    name: 'a gRPC server failing every call',
    slug: 'grpc-error',
    start: failingContainerd,
  },
  {
    name: 'a gRPC server answering after the deadline',
    slug: 'grpc-late',
    start: (path) => lateContainerd(path, LATE_ANSWER_MS),
  },
];

/**
 * The first collection waits for containerd's first attempt: a connect
 * bounded by the client's deadline, then (every fake above fails the
 * first call) one call bounded by it again. Later collections never wait
 * on containerd. One more second covers the collection itself on a busy
 * 2-core machine.
 */
const SCRAPE_BOUND_MS = 2 * CONTAINERD_DEADLINE_MS + 1000;
/** Two and a half refresh periods: the agent retried at least twice. */
const OBSERVE_MS = 2.5 * CONTAINERD_REFRESH_MS;
/**
 * A failing containerd is asked once a refresh period, never on every
 * lookup of the unnamed microVM (once a tick): at most one attempt per
 * period begun, the first one included.
 */
const MAX_ATTEMPTS = Math.ceil(OBSERVE_MS / CONTAINERD_REFRESH_MS);
/** The next refresh, after an attempt at the old fault that may be running. */
const NAMES_RETURN_MS = CONTAINERD_REFRESH_MS + 2 * CONTAINERD_DEADLINE_MS;

/** What one agent went through with one fault in containerd's place. */
interface Observed {
  readonly fault: Fault;
  readonly address: string;
  readonly fake: FakeContainerd;
  readonly agent: RunningAgent;
  readonly polls: readonly Poll[];
  /** When the observation window closed; the agent runs on after it. */
  readonly untilMs: number;
}

describe('containerd gone, silent, garbled, failing or slow', () => {
  const steady = `${PREFIX}steady`;
  let steadyId = '';
  let dir = '';
  const observed = new Map<string, Observed>();

  /** One agent with one fault, watched for OBSERVE_MS. */
  async function observe(fault: Fault): Promise<void> {
    const address = join(dir, `${fault.slug}.sock`);
    const fake = await fault.start(address);
    const agent = await startAgent([
      ...['--log.format', 'json'],
      ...['--containerd.address', address],
    ]);
    const watch = watchAgent(agent.url, {
      intervalMs: 500,
      timeoutMs: POLL_TIMEOUT_MS,
    });
    await delay(OBSERVE_MS);
    const untilMs = Date.now();
    const polls = await watch.stop();
    observed.set(fault.slug, { fault, address, fake, agent, polls, untilMs });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-fault-containerd-'));
    await removeContainers([steady]);
    steadyId = await runContainer(steady, [
      ...['--network', 'none', BUSYBOX_IMAGE, 'sleep', '3600'],
    ]);
    // The record that names the microVM once the real containerd answers.
    const image = await ensureImage('default');
    await ctr(['-n', 'default', 'containers', 'rm', vmId]).catch(() => '');
    await ctr([
      ...['-n', 'default', 'containers', 'create'],
      ...['--runtime', 'io.containerd.kata.v2', image, vmId],
    ]);
    // The agents run side by side: one observation window for all faults.
    await Promise.all(FAULTS.map((fault) => observe(fault)));
  }, LONG);

  after(async () => {
    for (const { agent, fake, fault } of observed.values()) {
      await agent.stop();
      await saveLog(agent, `containerd-${fault.slug}`);
      await fake.close();
    }
    await ctr(['-n', 'default', 'containers', 'rm', vmId]).catch(() => '');
    await removeContainers([steady]);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }, LONG);

  for (const fault of FAULTS) {
    it(`keeps serving with ${fault.name} in its place`, LONG, async (t) => {
      const seen = observed.get(fault.slug);
      assert.ok(seen !== undefined, `agent observed with ${fault.name}`);
      const { agent, polls, address, untilMs } = seen;

      assert.deepEqual(failedPolls(polls), [], 'every poll answered 200');
      const scrapes = metricsPolls(polls);
      assert.ok(scrapes.length >= 20, `${scrapes.length} scrapes`);
      const slowest = Math.max(...scrapes.map((p) => p.durationMs));
      assert.ok(
        slowest <= SCRAPE_BOUND_MS,
        `slowest scrape ${Math.round(slowest)} ms, bound ${SCRAPE_BOUND_MS}`,
      );
      for (const p of scrapes) {
        assert.ok(exportsWorkload(p.samples, vmId), 'the microVM exported');
        assert.ok(exportsWorkload(p.samples, steadyId), 'the container too');
        assert.equal(collectorSuccess(p.samples, 'containerd'), 0);
      }
      const status = (await workloads(agent)).collectors.find(
        (c) => c.collector === 'containerd',
      );
      assert.equal(status?.success, false, 'containerd collector failed');
      assert.ok(status.error?.includes(address), `error: ${status.error}`);

      const log = parseAgentLog(agent.logs());
      assertCleanLog(log);
      const containerd = log.records.filter(
        (r) => r.collector === 'containerd',
      );
      const warnings = atLeast(containerd, 'warn');
      assert.equal(
        warnings.length,
        1,
        `one warning over ${OBSERVE_MS} ms:\n${describeRecords(warnings)}`,
      );
      assert.equal(warnings[0]?.fields.address, address);
      // The one warning stands for several attempts, and the attempts
      // come once a refresh period.
      const retried = containerd.filter(
        (r) => r.msg === 'containerd still unreachable' && r.timeMs <= untilMs,
      ).length;
      assert.ok(
        retried >= 2 && retried + 1 <= MAX_ATTEMPTS,
        `${retried} retries after the first failure, logged at debug`,
      );
      // And the agent met the fault itself, not some other failure.
      const met = seen.fake.attempts();
      assert.ok(met === undefined || met > 0, `the fake saw ${met} attempts`);
      t.diagnostic(
        `${scrapes.length} scrapes, slowest ${Math.round(slowest)} ms; ` +
          `${retried + 1} attempts, ${met ?? 'uncounted'} seen by the fake`,
      );
    });
  }

  it('names the microVM once the real containerd answers', LONG, async () => {
    // Every address now leads to the real containerd, at once for all.
    for (const { fake, address } of observed.values()) {
      await fake.close();
      await symlink(CONTAINERD_SOCKET, address);
    }
    await Promise.all(
      [...observed.values()].map(async ({ agent, address }) => {
        const named = await waitFor(
          `containerd's names at ${address}`,
          async () => {
            const found = await findWorkload(agent, vmId);
            return found?.engine === 'containerd' ? found : undefined;
          },
          NAMES_RETURN_MS,
        );
        assert.equal(named.containerdNamespace, 'default');
        const status = (await workloads(agent)).collectors.find(
          (c) => c.collector === 'containerd',
        );
        assert.equal(status?.success, true, `containerd at ${address}`);
        const recovered = parseAgentLog(agent.logs()).records.filter(
          (r) => r.msg === 'containerd reachable again',
        );
        assert.equal(recovered.length, 1, 'the agent says it recovered');
      }),
    );
  });
});

// ---------------------------------------------------------------------------

/**
 * dockerd is SIGKILLed, as a crash or the OOM killer would end it, and
 * started again a few retries later. Last in the file: the daemon that
 * comes back stops every container without a restart policy.
 */
describe('dockerd killed and started again', () => {
  const phoenix = `${PREFIX}phoenix`;
  let agent: RunningAgent | undefined;

  before(async () => {
    await removeContainers([phoenix]);
    agent = await startAgent(['--log.format', 'json']);
  }, LONG);

  after(async () => {
    // Whatever failed above, leave a daemon that answers.
    await startDockerd();
    if (agent !== undefined) {
      await agent.stop();
      await saveLog(agent, 'dockerd-killed');
    }
    await removeContainers([phoenix]);
  }, LONG);

  it('serves every poll and takes Docker up again', LONG, async (t) => {
    assert.ok(agent !== undefined, 'agent started');
    const current = agent;
    const id = await runContainer(phoenix, [
      ...['--restart', 'always', '--network', 'none'],
      ...[BUSYBOX_IMAGE, 'sleep', '3600'],
    ]);
    const oldPid = await initPid(phoenix);
    await waitFor(
      `${phoenix} and the microVM in the agent's reading`,
      async () => {
        const { workloads: all } = await workloads(current);
        const container = all.some((w) => w.id === id && w.initPid === oldPid);
        return container && all.some((w) => w.id === vmId) ? true : undefined;
      },
      20_000,
    );

    const watch = watchAgent(current.url, {
      intervalMs: POLL_INTERVAL_MS,
      timeoutMs: POLL_TIMEOUT_MS,
    });
    let killedAtMs = 0;
    let backAtMs = 0;
    let newPid = 0;
    let newPidAtMs = 0;
    let returnedAtMs = 0;
    try {
      killedAtMs = Date.now();
      await killDockerd();
      await waitFor(
        'a scrape with the docker collector failing',
        () => Promise.resolve(dockerFailing(watch) || undefined),
        10_000,
      );
      // Keep the daemon away until the agent retried three times, so that
      // one warning means one per outage and not one per attempt.
      await waitFor(
        'three failed retries in the log',
        () =>
          Promise.resolve(
            retries(current.logs(), killedAtMs) >= 3 || undefined,
          ),
        30_000,
      );

      await startDockerd();
      backAtMs = Date.now();
      await waitFor(
        `dockerd restarts ${phoenix}`,
        async () => {
          newPid = await initPid(phoenix).catch(() => 0);
          newPidAtMs = Date.now();
          return newPid !== 0 && newPid !== oldPid ? true : undefined;
        },
        30_000,
      );
      await waitFor(
        `${phoenix} reported with init pid ${newPid}, Docker healthy`,
        async () => {
          const reading = await workloads(current);
          returnedAtMs = Date.now();
          const found = reading.workloads.find((w) => w.id === id);
          const docker = reading.collectors.find(
            (c) => c.collector === 'docker',
          );
          return found?.initPid === newPid && docker?.success === true
            ? true
            : undefined;
        },
        30_000,
      );
    } finally {
      await watch.stop();
    }

    const polls = watch.polls();
    assert.deepEqual(failedPolls(polls), [], 'every poll answered 200');
    const outage = polls.filter(
      (p) => p.atMs >= killedAtMs && p.atMs <= backAtMs,
    );
    assert.ok(outage.length >= 20, `${outage.length} polls in the outage`);

    const scrapes = metricsPolls(polls);
    const missing = scrapes.filter((p) => !exportsWorkload(p.samples, vmId));
    assert.equal(missing.length, 0, 'the microVM is in every scrape');
    assert.ok(
      metricsPolls(outage).some(
        (p) => collectorSuccess(p.samples, 'docker') === 0,
      ),
      'the docker collector reports failure while dockerd is gone',
    );
    // Scrapes may be answered from the last tick's reading: allow one more.
    await waitFor(
      'a scrape with the docker collector healthy again',
      async () => {
        const now = parseMetrics(await getText(`${current.url}/metrics`));
        return collectorSuccess(now, 'docker') === 1 || undefined;
      },
      3000,
    );

    // The agent retries at most DOCKER_RETRY_MAX_MS apart: it lists the
    // containers within that of dockerd answering, and the restarted
    // container within that of its start, plus a listing's time.
    const returnMs = returnedAtMs - newPidAtMs;
    const bound = DOCKER_RETRY_MAX_MS + 3000;
    assert.ok(returnMs <= bound, `returned ${returnMs} ms after its restart`);

    t.diagnostic(
      `${outage.length} polls in a ${backAtMs - killedAtMs} ms outage; ` +
        `${phoenix} back ${returnMs} ms after its restart`,
    );

    const log = parseAgentLog(current.logs());
    assertCleanLog(log);
    const warnings = atLeast(
      log.records.filter(
        (r) => r.collector === 'docker' && r.timeMs >= killedAtMs,
      ),
      'warn',
    );
    assert.equal(
      warnings.length,
      1,
      `one warning for the outage:\n${describeRecords(warnings)}`,
    );
    assert.equal(warnings[0]?.msg, 'Docker daemon unreachable');
    assert.ok(
      log.records.some(
        (r) => r.msg === 'Docker discovery connected' && r.timeMs > killedAtMs,
      ),
      'the agent says it reconnected',
    );
  });
});

/** The host pid of a container's init process; 0 when it is not running. */
async function initPid(name: string): Promise<number> {
  return Number(await run(['inspect', '-f', '{{.State.Pid}}', name]));
}

function dockerFailing(watch: Watch): boolean {
  const last = metricsPolls(watch.polls()).at(-1);
  return last !== undefined && collectorSuccess(last.samples, 'docker') === 0;
}

/** Retries after a first failure the Docker source logged since `sinceMs`. */
function retries(output: string, sinceMs: number): number {
  return parseAgentLog(output).records.filter(
    (r) =>
      r.collector === 'docker' &&
      r.msg === 'Docker daemon still unreachable' &&
      r.timeMs >= sinceMs,
  ).length;
}
