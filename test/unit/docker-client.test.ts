import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { runtimeName } from '../../agent/src/discover/docker.js';
import {
  DockerApiError,
  DockerClient,
  dockerOptions,
  lowerVersion,
  parseEvent,
} from '../../agent/src/sources/docker.js';

describe('Docker Engine API helpers', () => {
  it('negotiates the lower API version', () => {
    assert.equal(lowerVersion('1.41', '1.47'), '1.41');
    assert.equal(lowerVersion('1.51', '1.47'), '1.47');
    assert.equal(lowerVersion('1.9', '1.10'), '1.9');
  });

  it('reads unix and tcp hosts', () => {
    assert.deepEqual(dockerOptions('unix:///run/user/1000/docker.sock'), {
      socketPath: '/run/user/1000/docker.sock',
    });
    assert.deepEqual(dockerOptions('tcp://10.0.0.2:2376'), {
      host: '10.0.0.2',
      port: '2376',
      protocol: 'http',
    });
    assert.throws(() => dockerOptions('ssh://host'), /unsupported Docker host/);
  });

  it('parses container events and ignores the rest', () => {
    const start = JSON.stringify({
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'abc', Attributes: { name: 'web' } },
    });
    assert.deepEqual(parseEvent(start), { id: 'abc', action: 'start' });
    const exec = JSON.stringify({
      Type: 'container',
      Action: 'exec_start: sh -c echo: hi',
      Actor: { ID: 'abc' },
    });
    assert.deepEqual(parseEvent(exec), { id: 'abc', action: 'exec_start' });
    const network = JSON.stringify({ Type: 'network', Action: 'connect' });
    assert.equal(parseEvent(network), undefined);
    assert.equal(parseEvent(''), undefined);
  });

  it('names runtimes the short way', () => {
    assert.equal(runtimeName('runc'), 'runc');
    assert.equal(runtimeName('io.containerd.runc.v2'), 'runc');
    assert.equal(runtimeName('io.containerd.kata.v2'), 'kata');
    assert.equal(runtimeName('io.containerd.kata-fc.v2'), 'kata');
    assert.equal(runtimeName('crun'), 'crun');
  });
});

/** A stand-in daemon on a unix socket that answers from a route table. */
async function fakeDaemon(
  routes: Record<string, (res: ServerResponse) => void>,
): Promise<{ host: string; requests: string[]; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'microstat-docker-client-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: string[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(`${req.method ?? ''} ${url}`);
    const route = routes[url.split('?')[0] ?? ''];
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"page not found"}');
      return;
    }
    open.add(res);
    res.on('close', () => open.delete(res));
    route(res);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    requests,
    async close() {
      for (const res of open) res.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function json(body: unknown, status = 200): (res: ServerResponse) => void {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

const ID = 'c'.repeat(64);

describe('DockerClient against a stand-in daemon', () => {
  it('negotiates, lists and inspects with GETs only', async () => {
    const daemon = await fakeDaemon({
      '/version': json({ Version: '20.10.24', ApiVersion: '1.41' }),
      '/v1.41/containers/json': json([{ Id: ID }, { Names: ['/odd'] }]),
      [`/v1.41/containers/${ID}/json`]: json({
        Id: ID,
        Name: '/web',
        Config: { Image: 'nginx:1.25', Labels: { a: 'b', n: 1 } },
        HostConfig: { Runtime: 'io.containerd.kata.v2', NetworkMode: 'bridge' },
        State: { Status: 'running', Running: true, Pid: 4242 },
      }),
    });
    try {
      const client = await DockerClient.connect(daemon.host);
      assert.equal(client.apiVersion, '1.41');
      assert.deepEqual(await client.listIds(), [ID]);
      assert.deepEqual(await client.inspect(ID), {
        id: ID,
        name: 'web',
        image: 'nginx:1.25',
        runtime: 'io.containerd.kata.v2',
        state: 'running',
        running: true,
        pid: 4242,
        networkMode: 'bridge',
        labels: { a: 'b' },
      });
      assert.equal(await client.inspect('gone'), undefined, '404: gone');
      assert.ok(daemon.requests.every((r) => r.startsWith('GET ')));
    } finally {
      await daemon.close();
    }
  });

  it('fails with the daemon message, and within its timeout', async () => {
    const daemon = await fakeDaemon({
      '/version': json({ Version: '27.0.1', ApiVersion: '1.46' }),
      '/v1.46/containers/json': json({ message: 'daemon is busy' }, 500),
      [`/v1.46/containers/${ID}/json`]: () => {
        // Never answers.
      },
    });
    try {
      const client = await DockerClient.connect(daemon.host, 300);
      await assert.rejects(
        client.listIds(),
        (error: unknown) =>
          error instanceof DockerApiError &&
          error.statusCode === 500 &&
          /daemon is busy/.test(error.message),
      );
      const started = performance.now();
      await assert.rejects(client.inspect(ID), /no answer in 300 ms/);
      assert.ok(performance.now() - started < 2000);
    } finally {
      await daemon.close();
    }
  });

  it('follows container events until aborted', async () => {
    let stream: ServerResponse | undefined;
    const daemon = await fakeDaemon({
      '/version': json({ Version: '27.0.1', ApiVersion: '1.46' }),
      '/v1.46/events': (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        stream = res;
      },
    });
    try {
      const client = await DockerClient.connect(daemon.host, 200);
      const seen: string[] = [];
      const controller = new AbortController();
      const following = client.followEvents((event) => {
        seen.push(`${event.action} ${event.id}`);
        if (seen.length === 2) controller.abort();
      }, controller.signal);
      while (stream === undefined) await delay(10);
      // Quiet for longer than the request timeout: a stream may idle.
      await delay(400);
      stream.write(
        `${JSON.stringify({ Type: 'network', Action: 'connect' })}\n` +
          `${JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID } })}\n`,
      );
      stream.write(
        `${JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID } })}\n`,
      );
      await following;
      assert.deepEqual(seen, [`start ${ID}`, `die ${ID}`]);
      assert.match(
        daemon.requests.at(-1) ?? '',
        /^GET \/v1\.46\/events\?filters=/,
      );
    } finally {
      await daemon.close();
    }
  });
});
