import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

import type { WorkloadsResponse } from '../../agent/src/export/api.js';
import { getJson, startAgentAs, type RunningAgent } from '../rig/agent.js';
import {
  atLeast,
  describeRecords,
  parseAgentLog,
  stackTraces,
  type AgentLog,
  type LogRecord,
} from '../rig/agent-log.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../rig/docker.js';
import { startMicroVm, type MicroVm } from '../rig/microvm.js';
import { repoRoot } from '../rig/paths.js';
import { waitFor } from '../rig/wait.js';
import {
  collectorSuccess,
  exportsWorkload,
  failedPolls,
  watchAgent,
  type Poll,
} from '../rig/watch.js';

/**
 * The agent run as `nobody` on the real host, beside a running container
 * and a microVM of the rig. The Docker and containerd sockets, Kata's
 * state files and other users' /proc/<pid>/smaps_rollup and io are closed
 * to it. It must start, serve, report what /proc and cgroups still show
 * (the host, the microVM by RSS instead of PSS), and say once per source
 * what it cannot reach: no stack trace, no line repeated every tick.
 */

const execFileAsync = promisify(execFile);

const USER = 'nobody';
const GROUP = 'nogroup';
const NAME = `ms-nobody-${process.pid}`;
const LONG = { timeout: 180_000 };
/**
 * Watched this long: a dozen collection ticks, more than one containerd
 * refresh period (10 s) and two of Docker's longest retry waits (5 s).
 */
const OBSERVE_MS = 12_000;
/** The agent's collection tick (serve.ts). */
const TICK_MS = 1000;

/**
 * How often each line was written: records with the same level, source,
 * message and subject (the socket, address or host they name) count as
 * one line written again.
 */
function countBy(records: readonly LogRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) {
    const { socket, address, host } = r.fields;
    const subject = [socket, address, host].find((v) => typeof v === 'string');
    const key = [r.level, r.collector, r.msg, subject].join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * Why USER cannot run the built agent, or undefined when it can: dist/
 * and node_modules must be readable by it, and the test must be root to
 * change user at all.
 */
async function cannotRunAgent(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root to run the agent as nobody';
  const main = join(repoRoot, 'dist', 'agent', 'src', 'cli', 'main.js');
  try {
    await execFileAsync(
      'setpriv',
      [
        ...[`--reuid=${USER}`, `--regid=${GROUP}`, '--clear-groups'],
        ...[process.execPath, main, '--version'],
      ],
      { cwd: repoRoot, timeout: 20_000 },
    );
    return undefined;
  } catch (error: unknown) {
    const stderr =
      typeof error === 'object' && error !== null && 'stderr' in error
        ? String(error.stderr).trim().split('\n')[0]
        : String(error);
    return `${USER} cannot run ${main} (${stderr}); run from a copy it can read`;
  }
}

const skip = await cannotRunAgent();

describe(`the agent run as ${USER}`, { skip }, () => {
  const vmId = randomBytes(32).toString('hex');
  let vm: MicroVm | undefined;
  let agent: RunningAgent | undefined;
  let polls: readonly Poll[] = [];
  let log: AgentLog = { records: [], stray: [] };
  let reading: WorkloadsResponse | undefined;

  before(async () => {
    await ensureDocker();
    await removeContainers([NAME]);
    await runContainer(NAME, [
      ...['--network', 'none', BUSYBOX_IMAGE, 'sleep', '3600'],
    ]);
    vm = await startMicroVm({ id: vmId, memoryMiB: 256, vcpus: 1 });

    const started = await startAgentAs(USER, GROUP, ['--log.format', 'json']);
    agent = started;
    const watch = watchAgent(started.url, {
      intervalMs: 250,
      timeoutMs: 15_000,
    });
    await delay(OBSERVE_MS);
    polls = await watch.stop();
    reading = (await getJson(
      `${started.url}/api/v1/workloads`,
    )) as WorkloadsResponse;
    log = parseAgentLog(started.logs());
  }, LONG);

  after(async () => {
    if (agent !== undefined) {
      await agent.stop();
      const dir = join(repoRoot, 'test-artifacts');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'agent-nobody.log'), agent.logs());
    }
    await vm?.stop();
    await removeContainers([NAME]);
  }, LONG);

  it('serves /healthz and /metrics on every poll', () => {
    assert.deepEqual(failedPolls(polls), [], 'every poll answered 200');
    const scrapes = polls.filter((p) => p.path === '/metrics');
    assert.ok(scrapes.length >= 20, `${scrapes.length} scrapes`);
  });

  it('reports the host and the microVM it can read', async () => {
    assert.ok(agent !== undefined && reading !== undefined);
    const last = polls.filter((p) => p.path === '/metrics').at(-1);
    const samples = last?.samples ?? [];
    assert.ok(
      samples.some((s) => s.name === 'microstat_host_cpus' && s.value > 0),
      'host CPUs exported',
    );
    assert.equal(collectorSuccess(samples, 'host'), 1);
    assert.equal(collectorSuccess(samples, 'kata'), 1, 'Kata discovery works');
    assert.ok(exportsWorkload(samples, vmId), 'the microVM is exported');

    // Another user's smaps_rollup is closed to nobody: memory is RSS.
    const current = agent;
    const found = await waitFor(
      'the microVM in the JSON API',
      async () =>
        (
          (await getJson(
            `${current.url}/api/v1/workloads`,
          )) as WorkloadsResponse
        ).workloads.find((w) => w.id === vmId),
      5_000,
    );
    assert.equal(found.memoryMethod, 'rss');
    assert.ok((found.usage.memoryUsageBytes ?? 0) > 0, 'memory read');
    assert.ok((found.usage.cpuSeconds ?? 0) > 0, 'CPU read');
  });

  it('reports the sockets it may not use as failed collectors', () => {
    assert.ok(reading !== undefined);
    const status = (name: string): string | undefined => {
      const collector = reading?.collectors.find((c) => c.collector === name);
      assert.equal(collector?.success, false, `${name} collector failed`);
      return collector.error;
    };
    assert.match(status('docker') ?? '', /EACCES/);
    assert.match(status('containerd') ?? '', /permission denied/);
  });

  it('says once per source what it cannot reach', () => {
    assert.deepEqual(log.stray, [], 'every output line is a log record');
    assert.deepEqual(stackTraces(log), [], 'no stack trace in the log');
    assert.ok(
      !log.records.some((r) => r.level === 'error' || r.level === 'fatal'),
      'nothing logged as an error',
    );

    const warnings = atLeast(log.records, 'warn');
    const about = (collector: string): string =>
      describeRecords(warnings.filter((r) => r.collector === collector));
    const docker = warnings.filter((r) => r.collector === 'docker');
    assert.equal(docker.length, 1, `one Docker warning:\n${about('docker')}`);
    assert.match(String(docker[0]?.fields.err), /EACCES/);
    const containerd = warnings.filter((r) => r.collector === 'containerd');
    assert.equal(
      containerd.length,
      1,
      `one containerd warning:\n${about('containerd')}`,
    );
    assert.match(String(containerd[0]?.fields.err), /permission denied/);

    // The rig writes persist.json 0640, as Kata does: one line says the
    // state is closed and discovery goes on from /proc.
    const kata = atLeast(log.records, 'info').filter(
      (r) => r.collector === 'kata',
    );
    assert.equal(kata.length, 1, `one Kata line:\n${describeRecords(kata)}`);
    assert.equal(kata[0]?.level, 'info');
    assert.match(String(kata[0].fields.err), /persist\.json/);
  });

  it('says once that microVM memory is RSS, not PSS', () => {
    const rss = log.records.filter((r) => /as RSS, not PSS/.test(r.msg));
    assert.equal(rss.length, 1, `one line:\n${describeRecords(rss)}`);
    assert.equal(rss[0]?.level, 'info');
  });

  it('repeats no line at info or above', () => {
    const counts = countBy(atLeast(log.records, 'info'));
    const repeated = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'each line at info or above once');
  });

  it('writes no line on every tick, even at debug', () => {
    // The agent collects once a second; a line on more than every other
    // tick is one per tick, give or take a slow one.
    const limit = OBSERVE_MS / TICK_MS / 2;
    const frequent = [...countBy(log.records)].filter(([, n]) => n > limit);
    assert.deepEqual(frequent, [], `no line more than ${limit} times`);
  });
});
