import { readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';

/**
 * Serves recorded Docker Engine API answers on a unix socket, for tests
 * that pair a fixture host tree with the daemon that would describe it.
 * Only the read calls the agent makes are answered; anything else is 404
 * and recorded in `unexpected`.
 */
export interface FixtureDaemon {
  readonly socketPath: string;
  readonly unexpected: string[];
  close(): Promise<void>;
}

interface Recording {
  readonly version: unknown;
  readonly containers: readonly { Id: string }[];
}

export async function startFixtureDaemon(
  recordingPath: string,
  socketPath: string,
): Promise<FixtureDaemon> {
  const recording = JSON.parse(
    await readFile(recordingPath, 'utf8'),
  ) as Recording;
  const unexpected: string[] = [];
  const streams = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    const path =
      (req.url ?? '').replace(/^\/v\d+\.\d+/, '').split('?')[0] ?? '';
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(path);
    if (req.method !== 'GET') {
      unexpected.push(`${req.method ?? ''} ${path}`);
      res.writeHead(405).end();
    } else if (path === '/version') {
      json(recording.version);
    } else if (path === '/containers/json') {
      json(recording.containers.map((c) => ({ Id: c.Id })));
    } else if (inspect !== null) {
      const found = recording.containers.find((c) => c.Id === inspect[1]);
      if (found === undefined)
        res.writeHead(404).end('{"message":"no such container"}');
      else json(found);
    } else if (path === '/events') {
      // An event stream that stays open and quiet.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      streams.add(res);
    } else {
      unexpected.push(`GET ${path}`);
      res.writeHead(404).end();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });

  return {
    socketPath,
    unexpected,
    async close() {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
