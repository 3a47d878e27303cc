import { createInterface } from 'node:readline';

import Docker from 'dockerode';

/**
 * A read-only client of the Docker Engine API. It lists and inspects
 * containers and follows the event stream; it never asks the daemon for
 * stats (values come from cgroups) and never changes anything.
 */

/** The newest API version this client was written against. */
export const CLIENT_API_VERSION = '1.47';

/** What discovery needs to know of one container. */
export interface DockerContainer {
  readonly id: string;
  readonly name: string;
  /** The image as the user named it (`Config.Image`), as docker ps shows. */
  readonly image: string;
  /** `HostConfig.Runtime`: runc, io.containerd.kata.v2, ... */
  readonly runtime: string;
  readonly state: string;
  readonly running: boolean;
  /** Host pid of the container's init process; 0 when not running. */
  readonly pid: number;
  readonly networkMode: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerEvent {
  readonly id: string;
  readonly action: string;
}

/** Where the daemon listens, from `unix:///path` or `tcp://host:port`. */
export function dockerOptions(host: string): Docker.DockerOptions {
  const url = new URL(host);
  if (url.protocol === 'unix:')
    return { socketPath: decodeURIComponent(url.pathname) };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') {
    return { host: url.hostname, port: url.port || 2375, protocol: 'http' };
  }
  throw new Error(
    `unsupported Docker host ${JSON.stringify(host)} (unix:// or tcp://)`,
  );
}

/** The lower of two "major.minor" API versions. */
export function lowerVersion(a: string, b: string): string {
  const [amaj = 0, amin = 0] = a.split('.').map(Number);
  const [bmaj = 0, bmin = 0] = b.split('.').map(Number);
  return amaj < bmaj || (amaj === bmaj && amin < bmin) ? a : b;
}

export class DockerClient {
  private constructor(
    /** For requests, with a timeout. */
    private readonly api: Docker,
    /** For the event stream, which may be idle for hours: no timeout. */
    private readonly stream: Docker,
    /** The API version both sides speak. */
    readonly apiVersion: string,
  ) {}

  /**
   * Connects and negotiates: asks the daemon for its API version and uses
   * the lower of it and ours, as the docker CLI does. Pinning one old
   * version breaks on daemons that refuse it (Docker 29.0 refuses < 1.44).
   */
  static async connect(host: string, timeoutMs = 5000): Promise<DockerClient> {
    const options = dockerOptions(host);
    const probe = new Docker({ ...options, timeout: timeoutMs });
    const info = await probe.version();
    const version = lowerVersion(info.ApiVersion, CLIENT_API_VERSION);
    return new DockerClient(
      new Docker({ ...options, timeout: timeoutMs, version: `v${version}` }),
      new Docker({ ...options, version: `v${version}` }),
      version,
    );
  }

  /** Ids of running and paused containers. */
  async listIds(): Promise<string[]> {
    const list = await this.api.listContainers({ all: false });
    return list.map((c) => c.Id);
  }

  /** Inspects one container; undefined when it no longer exists. */
  async inspect(id: string): Promise<DockerContainer | undefined> {
    try {
      const info = await this.api.getContainer(id).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        image: info.Config.Image,
        runtime: info.HostConfig.Runtime || 'runc',
        state: info.State.Status,
        running: info.State.Running,
        pid: info.State.Pid,
        networkMode: info.HostConfig.NetworkMode ?? '',
        labels: stringRecord(info.Config.Labels),
      };
    } catch (error: unknown) {
      if ((error as { statusCode?: unknown }).statusCode === 404)
        return undefined;
      throw error;
    }
  }

  /**
   * Follows container events until the stream ends (the daemon stopped)
   * or `signal` aborts. Resolves when the stream ends, rejects on errors.
   */
  async followEvents(
    onEvent: (event: ContainerEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    // dockerode honours abortSignal on this call but its types omit it.
    const options = {
      filters: { type: ['container'] },
      abortSignal: signal,
    } as Docker.GetEventsOptions;
    const stream = (await this.stream.getEvents(
      options,
    )) as NodeJS.ReadableStream & {
      destroy?: () => void;
    };
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    const abort = (): void => {
      lines.close();
      stream.destroy?.();
    };
    signal.addEventListener('abort', abort, { once: true });
    try {
      for await (const line of lines) {
        const event = parseEvent(line);
        if (event !== undefined) onEvent(event);
      }
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }
}

/** One line of the /events stream; undefined for what we do not follow. */
export function parseEvent(line: string): ContainerEvent | undefined {
  if (line.trim() === '') return undefined;
  const raw = JSON.parse(line) as {
    Type?: unknown;
    Action?: unknown;
    Actor?: { ID?: unknown };
  };
  if (raw.Type !== 'container') return undefined;
  const id = raw.Actor?.ID;
  const action = raw.Action;
  if (typeof id !== 'string' || typeof action !== 'string') return undefined;
  // exec_create, exec_start, ... carry the command after a colon.
  return { id, action: action.replace(/:.*$/s, '') };
}

/** Labels as sent: an object of strings, or null when there are none. */
function stringRecord(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof raw !== 'object' || raw === null) return out;
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}
