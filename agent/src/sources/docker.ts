import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import { createInterface } from 'node:readline';

/**
 * A read-only client of the Docker Engine API over Node's own HTTP client.
 * It lists and inspects containers and follows the event stream; it never
 * asks the daemon for stats (values come from cgroups) and has no way to
 * change anything: every request it can make is a GET.
 *
 * Not dockerode: the agent needs four GET endpoints, and dockerode brings
 * an SSH client, tar streams and BuildKit's gRPC along with them, 14 MiB
 * of the agent's resident memory (README, Performance).
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

/** What GET /version says of the daemon. */
export interface DockerVersionInfo {
  readonly version: string;
  readonly apiVersion: string;
}

/** Where the daemon listens: a unix socket or a plain-HTTP TCP address. */
export type DockerEndpoint =
  | { readonly socketPath: string }
  | { readonly host: string; readonly port: string; readonly protocol: 'http' };

/** Where the daemon listens, from `unix:///path` or `tcp://host:port`. */
export function dockerOptions(host: string): DockerEndpoint {
  const url = new URL(host);
  if (url.protocol === 'unix:')
    return { socketPath: decodeURIComponent(url.pathname) };
  if (url.protocol === 'tcp:' || url.protocol === 'http:') {
    return { host: url.hostname, port: url.port || '2375', protocol: 'http' };
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

/** An answer of the daemon other than 200, with its message. */
export class DockerApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly path: string,
    message: string,
  ) {
    super(`Docker API ${path}: ${statusCode} ${message}`);
    this.name = 'DockerApiError';
  }
}

/** Answers larger than this are refused rather than buffered. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Sends one GET and resolves with the response once its headers are in.
 * `timeoutMs` bounds the whole exchange until then; 0 means no bound (the
 * event stream may stay quiet for hours).
 */
function get(
  endpoint: DockerEndpoint,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  const options: RequestOptions = {
    ...('socketPath' in endpoint
      ? { socketPath: endpoint.socketPath }
      : { host: endpoint.host, port: endpoint.port }),
    method: 'GET',
    path,
    headers: { accept: 'application/json', host: 'docker' },
    ...(signal === undefined ? {} : { signal }),
  };
  return new Promise((resolve, reject) => {
    const req = request(options, resolve);
    req.once('error', reject);
    if (timeoutMs > 0) {
      req.setTimeout(timeoutMs, () => {
        req.destroy(
          new Error(`Docker API ${path}: no answer in ${timeoutMs} ms`),
        );
      });
    }
    req.end();
  });
}

/** The whole body of a response, as text, up to MAX_BODY_BYTES. */
async function bodyOf(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) {
      response.destroy();
      throw new Error(`Docker API answer over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** GET `path` and parse the JSON answer; a non-200 answer rejects. */
async function getJson(
  endpoint: DockerEndpoint,
  path: string,
  timeoutMs: number,
): Promise<unknown> {
  const response = await get(endpoint, path, timeoutMs);
  const text = await bodyOf(response);
  if (response.statusCode !== 200) {
    throw new DockerApiError(
      response.statusCode ?? 0,
      path,
      messageOf(text) ?? response.statusMessage ?? '',
    );
  }
  return JSON.parse(text) as unknown;
}

/** The daemon's `{"message": ...}` error text, if that is what it sent. */
function messageOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

/** Asks the daemon for its version, unversioned as the CLI does first. */
export async function dockerVersion(
  host: string,
  timeoutMs: number,
): Promise<DockerVersionInfo> {
  const body = record(
    await getJson(dockerOptions(host), '/version', timeoutMs),
  );
  const version = body['Version'];
  const apiVersion = body['ApiVersion'];
  if (typeof version !== 'string' || typeof apiVersion !== 'string') {
    throw new Error('Docker API /version: no Version or ApiVersion');
  }
  return { version, apiVersion };
}

export class DockerClient {
  private constructor(
    private readonly endpoint: DockerEndpoint,
    /** For requests; the event stream has none. */
    private readonly timeoutMs: number,
    /** The API version both sides speak. */
    readonly apiVersion: string,
  ) {}

  /**
   * Connects and negotiates: asks the daemon for its API version and uses
   * the lower of it and ours, as the docker CLI does. Pinning one old
   * version breaks on daemons that refuse it (Docker 29.0 refuses < 1.44).
   */
  static async connect(host: string, timeoutMs = 5000): Promise<DockerClient> {
    const endpoint = dockerOptions(host);
    const info = await dockerVersion(host, timeoutMs);
    const version = lowerVersion(info.apiVersion, CLIENT_API_VERSION);
    return new DockerClient(endpoint, timeoutMs, version);
  }

  private path(path: string): string {
    return `/v${this.apiVersion}${path}`;
  }

  /** Ids of running and paused containers. */
  async listIds(): Promise<string[]> {
    const list = await getJson(
      this.endpoint,
      this.path('/containers/json'),
      this.timeoutMs,
    );
    if (!Array.isArray(list)) {
      throw new Error('Docker API /containers/json: not a list');
    }
    return list
      .map((c) => record(c)['Id'])
      .filter((id): id is string => typeof id === 'string');
  }

  /** Inspects one container; undefined when it no longer exists. */
  async inspect(id: string): Promise<DockerContainer | undefined> {
    let info: Record<string, unknown>;
    try {
      info = record(
        await getJson(
          this.endpoint,
          this.path(`/containers/${encodeURIComponent(id)}/json`),
          this.timeoutMs,
        ),
      );
    } catch (error: unknown) {
      if (error instanceof DockerApiError && error.statusCode === 404)
        return undefined;
      throw error;
    }
    const config = record(info['Config']);
    const hostConfig = record(info['HostConfig']);
    const state = record(info['State']);
    return {
      id: text(info['Id']) || id,
      name: text(info['Name']).replace(/^\//, ''),
      image: text(config['Image']),
      runtime: text(hostConfig['Runtime']) || 'runc',
      state: text(state['Status']),
      running: state['Running'] === true,
      pid: typeof state['Pid'] === 'number' ? state['Pid'] : 0,
      networkMode: text(hostConfig['NetworkMode']),
      labels: stringRecord(config['Labels']),
    };
  }

  /**
   * Follows container events until the stream ends (the daemon stopped)
   * or `signal` aborts. Resolves when the stream ends, rejects on errors.
   */
  async followEvents(
    onEvent: (event: ContainerEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    const path = this.path(`/events?filters=${filters}`);
    let response: IncomingMessage;
    try {
      response = await get(this.endpoint, path, this.timeoutMs, signal);
    } catch (error: unknown) {
      if (signal.aborted) return;
      throw error;
    }
    if (response.statusCode !== 200) {
      const message = messageOf(await bodyOf(response)) ?? '';
      throw new DockerApiError(response.statusCode ?? 0, path, message);
    }
    // Connected: from here on the stream may be quiet for as long as it likes.
    response.socket.setTimeout(0);
    const lines = createInterface({ input: response, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        const event = parseEvent(line);
        if (event !== undefined) onEvent(event);
      }
    } catch (error: unknown) {
      if (!signal.aborted) throw error;
    } finally {
      lines.close();
      response.destroy();
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

/** An object as parsed from JSON, or an empty one for anything else. */
function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
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
