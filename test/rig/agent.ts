import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { repoRoot } from './paths.js';
import { freePort, hasExited, stopChild } from './process.js';

/**
 * Starts the built agent (dist/agent/src/cli/main.js) as a child process on a
 * free loopback port, and reads what it serves.
 */

const AGENT_MAIN = join(repoRoot, 'dist', 'agent', 'src', 'cli', 'main.js');
const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 100;
/** Keep at most this much of the agent's output for error messages. */
const MAX_LOG_CHARS = 1024 * 1024;

export interface RunningAgent {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** The agent's process id, to read its /proc/<pid>/status. */
  readonly pid: number;
  stop(): Promise<void>;
  /** Everything the agent wrote to stdout and stderr so far. */
  logs(): string;
}

/**
 * How a test reaches an agent started with a web config file: the TLS
 * trust and client certificate, and the Authorization header to send.
 */
export interface AgentAccess {
  /** PEM the agent's certificate verifies against; https when given. */
  readonly ca?: string;
  /** PEM client certificate and key, for client_auth_type checks. */
  readonly cert?: string;
  readonly key?: string;
  /** The highest TLS version to offer, e.g. 'TLSv1.2'. */
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** An Authorization header, e.g. `Basic ...`. */
  readonly authorization?: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** The whole body, or for an event stream its first chunk. */
  readonly body: string;
}

/**
 * GET with node:http(s), which fetch cannot do with a private CA or a
 * client certificate. An event stream never ends: its first chunk is
 * the answer. Rejects on connection or handshake failures.
 */
export function request(
  url: string,
  access: AgentAccess = {},
): Promise<HttpAnswer> {
  const https = url.startsWith('https:');
  const send = https ? httpsRequest : httpRequest;
  const tls = https
    ? {
        ...(access.ca === undefined ? {} : { ca: access.ca }),
        ...(access.cert === undefined ? {} : { cert: access.cert }),
        ...(access.key === undefined ? {} : { key: access.key }),
        ...(access.maxVersion === undefined
          ? {}
          : { maxVersion: access.maxVersion }),
      }
    : {};
  const headers =
    access.authorization === undefined
      ? {}
      : { authorization: access.authorization };
  return new Promise((resolve, reject) => {
    const req = send(url, { ...tls, headers, timeout: 5000 }, (res) => {
      let body = '';
      const answer = (): void => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (res.headers['content-type']?.startsWith('text/event-stream')) {
          answer();
          req.destroy();
        }
      });
      res.on('end', answer);
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

async function answersHealthy(
  url: string,
  access: AgentAccess | undefined,
): Promise<boolean> {
  try {
    if (access !== undefined) {
      return (await request(`${url}/healthz`, access)).status === 200;
    }
    const response = await fetch(`${url}/healthz`);
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function waitHealthy(
  child: ChildProcess,
  url: string,
  logs: () => string,
  access: AgentAccess | undefined,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) {
      const status = child.exitCode ?? child.signalCode;
      throw new Error(`agent exited (${status}) before ready:\n${logs()}`);
    }
    if (await answersHealthy(url, access)) return;
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(
    `agent not healthy within ${READY_TIMEOUT_MS} ms:\n${logs()}`,
  );
}

/**
 * Spawns `main.js serve` with debug logs on a free port and resolves once
 * GET /healthz answers 200. Rejects with the agent's output if it exits or
 * stays unhealthy for 15 s.
 */
export async function startAgent(
  extraArgs: readonly string[] = [],
  /** A fixed port, e.g. to bring an agent back where clients expect it. */
  fixedPort?: number,
  /** For an agent behind a web config: https and the client's TLS. */
  access?: AgentAccess,
): Promise<RunningAgent> {
  return launchAgent([], extraArgs, fixedPort, access);
}

/**
 * startAgent as another user: the agent runs under setpriv with that
 * user's uid and gid and no supplementary groups, as an unprivileged
 * service would. The user must be able to read dist/ and node_modules.
 */
export async function startAgentAs(
  user: string,
  group: string,
  extraArgs: readonly string[] = [],
): Promise<RunningAgent> {
  const setpriv = [
    'setpriv',
    `--reuid=${user}`,
    `--regid=${group}`,
    '--clear-groups',
  ];
  return launchAgent(setpriv, extraArgs);
}

/** Starts the agent, behind `wrapper` (a command and its flags) if any. */
async function launchAgent(
  wrapper: readonly string[],
  extraArgs: readonly string[],
  fixedPort?: number,
  access?: AgentAccess,
): Promise<RunningAgent> {
  const port = fixedPort ?? (await freePort());
  const scheme = access?.ca === undefined ? 'http' : 'https';
  const url = `${scheme}://127.0.0.1:${port}`;
  const argv = [
    process.execPath,
    '--enable-source-maps',
    AGENT_MAIN,
    'serve',
    '--web.listen-address',
    `127.0.0.1:${port}`,
    '--log.level',
    'debug',
    ...extraArgs,
  ];
  // Run directly, or as the wrapper's trailing arguments.
  const [command = process.execPath, ...args] = [...wrapper, ...argv];
  const child = spawn(command, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_LOG_CHARS);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const logs = (): string => output;

  try {
    await waitHealthy(child, url, logs, access);
  } catch (error: unknown) {
    await stopChild(child);
    throw error;
  }
  // Set once spawned; a child that answered /healthz was spawned.
  const pid = child.pid ?? Number.NaN;
  return { url, pid, stop: () => stopChild(child), logs };
}

async function get(url: string): Promise<Response> {
  const response = await fetch(url);
  if (response.status !== 200) {
    const body = await response.text();
    throw new Error(`GET ${url}: ${response.status}: ${body.slice(0, 500)}`);
  }
  return response;
}

/** GET a JSON document; the caller checks its shape. */
export async function getJson(url: string): Promise<unknown> {
  const response = await get(url);
  const body: unknown = await response.json();
  return body;
}

export async function getText(url: string): Promise<string> {
  const response = await get(url);
  return response.text();
}

/** One sample of the Prometheus text exposition format. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  '"': '"',
  n: '\n',
};

/**
 * Reads `{a="x",b="y\"z"}` starting at text[0] === '{'. Returns the labels and
 * the rest of the line after the closing brace.
 */
function parseLabels(
  text: string,
  line: string,
): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let rest = text.slice(1).trimStart();
  while (!rest.startsWith('}')) {
    const name = LABEL_NAME.exec(rest)?.[0];
    if (name === undefined) throw new Error(`bad label name: ${line}`);
    rest = rest.slice(name.length).trimStart();
    if (!rest.startsWith('="')) throw new Error(`bad label: ${line}`);

    let value = '';
    let index = 2;
    for (;;) {
      const char = rest[index];
      if (char === undefined) throw new Error(`unterminated value: ${line}`);
      if (char === '"') break;
      if (char === '\\') {
        const escaped = ESCAPES[rest[index + 1] ?? ''];
        if (escaped === undefined) throw new Error(`bad escape: ${line}`);
        value += escaped;
        index += 2;
      } else {
        value += char;
        index += 1;
      }
    }
    labels[name] = value;

    rest = rest.slice(index + 1).trimStart();
    if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    else if (!rest.startsWith('}')) throw new Error(`bad labels: ${line}`);
  }
  return [labels, rest.slice(1)];
}

/**
 * Prometheus reads values with Go's strconv.ParseFloat, which takes NaN and
 * Inf in any letter case; prom-client, for one, prints NaN as "Nan".
 */
const SPECIAL_VALUES: Readonly<Record<string, number>> = {
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  '+inf': Number.POSITIVE_INFINITY,
  '-inf': Number.NEGATIVE_INFINITY,
};

function parseValue(text: string, line: string): number {
  // A sample may carry a timestamp after its value; only the value counts.
  const field = text.trim().split(/\s+/)[0] ?? '';
  const special = SPECIAL_VALUES[field.toLowerCase()];
  if (special !== undefined) return special;
  const value = Number(field);
  if (field === '' || Number.isNaN(value)) {
    throw new Error(`bad sample value: ${line}`);
  }
  return value;
}

/**
 * The samples of a Prometheus text exposition (version 0.0.4): comment and
 * blank lines skipped, label values unescaped (\\, \" and \n).
 */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;

    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`bad metric name: ${line}`);
    let rest = line.slice(name.length).trimStart();
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest, line);

    samples.push({ name, labels, value: parseValue(rest, line) });
  }
  return samples;
}
