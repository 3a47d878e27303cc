import { fileURLToPath } from 'node:url';

import type { Config } from '../config.js';
import { tickEvent } from '../export/api.js';
import { EventStream } from '../export/events.js';
import { Exporter } from '../export/exporter.js';
import { createApp, listen } from '../export/server.js';
import { createLogger, type Logger } from '../log.js';
import { History } from '../sample/history.js';
import type { Sampler } from '../sample/sampler.js';
import { HostInfoReader } from '../sources/host-info.js';
import { openHost } from './host.js';
import { VERSION } from './version.js';

/** The history's and the live events' sampling interval. */
const TICK_MS = 1000;
/** The built dashboard, beside the agent in dist/ (dist/dashboard). */
const DASHBOARD_DIR = fileURLToPath(
  new URL('../../../dashboard/', import.meta.url),
);

/** `microstat serve`: the agent. Runs until SIGINT or SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  const host = openHost(config, log);
  const exporter = new Exporter({
    labelAllowlist: config.dockerLabels,
    selfMetrics: true,
  });
  const history = new History();
  const events = new EventStream({ log });
  const hostInfo = new HostInfoReader({
    dockerHost: config.dockerEnabled ? config.dockerHost : undefined,
    log,
  });
  const app = createApp({
    sampler: host.sampler,
    exporter,
    log,
    version: VERSION,
    history,
    events,
    hostInfo,
    dashboardDir: DASHBOARD_DIR,
  });

  const { host: address, port } = config.listenAddress;
  const server = await listen(app, address, port).catch((error: unknown) => {
    log.error({ address, port, err: String(error) }, 'cannot listen');
    process.exit(1);
  });
  host.start();
  hostInfo.start();
  const ticker = startTicker(host.sampler, history, events, log);
  log.info(
    {
      version: VERSION,
      address: `${address}:${port}`,
      procfs: config.procfs,
      cgroupfs: config.cgroupfs,
      collectors: host.sources.map((s) => s.name).join(','),
    },
    'microstat agent listening',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(ticker);
  events.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await host.stop();
}

/**
 * Reads the host once a second into the history and the live events. A
 * tick that finds the previous one still reading is skipped rather than
 * queued, so a slow host slows the ticks instead of piling them up.
 */
function startTicker(
  sampler: Sampler,
  history: History,
  events: EventStream,
  log: Logger,
): NodeJS.Timeout {
  let busy = false;
  let failing = false;
  const tick = async (): Promise<void> => {
    const snapshot = await sampler.sample();
    const rates = history.record(snapshot);
    events.publish('tick', () => tickEvent(snapshot, rates));
  };
  return setInterval(() => {
    if (busy) return;
    busy = true;
    tick()
      .then(() => {
        if (failing) log.info('history ticks recovered');
        failing = false;
      })
      .catch((error: unknown) => {
        // Logged once per run of failures, not once a second.
        if (!failing) log.warn({ err: String(error) }, 'history tick failed');
        failing = true;
      })
      .finally(() => {
        busy = false;
      });
  }, TICK_MS);
}
