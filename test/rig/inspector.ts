import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Forces a full garbage collection in another Node process, so that its
 * memory can be compared from one moment to the next without V8's
 * collection schedule in the way. A Node process opens its inspector on
 * SIGUSR1 (https://nodejs.org/en/learn/getting-started/debugging); over
 * it, the DevTools protocol's HeapProfiler.collectGarbage collects all
 * that is garbage and shrinks the heap. The protocol runs over a
 * WebSocket, which Node 20 has no client for: the few frames needed are
 * written by hand (RFC 6455).
 */

const INSPECTOR_TIMEOUT_MS = 10_000;
const LISTENING = /Debugger listening on (ws:\/\/\S+)/;

/**
 * Opens the inspector of process `pid` (at most once: a second SIGUSR1
 * is a no-op) and returns its WebSocket URL, read from the process's
 * output as `logs()` returns it. It listens on Node's default,
 * 127.0.0.1:9229; when another inspector holds that port, the process
 * says so in its output, which the error then shows.
 */
export async function openInspector(
  pid: number,
  logs: () => string,
): Promise<string> {
  process.kill(pid, 'SIGUSR1');
  const deadline = Date.now() + INSPECTOR_TIMEOUT_MS;
  for (;;) {
    const url = LISTENING.exec(logs())?.[1];
    if (url !== undefined) return url;
    if (Date.now() > deadline) {
      throw new Error(`no inspector on SIGUSR1 to ${pid}:\n${logs()}`);
    }
    await delay(50);
  }
}

/** Runs HeapProfiler.collectGarbage through the inspector at `url`. */
export async function collectGarbage(url: string): Promise<void> {
  const socket = await connect(url);
  try {
    const id = 1;
    const answer = reply(socket, id);
    send(socket, JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
    await answer;
  } finally {
    socket.destroy();
  }
}

/** The WebSocket handshake: an HTTP GET upgraded to a raw socket. */
function connect(url: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = request(url.replace(/^ws:/, 'http:'), {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
      timeout: INSPECTOR_TIMEOUT_MS,
    });
    req.on('upgrade', (_res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      reject(new Error(`inspector refused the upgrade: ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('inspector: timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** One text frame; a client masks what it sends (RFC 6455, 5.3). */
function send(socket: Duplex, text: string): void {
  const payload = Buffer.from(text, 'utf8');
  const length =
    payload.length < 126
      ? Buffer.from([0x80 | payload.length])
      : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const mask = randomBytes(4);
  const masked = payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0));
  socket.write(Buffer.concat([Buffer.from([0x81]), length, mask, masked]));
}

/**
 * Resolves when the answer to request `id` arrives, rejects when it is an
 * error or the socket closes first. Server frames are not masked.
 */
function reply(socket: Duplex, id: number): Promise<void> {
  let pending = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const frame = nextFrame(pending);
        if (frame === undefined) return;
        pending = pending.subarray(frame.bytes);
        const message = JSON.parse(frame.text) as {
          id?: number;
          error?: { message?: string };
        };
        if (message.id !== id) continue;
        if (message.error === undefined) resolve();
        else reject(new Error(`inspector: ${message.error.message ?? ''}`));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      reject(new Error('inspector closed before answering'));
    });
  });
}

/** The first whole frame in `buffer`: its text and its size in bytes. */
function nextFrame(
  buffer: Buffer,
): { text: string; bytes: number } | undefined {
  if (buffer.length < 2) return undefined;
  let length = (buffer[1] ?? 0) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return undefined;
  return {
    text: buffer.toString('utf8', offset, offset + length),
    bytes: offset + length,
  };
}
