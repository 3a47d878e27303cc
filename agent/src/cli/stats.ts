import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Config } from '../config.js';
import type { WorkloadsResponse } from '../export/api.js';
import { createLogger, LOG_LEVELS, toLogfmt, type LogLevel } from '../log.js';
import type { CollectorStatus, WorkloadKind } from '../model.js';
import { openHost } from './host.js';
import {
  buildRows,
  fromResponse,
  fromSnapshot,
  identity,
  rowFields,
  selectRows,
  sortRows,
  type SortKey,
  type StatsReading,
  type StatsWorkload,
} from './stats/format.js';
import type { StatsFlags } from './stats/options.js';
import { Screen } from './stats/screen.js';
import {
  parseTemplate,
  renderRows,
  TemplateError,
  type StatsTemplate,
} from './stats/template.js';

/**
 * Between the first two readings: long enough for a rate (cgroup CPU
 * counters are in nanoseconds; /proc ticks are 10 ms, so a microVM's CPU %
 * on the first frame is good to about 4 points), short to wait for.
 */
export const SAMPLE_INTERVAL_MS = 250;
/** Asks for a newer agent reading at most this many times (2 s). */
const NEWER_READING_TRIES = 8;
/** Between frames of the live view, as docker stats refreshes. */
export const FRAME_INTERVAL_MS = 1000;
const AGENT_TIMEOUT_MS = 5000;
/** Log lines kept back while the live view owns the terminal. */
const MAX_HELD_LINES = 1000;

export interface StatsOptions {
  /** Names or id prefixes to show; empty for every workload. */
  readonly names: readonly string[];
  readonly stream: boolean;
  readonly truncate: boolean;
  /** Also workloads that discovery knows but that gave no reading. */
  readonly all: boolean;
  readonly format: string;
  readonly sort: SortKey;
  readonly kind: WorkloadKind | undefined;
  /** A running agent to read instead of this host. */
  readonly url: string | undefined;
}

/** What the view reads from: this host, or an agent over HTTP. */
interface ReadingSource {
  read(): Promise<StatsReading>;
  /** Workloads discovery knows that `reading` has no figures for. */
  unread(reading: StatsReading): StatsWorkload[];
  /** One line per thing that could not be read, as of the last read. */
  problems(): string[];
  close(): Promise<void>;
}

/**
 * `microstat stats`: docker stats for every workload. Resolves with the
 * exit code: non-zero when nothing could be read, a name matched nothing
 * (docker's rule for --no-stream), or the view was interrupted.
 */
export async function stats(
  names: readonly string[],
  flags: StatsFlags,
  config: Config,
): Promise<number> {
  const options: StatsOptions = {
    names,
    stream: flags.stream,
    truncate: flags.trunc,
    all: flags.all === true,
    format: flags.format,
    sort: flags.sort,
    kind: flags.kind,
    url: flags.url,
  };
  let template: StatsTemplate;
  try {
    template = parseTemplate(options.format);
  } catch (error: unknown) {
    if (!(error instanceof TemplateError)) throw error;
    process.stderr.write(`Error: ${error.message}\n`);
    return 1;
  }

  const screen = new Screen(process.stdout, options.stream);
  const tap = new LogTap(config.logLevel, config.logFormat, screen.inPlace);
  const stop = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled ??= signal;
    stop.abort();
  };
  const onExit = (): void => {
    screen.restore();
  };
  const onOutputError = (): void => {
    // A closed pipe (`| head`) ends the view quietly.
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);
  process.stdout.on('error', onOutputError);

  let source: ReadingSource | undefined;
  try {
    source =
      options.url === undefined
        ? await openLocal(config, tap)
        : openAgent(options.url);
    const code = await run(source, template, options, screen, stop.signal);
    if (signalled === undefined) return code;
    return signalled === 'SIGINT' ? 130 : 143;
  } catch (error: unknown) {
    screen.restore();
    process.stderr.write(`Error: ${message(error)}\n`);
    return 1;
  } finally {
    screen.restore();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    process.stdout.off('error', onOutputError);
    await source?.close();
    tap.release();
  }
}

/** Reading A, a short wait, then a frame per reading until stopped. */
async function run(
  source: ReadingSource,
  template: StatsTemplate,
  options: StatsOptions,
  screen: Screen,
  signal: AbortSignal,
): Promise<number> {
  let previous = await source.read();
  let next = Date.now() + SAMPLE_INTERVAL_MS;
  const reported = new Set<string>();
  for (;;) {
    if (!(await pause(next - Date.now(), signal))) return 0;
    next = Date.now() + FRAME_INTERVAL_MS;
    const current = await source.read();
    const frame = compose(previous, current, source, template, options);
    previous = current;

    if (screen.inPlace) {
      screen.frame(frame.text + frame.notices.map((n) => `${n}\n`).join(''));
    } else {
      screen.frame(frame.text);
      for (const notice of frame.notices) {
        if (!reported.has(notice)) process.stderr.write(`${notice}\n`);
      }
      reported.clear();
      for (const notice of frame.notices) reported.add(notice);
    }

    const nothingRead = frame.shown === 0 && frame.problems > 0;
    const noneFound = options.names.length > 0 && frame.shown === 0;
    if (!options.stream) return nothingRead || frame.missing > 0 ? 1 : 0;
    if (noneFound) return 1;
  }
}

interface Frame {
  readonly text: string;
  /** One-line messages: unknown names, what could not be read. */
  readonly notices: string[];
  readonly shown: number;
  readonly missing: number;
  readonly problems: number;
}

function compose(
  previous: StatsReading,
  current: StatsReading,
  source: ReadingSource,
  template: StatsTemplate,
  options: StatsOptions,
): Frame {
  const unread = options.all ? source.unread(current) : [];
  const rows = buildRows(previous, current, unread).filter(
    (r) => options.kind === undefined || r.kind === options.kind,
  );
  const selection = selectRows(rows, options.names);
  const sorted = sortRows(selection.rows, options.sort);
  const problems = source.problems();
  return {
    text: renderRows(
      template,
      sorted.map((r) => rowFields(r, options.truncate)),
    ),
    notices: [
      ...selection.missing.map((name) => `Error: No such container: ${name}`),
      ...problems,
    ],
    shown: sorted.length,
    missing: selection.missing.length,
    problems: problems.length,
  };
}

/** Waits `ms`; false when the view was stopped meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(Math.max(ms, 0), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Reading this host.

async function openLocal(config: Config, tap: LogTap): Promise<ReadingSource> {
  const log = createLogger(config.logLevel, 'json', tap.stream);
  const host = openHost(config, log);
  host.start();
  await host.ready();
  let collectors: readonly CollectorStatus[] = [];

  return {
    async read() {
      let snapshot;
      try {
        snapshot = await host.sampler.sample();
      } catch (error: unknown) {
        throw new Error(`cannot read the host: ${message(error)}`, {
          cause: error,
        });
      }
      collectors = snapshot.collectors;
      return fromSnapshot(snapshot);
    },
    unread(reading) {
      const read = new Set(reading.workloads.map((r) => r.workload.id));
      return host.sources
        .flatMap((s) => s.workloads())
        .filter((w) => !read.has(w.id))
        .map(identity);
    },
    problems: () => describeCollectors(collectors, config.dockerHost),
    close: () => host.stop(),
  };
}

// ---------------------------------------------------------------------------
// Reading a running agent.

function openAgent(url: string): ReadingSource {
  const endpoint = `${url.replace(/\/+$/, '')}/api/v1/workloads`;
  let collectors: readonly CollectorStatus[] = [];
  let lastTakenAt: number | undefined;
  const fetchOnce = async (): Promise<WorkloadsResponse> => {
    let body: unknown;
    try {
      const response = await fetch(endpoint, {
        signal: AbortSignal.timeout(AGENT_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = await response.json();
    } catch (error: unknown) {
      throw new Error(`cannot read ${endpoint}: ${message(error)}`, {
        cause: error,
      });
    }
    return asWorkloadsResponse(body, endpoint);
  };
  return {
    async read() {
      // The agent answers from its once-a-second reading: rates need a
      // newer one than last time, so ask again until it has moved on.
      let checked = await fetchOnce();
      for (
        let tries = 0;
        checked.monotonicSeconds === lastTakenAt && tries < NEWER_READING_TRIES;
        tries++
      ) {
        await sleep(SAMPLE_INTERVAL_MS);
        checked = await fetchOnce();
      }
      lastTakenAt = checked.monotonicSeconds;
      collectors = checked.collectors;
      return fromResponse(checked);
    },
    // The API lists only workloads it read.
    unread: () => [],
    problems: () =>
      describeCollectors(collectors, undefined).map(
        (line) => `${url}: ${line}`,
      ),
    close: () => Promise.resolve(),
  };
}

/** Enough of a shape check that a wrong URL fails with a clear message. */
function asWorkloadsResponse(body: unknown, from: string): WorkloadsResponse {
  const ok =
    typeof body === 'object' &&
    body !== null &&
    'monotonicSeconds' in body &&
    typeof body.monotonicSeconds === 'number' &&
    'host' in body &&
    typeof body.host === 'object' &&
    'workloads' in body &&
    Array.isArray(body.workloads) &&
    'collectors' in body &&
    Array.isArray(body.collectors);
  if (!ok) throw new Error(`${from} is not a microstat workloads document`);
  return body as WorkloadsResponse;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------
// Logs.

/**
 * Receives the host readers' logs as JSON and writes those at or above the
 * chosen level to stderr in the chosen format, held back while the live
 * view owns the terminal. Warnings that the view shows as notices of its
 * own (the collectors' errors) are left out, so nothing is said twice.
 */
class LogTap {
  readonly stream: Writable;
  private held: string[] | undefined;

  constructor(
    private readonly level: LogLevel,
    private readonly format: Config['logFormat'],
    hold: boolean,
  ) {
    this.held = hold ? [] : undefined;
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, done): void => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line !== '') this.record(line);
        }
        done();
      },
    });
  }

  /** Writes what was held back; later lines go straight to stderr. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const line of held) process.stderr.write(line);
  }

  private record(line: string): void {
    const record = JSON.parse(line) as Record<string, unknown>;
    const level = typeof record['level'] === 'string' ? record['level'] : '';
    if (!isLevel(level) || rank(level) < rank(this.level)) return;
    // A collector's trouble is a notice of the view (describeCollectors).
    if (typeof record['collector'] === 'string' && level === 'warn') return;
    const out = `${this.format === 'json' ? line : toLogfmt(record)}\n`;
    if (this.held === undefined) process.stderr.write(out);
    else if (this.held.length < MAX_HELD_LINES) this.held.push(out);
  }
}

/**
 * One line per collector that failed in the last reading, saying what
 * could not be read and, where the kernel refused, that root is needed.
 */
export function describeCollectors(
  collectors: readonly CollectorStatus[],
  dockerHost: string | undefined,
): string[] {
  return collectors
    .filter((c) => !c.success)
    .map((c) => {
      const why = c.error ?? 'failed';
      const denied = /EACCES|EPERM|permission denied/i.test(why);
      const hint = denied ? ' (permission denied: run as root)' : '';
      if (c.collector === 'docker' && !why.startsWith('could not read')) {
        const at = dockerHost === undefined ? '' : ` at ${dockerHost}`;
        return `Docker is unreachable${at}: ${why}${hint}; other workloads are still shown`;
      }
      return `${c.collector}: ${why}${hint}`;
    });
}

function isLevel(level: string): level is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(level);
}

function rank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}
