import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { CgroupResolver } from '../../agent/src/discover/cgroups.js';
import { DockerDiscovery } from '../../agent/src/discover/docker.js';
import { KataDiscovery } from '../../agent/src/discover/kata.js';
import { applyNames, type NameSource } from '../../agent/src/discover/names.js';
import type { WorkloadSource } from '../../agent/src/discover/source.js';
import { tickEvent } from '../../agent/src/export/api.js';
import { EventStream } from '../../agent/src/export/events.js';
import { Exporter } from '../../agent/src/export/exporter.js';
import { createApp, listen } from '../../agent/src/export/server.js';
import { ProcFs } from '../../agent/src/host/procfs.js';
import { createLogger, type Logger } from '../../agent/src/log.js';
import type { Workload } from '../../agent/src/model.js';
import { History } from '../../agent/src/sample/history.js';
import { Sampler } from '../../agent/src/sample/sampler.js';
import { startChurnDaemon, type ChurnDaemon } from './churn-daemon.js';
import {
  createChurnHost,
  type ChurnHost,
  type ContainerProcess,
  type SandboxProcesses,
} from './churn-host.js';

/**
 * Hours of workload churn leave the agent's memory where it started.
 *
 * The agent's long-lived parts, wired as `microstat serve` wires them,
 * run against a generated host (churn-host.ts) and a Docker Engine
 * stand-in (churn-daemon.ts) for four simulated hours, one tick per
 * simulated second, as fast as they go: containers live 30 s to 5 min
 * and microVMs 5 to 30 min, each replaced as it goes, so that about 1,900
 * workloads pass through. Every tick is sampled into the history and sent
 * to the live events, Prometheus scrapes every 15 s, dashboards come and
 * go, and one stalls each hour.
 *
 * After the first hour and ten minutes (the history holds an hour of gone
 * workloads by then) and at each hour after it, every per-workload
 * structure is checked against what it should hold at that moment, and
 * the heap is measured after a forced full collection; it must end where
 * it was after warm-up.
 */

/**
 * An hour at one tick a second: the history keeps a workload for an hour
 * after it was last seen (README, Dashboard).
 */
const HOUR_TICKS = 3600;
const WARMUP_TICKS = HOUR_TICKS + 600;
const MEASURED_HOURS = 3;
const TOTAL_TICKS = WARMUP_TICKS + MEASURED_HOURS * HOUR_TICKS;

const CONTAINERS = 20;
const CONTAINER_LIFE_TICKS = [30, 300] as const;
/** Ticks between a container's exit and `docker rm` when not run with --rm. */
const REMOVE_AFTER_TICKS = 120;
const SANDBOXES = 3;
const SANDBOX_LIFE_TICKS = [300, 1800] as const;

/** KataDiscovery rescans the host every 2 s. */
const KATA_SCAN_TICKS = 2;
const SCRAPE_TICKS = 15;
/** A dashboard tab opens at this offset of every 10 minutes, for 2. */
const TAB_EVERY_TICKS = 600;
const TAB_OPENS_AT = 300;
const TAB_OPEN_TICKS = 120;
/**
 * A tab that stops reading opens at this offset of every hour. Checks fall
 * at offset 600, so it has had 40 minutes to be dropped by then.
 */
const STALLED_OPENS_AT = 1800;

/**
 * The heap's objects (every space but compiled code's) after a forced
 * collection may end this far above where they were after warm-up. Three
 * hours pass about 1,350 workloads and 10,800 ticks through the agent: a
 * leak of 800 bytes per workload or of 100 bytes per tick exceeds it,
 * while without one they move by about a hundred KiB from hour to hour.
 */
const OBJECT_HEAP_GROWTH_BOUND_BYTES = 1 * 2 ** 20;
/**
 * The whole heap may grow this far: compiled code still grows by a few
 * hundred KiB an hour after warm-up as V8 optimises paths taken rarely
 * (dropping a stalled client, a coarse history point), less each hour.
 */
const HEAP_GROWTH_BOUND_BYTES = 2 * 2 ** 20;
/**
 * ArrayBuffer memory other than the history's typed arrays (sockets,
 * file reads) may grow this far: it holds no per-workload state.
 */
const OTHER_BUFFERS_GROWTH_BOUND_BYTES = 1 * 2 ** 20;

/** Per-workload labels carry the workload's id as `id="..."`. */
const ID_LABEL = /[{,]id="([^"]+)"/g;

/** A deterministic pseudo-random number in [0, 1) (mulberry32). */
function randomSource(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A private Map (or Set, as a map of its members) of one of the agent's
 * classes, read by name: the test bounds their caches without widening
 * the classes' API. A renamed field fails the test here, naming it.
 */
function cache(owner: object, field: string): ReadonlyMap<unknown, unknown> {
  const value: unknown = Reflect.get(owner, field);
  if (value instanceof Map) return value;
  if (value instanceof Set) return new Map([...value].map((v) => [v, v]));
  throw new Error(`${owner.constructor.name}.${field} is not a Map or Set`);
}

/** Heap and buffer memory after a forced full collection. */
interface MemoryReading {
  readonly tick: number;
  readonly heapUsedBytes: number;
  /** The heap less the spaces of compiled code. */
  readonly objectHeapBytes: number;
  /** ArrayBuffers other than the history's typed arrays. */
  readonly otherBuffersBytes: number;
  readonly historyBytes: number;
}

/** V8 heap in use by objects: every space but compiled code's. */
function objectHeapBytes(): number {
  return getHeapSpaceStatistics()
    .filter((space) => !space.space_name.startsWith('code_'))
    .reduce((sum, space) => sum + space.space_used_size, 0);
}

/**
 * KataDiscovery as the agent runs it, its periodic rescan driven by the
 * simulated clock instead of a timer: `refresh()` is one scan, and
 * `workloads()` names what it found as KataDiscovery's own does.
 */
class SteppedKata implements WorkloadSource {
  readonly name = 'kata';
  private found: Workload[] = [];

  constructor(
    readonly discovery: KataDiscovery,
    private readonly names: readonly NameSource[],
  ) {}

  async refresh(): Promise<void> {
    this.found = await this.discovery.scan();
  }

  workloads(): Workload[] {
    return this.found.map((w) => applyNames(w, this.names));
  }

  start(): void {
    // Refreshed by the test.
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  healthy(): boolean {
    return true;
  }

  lastError(): string | undefined {
    return undefined;
  }
}

/** A dashboard on /api/v1/events: counts ticks, or reads nothing. */
interface EventClient {
  ticks: number;
  close(): void;
}

function openEvents(url: string, reading: boolean): Promise<EventClient> {
  const client: EventClient = { ticks: 0, close: () => undefined };
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/events`);
    req.on('response', (res: IncomingMessage) => {
      client.close = () => req.destroy();
      if (res.statusCode !== 200) {
        reject(new Error(`/api/v1/events: ${res.statusCode}`));
        return;
      }
      // A stalled tab: nothing is read, so the agent's buffer fills.
      if (!reading) {
        res.pause();
        resolve(client);
        return;
      }
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const text = tail + chunk;
        client.ticks += text.split('event: tick\n').length - 1;
        tail = text.slice(-'event: tick\n'.length + 1);
      });
      resolve(client);
    });
    req.on('error', (error) => {
      reject(error);
    });
    req.end();
  });
}

/** Warnings and errors the agent logs, kept for the test to read. */
function capturingLogger(): [Logger, string[]] {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      // A few are enough to say what went wrong; more would be a leak.
      if (lines.length < 20) lines.push(chunk.toString('utf8').trim());
      done();
    },
  });
  return [createLogger('warn', 'json', out), lines];
}

describe('hours of workload churn', () => {
  let host: ChurnHost;
  let daemon: ChurnDaemon;
  let docker: DockerDiscovery;
  let kata: SteppedKata;
  let sampler: Sampler;
  let history: History;
  let exporter: Exporter;
  let events: EventStream;
  let server: Awaited<ReturnType<typeof listen>>;
  let url: string;
  let logged: string[];

  before(async () => {
    host = createChurnHost();
    daemon = await startChurnDaemon(join(host.run, 'docker.sock'));
    const [log, lines] = capturingLogger();
    logged = lines;
    const procfs = new ProcFs(host.proc);
    const resolver = new CgroupResolver(procfs, host.cgroup);
    docker = new DockerDiscovery({
      host: daemon.host,
      resolver,
      labelAllowlist: ['team'],
      log,
    });
    kata = new SteppedKata(
      new KataDiscovery({
        procfs,
        runDir: host.run,
        resolver,
        names: [docker],
        log,
      }),
      [docker],
    );
    sampler = new Sampler(procfs, [docker, kata], log, { maxWorkloads: 5000 });
    history = new History();
    exporter = new Exporter({
      labelAllowlist: ['team'],
      selfMetrics: true,
      workloadBound: true,
    });
    events = new EventStream({ log });
    const app = createApp({
      sampler,
      exporter,
      log,
      version: 'test',
      history,
      events,
    });
    server = await listen(app, '127.0.0.1', 0);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    docker.start();
    await docker.ready();
  });

  after(async () => {
    events.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await docker.stop();
    await daemon.close();
    await host.remove();
  });

  it(
    'leaves every cache and the heap where they were after warm-up',
    { timeout: 180_000 },
    async (t: TestContext) => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const random = randomSource(20_260_101);
      const lifetime = (range: readonly [number, number]): number =>
        range[0] + Math.floor(random() * (range[1] - range[0]));

      let started = 0;
      const containers = new Map<string, ContainerProcess & { ends: number }>();
      const sandboxes = new Map<string, SandboxProcesses & { ends: number }>();
      /** Docker events owed for containers that exited, by tick. */
      const owed = new Map<number, (() => void)[]>();
      const owe = (tick: number, action: () => void): void => {
        owed.set(tick, [...(owed.get(tick) ?? []), action]);
      };
      /** The tick each workload was last in a snapshot. */
      const lastSeen = new Map<string, number>();
      const readings: MemoryReading[] = [];
      let tab: EventClient | undefined;
      let stalled: EventClient | undefined;
      let scrapes = 0;

      /** Every container the host runs, as the daemon says it started. */
      const runContainer = (tick: number): void => {
        const n = started++;
        const c = host.startContainer(n);
        containers.set(c.id, {
          ...c,
          ends: tick + lifetime(CONTAINER_LIFE_TICKS),
        });
        daemon.start({
          id: c.id,
          name: `churn-${n}`,
          pid: c.pid,
          runtime: 'runc',
          labels: { team: `team-${n % 7}` },
        });
      };

      /** Half the microVMs are `docker run --runtime kata`, named by Docker. */
      const runSandbox = async (tick: number): Promise<void> => {
        const n = started++;
        const s = await host.startSandbox(n);
        sandboxes.set(s.id, {
          ...s,
          ends: tick + lifetime(SANDBOX_LIFE_TICKS),
        });
        if (n % 2 === 0) {
          daemon.start({
            id: s.id,
            name: `vm-${n}`,
            pid: s.shimPid,
            runtime: 'io.containerd.kata.v2',
            labels: {},
          });
        }
      };

      /**
       * Workloads whose life ended exit now: processes and cgroups go at
       * once, Docker's events a tick later, as the daemon notices; half are
       * removed with them (--rm), the rest a while later.
       */
      const retire = async (tick: number): Promise<void> => {
        for (const c of [...containers.values()]) {
          if (c.ends > tick) continue;
          containers.delete(c.id);
          host.stopContainer(c);
          owe(tick + 1, () => {
            daemon.stop(c.id);
          });
          const rm = c.pid % 2 === 0 ? 1 : REMOVE_AFTER_TICKS;
          owe(tick + rm, () => {
            daemon.remove(c.id);
          });
        }
        for (const s of [...sandboxes.values()]) {
          if (s.ends > tick) continue;
          sandboxes.delete(s.id);
          await host.stopSandbox(s);
          owe(tick + 1, () => {
            daemon.stop(s.id);
          });
          owe(tick + 1, () => {
            daemon.remove(s.id);
          });
        }
      };

      /** Waits until Docker discovery has applied every event sent. */
      const dockerCaughtUp = async (): Promise<void> => {
        const listed = daemon.list();
        const running = listed
          .filter((c) => c.running && c.runtime === 'runc')
          .map((c) => c.id)
          .sort();
        const kataIds = listed
          .filter((c) => c.runtime !== 'runc')
          .map((c) => c.id)
          .sort();
        const deadline = Date.now() + 5000;
        for (;;) {
          const discovered = docker
            .workloads()
            .map((w) => w.id)
            .sort();
          const named = [...cache(docker, 'sandboxes').keys()].sort();
          if (
            discovered.join() === running.join() &&
            named.join() === kataIds.join()
          )
            return;
          assert.ok(
            Date.now() < deadline,
            'Docker discovery still differs from the daemon after 5 s: ' +
              `${discovered.length} containers for ${running.length}, ` +
              `${named.length} sandbox names for ${kataIds.length}`,
          );
          await delay(1);
        }
      };

      /** The ids a scrape must show: every workload alive on the host. */
      const alive = (): string[] =>
        [...containers.keys(), ...sandboxes.keys()].sort();

      /** One Prometheus scrape; its per-workload series name exactly `alive`. */
      const scrape = async (tick: number): Promise<void> => {
        await dockerCaughtUp();
        const openmetrics = (tick / SCRAPE_TICKS) % 2 === 0;
        const response = await fetch(`${url}/metrics`, {
          headers: openmetrics
            ? { accept: 'application/openmetrics-text;version=1.0.0' }
            : {},
        });
        const body = await response.text();
        assert.equal(response.status, 200);
        const ids = new Set([...body.matchAll(ID_LABEL)].map((m) => m[1]));
        assert.deepEqual([...ids].sort(), alive(), `scrape at tick ${tick}`);
        scrapes += 1;
      };

      /** Every structure holds what it should now, no more; then memory. */
      const check = async (tick: number): Promise<void> => {
        await dockerCaughtUp();
        for (const [id, seen] of lastSeen) {
          if (seen <= tick - HOUR_TICKS) lastSeen.delete(id);
        }
        // The history keeps exactly the workloads seen within the hour.
        assert.equal(history.size, lastSeen.size, `history at ${tick}`);
        assert.ok(history.size < history.maxWorkloads, 'history is full');

        // Docker discovery holds what the daemon runs, and the names of
        // the sandboxes it has not removed.
        const listed = daemon.list();
        const running = listed.filter((c) => c.runtime === 'runc' && c.running);
        const kataNamed = listed.filter((c) => c.runtime !== 'runc');
        assert.equal(cache(docker, 'containers').size, running.length);
        assert.equal(cache(docker, 'sandboxes').size, kataNamed.length);

        const d = kata.discovery;
        // Every process of the host: init, containers, three per microVM.
        const processes = 1 + containers.size + 3 * sandboxes.size;
        assert.equal(cache(d, 'seen').size, processes, `Kata pids at ${tick}`);
        assert.equal(cache(d, 'states').size, sandboxes.size);
        assert.equal(cache(d, 'sandboxCgroups').size, sandboxes.size);
        assert.equal(cache(d, 'dragonball').size, 0);
        const guests = Reflect.get(sampler, 'guests') as object;
        const guestViews = cache(guests, 'last').size;
        assert.ok(guestViews <= sandboxes.size, `${guestViews} guest views`);
        const failures = cache(sampler, 'lastFailure').size;
        assert.ok(failures <= 2, `${failures} sources' failures`);

        // Only the dashboard is connected: the tab closed, the stalled one
        // was dropped by the agent.
        assert.equal(events.size, 1, `event clients at ${tick}`);
        assert.equal(events.dropped, Math.floor(tick / HOUR_TICKS));
        stalled?.close();
        stalled = undefined;
        assert.deepEqual(daemon.unexpected, []);
        assert.deepEqual(logged, []);

        gc();
        gc();
        const memory = process.memoryUsage();
        readings.push({
          tick,
          heapUsedBytes: memory.heapUsed,
          objectHeapBytes: objectHeapBytes(),
          otherBuffersBytes: memory.arrayBuffers - history.bytes,
          historyBytes: history.bytes,
        });
      };

      const startMs = performance.now();
      const dashboard = await openEvents(url, true);
      for (let tick = 0; tick <= TOTAL_TICKS; tick++) {
        for (const action of owed.get(tick) ?? []) action();
        owed.delete(tick);
        await retire(tick);
        while (containers.size < CONTAINERS) runContainer(tick);
        while (sandboxes.size < SANDBOXES) await runSandbox(tick);
        host.tick();

        const scrapeTick = tick % SCRAPE_TICKS === 0;
        const checkTick =
          tick >= WARMUP_TICKS && (tick - WARMUP_TICKS) % HOUR_TICKS === 0;
        if (tick % KATA_SCAN_TICKS === 0 || scrapeTick || checkTick) {
          await kata.refresh();
        }

        // What the agent's ticker does once a second.
        const snapshot = await sampler.sample();
        const rates = history.record(snapshot);
        events.publish('tick', () => tickEvent(snapshot, rates));
        for (const r of snapshot.workloads) lastSeen.set(r.workload.id, tick);

        if (scrapeTick) await scrape(tick);
        const inTen = tick % TAB_EVERY_TICKS;
        if (inTen === TAB_OPENS_AT) tab = await openEvents(url, true);
        if (inTen === TAB_OPENS_AT + TAB_OPEN_TICKS) tab?.close();
        if (tick % HOUR_TICKS === STALLED_OPENS_AT) {
          stalled = await openEvents(url, false);
        }
        if (checkTick) await check(tick);
      }
      const seconds = (performance.now() - startMs) / 1000;

      const first = readings[0];
      const last = readings.at(-1);
      assert.ok(first !== undefined && last !== undefined);
      const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);
      t.diagnostic(
        `${TOTAL_TICKS + 1} ticks (${(TOTAL_TICKS / HOUR_TICKS).toFixed(2)} h) ` +
          `in ${seconds.toFixed(1)} s; ${started} workloads, ${scrapes} ` +
          `scrapes, dashboard got ${dashboard.ticks} ticks`,
      );
      for (const r of readings) {
        t.diagnostic(
          `tick ${r.tick}: heap used ${mib(r.heapUsedBytes)} MiB ` +
            `(objects ${mib(r.objectHeapBytes)} MiB), ` +
            `history ${mib(r.historyBytes)} MiB, ` +
            `other buffers ${mib(r.otherBuffersBytes)} MiB`,
        );
      }
      dashboard.close();
      tab?.close();

      assert.ok(
        last.objectHeapBytes - first.objectHeapBytes <=
          OBJECT_HEAP_GROWTH_BOUND_BYTES,
        `heap objects grew from ${mib(first.objectHeapBytes)} to ` +
          `${mib(last.objectHeapBytes)} MiB`,
      );
      assert.ok(
        last.heapUsedBytes - first.heapUsedBytes <= HEAP_GROWTH_BOUND_BYTES,
        `heap used grew from ${mib(first.heapUsedBytes)} to ` +
          `${mib(last.heapUsedBytes)} MiB`,
      );
      assert.ok(
        last.otherBuffersBytes - first.otherBuffersBytes <=
          OTHER_BUFFERS_GROWTH_BOUND_BYTES,
        `buffers grew from ${mib(first.otherBuffersBytes)} to ` +
          `${mib(last.otherBuffersBytes)} MiB`,
      );
      assert.ok(
        dashboard.ticks >= TOTAL_TICKS - 5,
        `dashboard got ${dashboard.ticks}`,
      );
    },
  );
});
