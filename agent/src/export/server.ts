import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';

import express, { type Request, type Response } from 'express';

import type { Logger } from '../log.js';
import type { History } from '../sample/history.js';
import type { Sampler } from '../sample/sampler.js';
import type { HostInfoReader } from '../sources/host-info.js';
import {
  HISTORY_WINDOWS,
  hostResponse,
  workloadsResponse,
  type HistoryResponse,
  type HistoryWindowSeconds,
} from './api.js';
import type { EventStream } from './events.js';
import { negotiateFormat, type Exporter } from './exporter.js';
import { landingPage } from './landing.js';

export interface ServerOptions {
  readonly sampler: Sampler;
  readonly exporter: Exporter;
  readonly log: Logger;
  readonly version: string;
  /** The recent past the dashboard plots; without it, no history route. */
  readonly history?: History;
  /** Live ticks; without it, no event route. */
  readonly events?: EventStream;
  readonly hostInfo?: HostInfoReader;
  /**
   * The built dashboard (dist/dashboard), served at /; without it, or
   * when it holds no index.html, / is a landing page of links.
   */
  readonly dashboardDir?: string;
}

/**
 * The HTTP surface: metrics, the JSON API, live events, health, and the
 * dashboard (or a landing page).
 */
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

  const { history, events, hostInfo } = options;
  if (history !== undefined) {
    app.get(
      '/api/v1/workloads/:id/history',
      (req: Request<{ id: string }>, res: Response) => {
        const windowSeconds = historyWindow(req.query['window']);
        if (windowSeconds === undefined) {
          res
            .status(400)
            .type('text/plain')
            .send(`window must be one of ${HISTORY_WINDOWS.join(', ')}\n`);
          return;
        }
        const found = history.window(req.params.id, windowSeconds);
        if (found === undefined) {
          res.status(404).type('text/plain').send('no such workload\n');
          return;
        }
        const body: HistoryResponse = {
          id: req.params.id,
          windowSeconds,
          ...found,
        };
        res.json(body);
      },
    );
  }

  if (events !== undefined) app.get('/api/v1/events', events.handle);

  if (hostInfo !== undefined) {
    app.get('/api/v1/host', async (_req: Request, res: Response) => {
      const [info, snapshot] = await Promise.all([
        hostInfo.info(),
        sampler.sample(),
      ]);
      res.json(hostResponse(info, options.version, snapshot.host));
    });
  }

  app.get('/healthz', (_req: Request, res: Response) => {
    res.type('text/plain').send('ok\n');
  });

  const dashboard = options.dashboardDir;
  if (dashboard !== undefined && existsSync(join(dashboard, 'index.html'))) {
    app.use(express.static(dashboard, { index: 'index.html' }));
  } else {
    app.get('/', (_req: Request, res: Response) => {
      res.type('html').send(landingPage(options.version));
    });
  }

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

/** `?window=300`, as one of the windows served; undefined otherwise. */
function historyWindow(raw: unknown): HistoryWindowSeconds | undefined {
  const seconds = Number(raw ?? 300);
  return HISTORY_WINDOWS.find((w) => w === seconds);
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
