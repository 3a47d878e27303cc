import type { Server } from 'node:http';

import express, { type Request, type Response } from 'express';

import type { Logger } from '../log.js';
import type { Sampler } from '../sample/sampler.js';
import { workloadsResponse } from './api.js';
import { negotiateFormat, type Exporter } from './exporter.js';
import { landingPage } from './landing.js';

export interface ServerOptions {
  readonly sampler: Sampler;
  readonly exporter: Exporter;
  readonly log: Logger;
  readonly version: string;
}

/** The HTTP surface: metrics, the JSON API, health and the landing page. */
export function createApp(options: ServerOptions): express.Express {
  const { sampler, exporter, log } = options;
  const app = express();
  app.disable('x-powered-by');

  app.get('/metrics', async (req: Request, res: Response) => {
    const format = negotiateFormat(req.get('accept'));
    const body = await exporter.render(await sampler.sample(), format);
    res.type(exporter.contentType(format)).send(body);
  });

  app.get('/api/v1/workloads', async (_req: Request, res: Response) => {
    res.json(workloadsResponse(await sampler.sample()));
  });

  app.get('/healthz', (_req: Request, res: Response) => {
    res.type('text/plain').send('ok\n');
  });

  app.get('/', (_req: Request, res: Response) => {
    res.type('html').send(landingPage(options.version));
  });

  // Express 5 passes rejected handler promises here.
  app.use(
    (
      error: unknown,
      _req: Request,
      res: Response,
      _next: express.NextFunction,
    ) => {
      log.error(
        { err: error instanceof Error ? error.message : String(error) },
        'request failed',
      );
      res.status(500).type('text/plain').send('internal error\n');
    },
  );

  return app;
}

/** Listens on host:port; rejects when the address cannot be bound. */
export function listen(
  app: express.Express,
  host: string,
  port: number,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => {
      resolve(server);
    });
    server.once('error', reject);
  });
}
