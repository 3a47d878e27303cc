import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { GuestReader } from '../../agent/src/sample/microvm.js';

/**
 * The guest's view comes from a shim's monitoring socket, which may be
 * gone, slow or broken. Each read is bounded by a timeout, costs one
 * error callback (the agent's debug line), and never throws.
 */
describe('GuestReader against a shim socket that misbehaves', () => {
  let dir = '';
  const servers: Server[] = [];
  let requests = 0;

  async function serve(
    name: string,
    handler: Parameters<typeof createServer>[1],
  ): Promise<string> {
    const path = join(dir, name);
    const server = createServer((req, res) => {
      requests++;
      handler?.(req, res);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return path;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'microstat-shim-'));
  });

  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    await rm(dir, { recursive: true, force: true });
  });

  function reader(errors: unknown[], minIntervalMs = 0): GuestReader {
    return new GuestReader(200, minIntervalMs, (_socket, error) => {
      errors.push(error);
    });
  }

  it('reads a well-behaved shim', async () => {
    const socket = await serve('good.sock', (_req, res) => {
      res.end(
        [
          'kata_guest_meminfo{item="mem_total"} 1048576000',
          'kata_guest_meminfo{item="mem_available"} 524288000',
          'kata_guest_cpu_time{cpu="total",item="user"} 1500',
          'kata_guest_cpu_time{cpu="total",item="idle"} 90000',
          '',
        ].join('\n'),
      );
    });
    const errors: unknown[] = [];
    const view = await reader(errors).read(socket);
    assert.deepEqual(view, {
      up: true,
      memoryTotalBytes: 1048576000,
      memoryAvailableBytes: 524288000,
      cpuSeconds: 1.5,
    });
    assert.deepEqual(errors, []);
  });

  it('gives up on a shim that never answers, within the timeout', async () => {
    const socket = await serve('slow.sock', () => {
      // Never answers.
    });
    const errors: unknown[] = [];
    const start = performance.now();
    const view = await reader(errors).read(socket);
    const elapsed = performance.now() - start;
    assert.deepEqual(view, { up: false });
    assert.equal(errors.length, 1);
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  });

  it('treats garbage, an HTTP error and a missing socket as down', async () => {
    const garbage = await serve('garbage.sock', (_req, res) => {
      res.end('\u0000\u0001 not { prometheus text\n');
    });
    const failing = await serve('500.sock', (_req, res) => {
      res.writeHead(500).end('boom');
    });
    const missing = join(dir, 'gone.sock');
    for (const socket of [garbage, failing, missing]) {
      const errors: unknown[] = [];
      assert.deepEqual(await reader(errors).read(socket), { up: false });
      assert.equal(errors.length, 1, socket);
    }
  });

  it('asks a shim at most once per interval', async () => {
    const socket = await serve('counted.sock', (_req, res) => {
      res.end('kata_guest_meminfo{item="mem_total"} 1\n');
    });
    const before = requests;
    const errors: unknown[] = [];
    const guests = reader(errors, 60_000);
    await guests.read(socket);
    await guests.read(socket);
    await guests.read(socket);
    assert.equal(requests - before, 1);
  });
});
