import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { getJson, startAgent, type RunningAgent } from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../rig/docker.js';

/**
 * The agent only ever reads from Docker. A recording proxy sits between
 * the agent and the real socket; the test starts and removes a container
 * behind the agent's back (on the real socket) so that discovery, events
 * and inspection all run, then checks every request that went through.
 */

const DOCKER_SOCKET = '/var/run/docker.sock';
const NAME = `ms-hard-ro-${process.pid}`;
const WAIT_MS = 20_000;

/**
 * What the agent may ask, with or without an API version prefix
 * (`/v1.47/containers/json?all=1`).
 */
const ALLOWED =
  /^(?:\/v\d+\.\d+)?\/(?:version|containers\/json|containers\/[0-9a-f]{64}\/json|events)(?:\?.*)?$/;

interface Recorded {
  readonly method: string;
  readonly path: string;
}

/** An HTTP proxy on a unix socket that forwards to Docker and records. */
async function recordingProxy(
  socketPath: string,
): Promise<[Server, Recorded[]]> {
  const recorded: Recorded[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    recorded.push({ method: req.method ?? '', path: req.url ?? '' });
    const upstream = httpRequest(
      {
        socketPath: DOCKER_SOCKET,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.listen(socketPath);
  await new Promise((resolve) => server.once('listening', resolve));
  return [server, recorded];
}

async function workloadIds(agent: RunningAgent): Promise<string[]> {
  const body = (await getJson(`${agent.url}/api/v1/workloads`)) as {
    workloads: { id: string }[];
  };
  return body.workloads.map((w) => w.id);
}

async function waitFor(what: string, check: () => Promise<boolean>) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await delay(200);
  }
}

describe('the agent only reads from Docker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'microstat-proxy-'));
  let proxy: Server;
  let recorded: Recorded[];
  let agent: RunningAgent | undefined;

  before(async () => {
    await ensureDocker();
    [proxy, recorded] = await recordingProxy(join(dir, 'docker.sock'));
  });

  after(async () => {
    await agent?.stop();
    await removeContainers([NAME]);
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends only GETs of version, container lists, inspects and events', async () => {
    agent = await startAgent([
      '--docker.host',
      `unix://${join(dir, 'docker.sock')}`,
      '--no-collector.kata',
      '--no-collector.containerd',
    ]);
    const running = agent;
    const id = await runContainer(NAME, [
      '--network',
      'none',
      BUSYBOX_IMAGE,
      'sleep',
      '300',
    ]);
    await waitFor('the container to appear', async () =>
      (await workloadIds(running)).includes(id),
    );
    await removeContainers([NAME]);
    await waitFor(
      'the container to go',
      async () => !(await workloadIds(running)).includes(id),
    );
    await getJson(`${running.url}/api/v1/host`);
    await running.stop();

    assert.ok(recorded.length > 0, 'nothing went through the proxy');
    assert.ok(
      recorded.some((r) => r.path.includes(`/containers/${id}/json`)),
      'the new container was never inspected through the proxy',
    );
    const offending = recorded.filter(
      (r) => r.method !== 'GET' || !ALLOWED.test(r.path),
    );
    assert.deepEqual(offending, []);
  });
});
