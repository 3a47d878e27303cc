import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

import { getText, startAgent, type RunningAgent } from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../rig/docker.js';
import { repoRoot } from '../rig/paths.js';

/**
 * A workload's environment and command line never leave the host: not in
 * the metrics, the API, the live events, nor `microstat ls`. The secret
 * sits in an environment variable and in argv of a running process.
 */

const SECRET = 'hunter2';
const NAME = `ms-hard-secret-${process.pid}`;
const MAIN = join(repoRoot, 'dist', 'agent', 'src', 'cli', 'main.js');
const NO_VM = ['--no-collector.kata', '--no-collector.containerd'];
const WAIT_MS = 20_000;
const execFileAsync = promisify(execFile);

/** The first `tick` of /api/v1/events that mentions `id`, whole. */
async function tickWith(url: string, id: string): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, WAIT_MS);
  try {
    const response = await fetch(`${url}/api/v1/events`, {
      signal: controller.signal,
    });
    assert.ok(response.body !== null);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of response.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      const events = text.split('\n\n');
      const tick = events.slice(0, -1).find((e) => e.includes(id));
      if (tick !== undefined) return tick;
    }
    throw new Error('event stream ended');
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe('workload secrets are never exported', () => {
  let agent: RunningAgent | undefined;
  let id = '';

  before(async () => {
    await ensureDocker();
    // `sh -c` with two commands stays alive as the parent, so the
    // secret stays in a live argv ($0 of the script).
    id = await runContainer(NAME, [
      '--network',
      'none',
      '-e',
      `SECRET_TOKEN=${SECRET}`,
      BUSYBOX_IMAGE,
      'sh',
      '-c',
      'sleep 300; :',
      `--password=${SECRET}`,
    ]);
    agent = await startAgent(NO_VM);
  });

  after(async () => {
    await agent?.stop();
    await removeContainers([NAME]);
  });

  it('keeps the secret out of every surface', async () => {
    assert.ok(agent !== undefined);
    const url = agent.url;
    const deadline = Date.now() + WAIT_MS;
    let workloads = '';
    while (!workloads.includes(id)) {
      assert.ok(Date.now() < deadline, 'the container never showed up');
      await delay(200);
      workloads = await getText(`${url}/api/v1/workloads`);
    }

    const { stdout: ls } = await execFileAsync(
      process.execPath,
      [MAIN, 'ls', '--format', 'json', ...NO_VM],
      { cwd: repoRoot },
    );
    const surfaces: Record<string, string> = {
      '/metrics': await getText(`${url}/metrics`),
      '/api/v1/workloads': workloads,
      '/api/v1/events': await tickWith(url, id),
      '/api/v1/host': await getText(`${url}/api/v1/host`),
      'microstat ls --format json': ls,
    };
    for (const [surface, text] of Object.entries(surfaces)) {
      // The host document names no workload; every other surface must.
      if (surface !== '/api/v1/host')
        assert.ok(text.includes(id.slice(0, 12)), `${surface} lacks it`);
      assert.ok(!text.includes(SECRET), `${surface} leaks the secret`);
    }
    // Nothing on the agent's own output either.
    assert.ok(!agent.logs().includes(SECRET), 'the agent logged the secret');
  });
});
