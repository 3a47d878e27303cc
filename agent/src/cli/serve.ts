import type { Config } from '../config.js';
import { Exporter } from '../export/exporter.js';
import { createApp, listen } from '../export/server.js';
import { createLogger } from '../log.js';
import { openHost } from './host.js';
import { VERSION } from './version.js';

/** `microstat serve`: the agent. Runs until SIGINT or SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  const host = openHost(config, log);
  const exporter = new Exporter({
    labelAllowlist: config.dockerLabels,
    selfMetrics: true,
  });
  const app = createApp({
    sampler: host.sampler,
    exporter,
    log,
    version: VERSION,
  });

  const { host: address, port } = config.listenAddress;
  const server = await listen(app, address, port).catch((error: unknown) => {
    log.error({ address, port, err: String(error) }, 'cannot listen');
    process.exit(1);
  });
  host.start();
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
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await host.stop();
}
