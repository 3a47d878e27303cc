import { setTimeout as delay } from 'node:timers/promises';

import { parseMetrics, type MetricSample } from './agent.js';

/**
 * Polls an agent's /healthz and /metrics in turn while something is done
 * to the host, keeping every answer: whether it came, how long it took,
 * and what a scrape held. Tests then ask of the whole run that every poll
 * answered, in time, with what they expect.
 */

export interface Poll {
  readonly path: '/healthz' | '/metrics';
  /** Date.now() when the request was sent. */
  readonly atMs: number;
  readonly durationMs: number;
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** Why no answer came, or why a /metrics body did not parse. */
  readonly error?: string;
  /** A /metrics body's samples; empty for /healthz and failed polls. */
  readonly samples: readonly MetricSample[];
}

export interface Watch {
  /** The polls completed so far, oldest first. */
  polls(): readonly Poll[];
  /** Stops polling; resolves with every poll once the last one ended. */
  stop(): Promise<readonly Poll[]>;
}

export interface WatchOptions {
  /** The pause between two rounds of /healthz and /metrics. */
  readonly intervalMs: number;
  /**
   * How long one request may take before it counts as unanswered. Longer
   * than any bound a test asserts, so a slow answer is measured as slow.
   */
  readonly timeoutMs: number;
}

async function poll(
  url: string,
  path: Poll['path'],
  timeoutMs: number,
): Promise<Poll> {
  const atMs = Date.now();
  const started = performance.now();
  let status = 0;
  try {
    const response = await fetch(`${url}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    const body = await response.text();
    const samples = path === '/metrics' ? parseMetrics(body) : [];
    return {
      path,
      atMs,
      durationMs: performance.now() - started,
      status,
      samples,
    };
  } catch (error: unknown) {
    const durationMs = performance.now() - started;
    return {
      path,
      atMs,
      durationMs,
      status,
      error: String(error),
      samples: [],
    };
  }
}

/** Starts polling `url` (an agent's base URL) until stopped. */
export function watchAgent(url: string, options: WatchOptions): Watch {
  const done: Poll[] = [];
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      for (const path of ['/healthz', '/metrics'] as const) {
        done.push(await poll(url, path, options.timeoutMs));
      }
      await delay(options.intervalMs);
    }
  };
  const finished = loop();
  return {
    polls: () => done,
    stop: async () => {
      running = false;
      await finished;
      return done;
    },
  };
}

/**
 * Polls that did not answer 200 with a body that parsed, described for an
 * assertion message.
 */
export function failedPolls(polls: readonly Poll[]): string[] {
  return polls
    .filter((p) => p.status !== 200 || p.error !== undefined)
    .map(
      (p) =>
        `${p.path} at ${new Date(p.atMs).toISOString()}: ` +
        (p.error ?? `HTTP ${p.status}`),
    );
}

/** Whether a scrape exports `microstat_workload_info` for workload `id`. */
export function exportsWorkload(
  samples: readonly MetricSample[],
  id: string,
): boolean {
  return samples.some(
    (s) => s.name === 'microstat_workload_info' && s.labels.id === id,
  );
}

/** microstat_collector_success of one collector; undefined if absent. */
export function collectorSuccess(
  samples: readonly MetricSample[],
  collector: string,
): number | undefined {
  return samples.find(
    (s) =>
      s.name === 'microstat_collector_success' &&
      s.labels.collector === collector,
  )?.value;
}
