import { fileURLToPath } from 'node:url';

import type { Config } from '../config.js';
import { tickEvent } from '../export/api.js';
import { BasicAuth } from '../export/basic-auth.js';
import { EventStream } from '../export/events.js';
import { Exporter } from '../export/exporter.js';
import { createApp, listen } from '../export/server.js';
import {
  loadWebConfig,
  OPEN_WEB_CONFIG,
  WebConfigError,
  type TlsServerOptions,
  type WebConfig,
} from '../export/web-config.js';
import { createLogger, type Logger } from '../log.js';
import { History } from '../sample/history.js';
import { LatestSnapshot } from '../sample/latest.js';
import type { Sampler } from '../sample/sampler.js';
import { HostInfoReader } from '../sources/host-info.js';
import { openHost } from './host.js';
import { VERSION } from './version.js';

/** The history's and the live events' sampling interval. */
const TICK_MS = 1000;
/**
 * A scrape within this time of the last tick is answered from that tick's
 * reading: half a tick of slack over the interval, so that a tick running
 * a little late does not make every scrape read the host again.
 */
const LATEST_MAX_AGE_MS = 1500;
/** The built dashboard, beside the agent in dist/ (dist/dashboard). */
const DASHBOARD_DIR = fileURLToPath(
  new URL('../../../dashboard/', import.meta.url),
);

/** `microstat serve`: the agent. Runs until SIGINT or SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  const web = webConfig(config.webConfigFile, log);
  const host = openHost(config, log);
  const exporter = new Exporter({
    labelAllowlist: config.dockerLabels,
    selfMetrics: true,
    workloadBound: true,
  });
  const history = new History();
  const latest = new LatestSnapshot(
    host.procfs,
    () => host.sampler.sample(),
    LATEST_MAX_AGE_MS,
  );
  const events = new EventStream({ log });
  const hostInfo = new HostInfoReader({
    dockerHost: config.dockerEnabled ? config.dockerHost : undefined,
    log,
  });
  const app = createApp({
    sampler: host.sampler,
    latest,
    exporter,
    log,
    version: VERSION,
    history,
    events,
    hostInfo,
    dashboardDir: DASHBOARD_DIR,
    ...(web.config.users.size === 0
      ? {}
      : { auth: new BasicAuth(web.config.users) }),
  });

  const { host: address, port } = config.listenAddress;
  const server = await listen(app, address, port, web.tls).catch(
    (error: unknown) => {
      log.error({ address, port, err: String(error) }, 'cannot listen');
      process.exit(1);
    },
  );
  host.start();
  hostInfo.start();
  const ticker = startTicker(host.sampler, latest, history, events, log);
  log.info(
    {
      version: VERSION,
      address: `${address}:${port}`,
      tls: web.tls !== undefined,
      basicAuth: web.config.users.size > 0,
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
 * The web config file, loaded before anything else starts. A file the
 * agent cannot honour stops it: serving in the clear or without auth
 * because of a typo would be worse than not serving.
 */
function webConfig(
  file: string | undefined,
  log: Logger,
): { config: WebConfig; tls: TlsServerOptions | undefined } {
  if (file === undefined) return { config: OPEN_WEB_CONFIG, tls: undefined };
  try {
    return loadWebConfig(file);
  } catch (error: unknown) {
    if (!(error instanceof WebConfigError)) throw error;
    log.error(
      { file: error.file, field: error.field, reason: error.reason },
      'invalid web config file',
    );
    process.exit(1);
  }
}

/**
 * Reads the host once a second into the history, the live events and the
 * reading scrapes are answered from. A tick that finds the previous one
 * still reading is skipped rather than queued, so a slow host slows the
 * ticks instead of piling them up.
 */
function startTicker(
  sampler: Sampler,
  latest: LatestSnapshot,
  history: History,
  events: EventStream,
  log: Logger,
): NodeJS.Timeout {
  let busy = false;
  let failing = false;
  const tick = async (): Promise<void> => {
    const snapshot = await sampler.sample();
    latest.record(snapshot);
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
