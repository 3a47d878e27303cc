import { createServer, type ServerResponse } from 'node:http';

/**
 * A Docker Engine stand-in on a unix socket whose containers a test
 * starts, stops and removes, with the events a real daemon sends for each
 * (`start`, `die`, `destroy`) on /events. It answers the read calls the
 * agent makes (version, list, inspect, events) and nothing else.
 */

/** What the test says about a container; the rest is filled in. */
export interface DaemonContainer {
  readonly id: string;
  readonly name: string;
  readonly pid: number;
  /** HostConfig.Runtime: runc, or io.containerd.kata.v2 for a sandbox. */
  readonly runtime: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ChurnDaemon {
  /** Pass as DockerDiscovery's `host`. */
  readonly host: string;
  start(container: DaemonContainer): void;
  /** The container exits: not running, pid 0, a `die` event. */
  stop(id: string): void;
  /** `docker rm`: gone from inspect, a `destroy` event. */
  remove(id: string): void;
  /** Every container not removed, running or not. */
  list(): ListedContainer[];
  /** Requests the daemon refused: the agent asked for more than it reads. */
  readonly unexpected: string[];
  close(): Promise<void>;
}

export interface ListedContainer {
  readonly id: string;
  readonly runtime: string;
  readonly running: boolean;
}

interface Entry {
  readonly container: DaemonContainer;
  running: boolean;
}

export async function startChurnDaemon(
  socketPath: string,
): Promise<ChurnDaemon> {
  const records = new Map<string, Entry>();
  const streams = new Set<ServerResponse>();
  const unexpected: string[] = [];

  const emit = (id: string, action: string): void => {
    const line = JSON.stringify({
      Type: 'container',
      Action: action,
      Actor: { ID: id, Attributes: {} },
      time: Math.floor(Date.now() / 1000),
    });
    for (const stream of streams) stream.write(`${line}\n`);
  };

  const server = createServer((req, res) => {
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
      json({ ApiVersion: '1.47', Version: '27.0.0' });
    } else if (path === '/containers/json') {
      json([...records.values()].filter((r) => r.running).map(summary));
    } else if (inspect !== null) {
      const found = records.get(inspect[1] ?? '');
      if (found === undefined)
        res.writeHead(404).end('{"message":"no such container"}');
      else json(inspected(found));
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      streams.add(res);
      res.on('close', () => streams.delete(res));
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
    host: `unix://${socketPath}`,
    unexpected,
    start(container) {
      records.set(container.id, { container, running: true });
      emit(container.id, 'create');
      emit(container.id, 'start');
    },
    stop(id) {
      const found = records.get(id);
      if (found === undefined) return;
      found.running = false;
      emit(id, 'die');
    },
    remove(id) {
      if (!records.delete(id)) return;
      emit(id, 'destroy');
    },
    list: () =>
      [...records.values()].map(({ container, running }) => ({
        id: container.id,
        runtime: container.runtime,
        running,
      })),
    async close() {
      for (const stream of streams) stream.end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function summary({ container }: Entry): { Id: string } {
  return { Id: container.id };
}

/** GET /containers/<id>/json, the fields the agent reads. */
function inspected({ container: c, running }: Entry): unknown {
  return {
    Id: c.id,
    Name: `/${c.name}`,
    Config: { Image: 'local/busybox:latest', Labels: c.labels },
    HostConfig: { Runtime: c.runtime, NetworkMode: 'bridge' },
    State: {
      Status: running ? 'running' : 'exited',
      Running: running,
      Pid: running ? c.pid : 0,
    },
  };
}
