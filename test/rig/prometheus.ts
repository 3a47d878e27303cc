import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, stopChild } from './process.js';

/**
 * A Prometheus of our own for the integration tests: Debian's binary on a
 * free loopback port, a temporary storage directory, a generated config
 * that scrapes the given targets every second and evaluates the given rule
 * files every second. Never the packaged service on :9090.
 */

const READY_TIMEOUT_MS = 30_000;
const MAX_LOG_CHARS = 256 * 1024;

export interface RunningPrometheus {
  readonly url: string;
  /** The instant query's result vector; rejects on a non-success answer. */
  query(expr: string): Promise<readonly VectorSample[]>;
  /** Values of a label over the series that match a selector. */
  labelValues(label: string, match: string): Promise<readonly string[]>;
  logs(): string;
  stop(): Promise<void>;
}

export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A Prometheus config: one job `microstat` over the targets, 1 s cycles. */
export function scrapeConfig(
  targets: readonly string[],
  ruleFiles: readonly string[],
): string {
  return JSON.stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [{ job_name: 'microstat', static_configs: [{ targets }] }],
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `data` of a Prometheus HTTP API answer, or an error naming why. */
async function apiData(url: string): Promise<unknown> {
  const response = await fetch(url);
  const body: unknown = await response.json();
  if (!isRecord(body) || body['status'] !== 'success') {
    throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(body)}`);
  }
  return body['data'];
}

function toVector(data: unknown, expr: string): VectorSample[] {
  if (!isRecord(data)) throw new Error(`${expr}: no data`);
  const result = data['result'];
  if (data['resultType'] === 'scalar' && Array.isArray(result)) {
    return [{ metric: {}, value: Number(result[1]) }];
  }
  if (data['resultType'] !== 'vector' || !Array.isArray(result)) {
    throw new Error(`${expr}: not a vector: ${JSON.stringify(data)}`);
  }
  return result.filter(isRecord).map((sample) => {
    const metric = isRecord(sample['metric']) ? sample['metric'] : {};
    const pair = Array.isArray(sample['value']) ? sample['value'] : [];
    return {
      metric: Object.fromEntries(
        Object.entries(metric).map(([k, v]) => [k, String(v)]),
      ),
      value: Number(pair[1]),
    };
  });
}

async function waitReady(
  child: ChildProcess,
  url: string,
  logs: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`prometheus exited (${child.exitCode}):\n${logs()}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return;
    await delay(200);
  }
  throw new Error(`prometheus not ready in ${READY_TIMEOUT_MS} ms:\n${logs()}`);
}

export async function startPrometheus(
  targets: readonly string[],
  ruleFiles: readonly string[],
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-stack-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, scrapeConfig(targets, ruleFiles));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_LOG_CHARS);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const logs = (): string => output;

  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(child, url, logs);
  } catch (error: unknown) {
    await stop();
    throw error;
  }

  return {
    url,
    logs,
    stop,
    async query(expr) {
      const q = new URLSearchParams({ query: expr });
      return toVector(
        await apiData(`${url}/api/v1/query?${q.toString()}`),
        expr,
      );
    },
    async labelValues(label, match) {
      const q = new URLSearchParams({ 'match[]': match });
      const data = await apiData(
        `${url}/api/v1/label/${label}/values?${q.toString()}`,
      );
      return Array.isArray(data) ? data.map(String) : [];
    },
  };
}
