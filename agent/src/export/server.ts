import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import express, { type Request, type Response } from 'express';

import type { Logger } from '../log.js';
import type { Snapshot } from '../model.js';
import type { History } from '../sample/history.js';
import type { LatestSnapshot } from '../sample/latest.js';
import type { Sampler } from '../sample/sampler.js';
import type { HostInfoReader } from '../sources/host-info.js';
import {
  HISTORY_WINDOWS,
  hostResponse,
  workloadsResponse,
  type HistoryResponse,
  type HistoryWindowSeconds,
} from './api.js';
import type { BasicAuth } from './basic-auth.js';
import type { EventStream } from './events.js';
import { negotiateFormat, type Exporter } from './exporter.js';
import { landingPage } from './landing.js';
import type { TlsServerOptions } from './web-config.js';

export interface ServerOptions {
  readonly sampler: Sampler;
  /**
   * The agent's once-a-second reading, which /metrics and the JSON API
   * answer from while it is recent; without it they read the host anew.
   */
  readonly latest?: LatestSnapshot;
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
  /** Basic auth in front of every route but /healthz; none: open. */
  readonly auth?: BasicAuth;
}

/**
 * The HTTP surface: metrics, the JSON API, live events, health, and the
 * dashboard (or a landing page).
 */
export function createApp(options: ServerOptions): express.Express {
  const { sampler, exporter, log, latest } = options;
  const recent = (): Promise<Snapshot> => latest?.get() ?? sampler.sample();
  const app = express();
  app.disable('x-powered-by');
  // First, so that nothing below it, static files and 404s included, is
  // served without credentials.
  if (options.auth !== undefined) app.use(options.auth.handle);

  app.get('/metrics', async (req: Request, res: Response) => {
    const format = negotiateFormat(req.get('accept'));
    const body = await exporter.render(await recent(), format);
    res.type(exporter.contentType(format)).send(body);
  });

  app.get('/api/v1/workloads', async (_req: Request, res: Response) => {
    res.json(workloadsResponse(await recent()));
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
      const [info, snapshot] = await Promise.all([hostInfo.info(), recent()]);
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

/**
 * Listens on host:port, over TLS when given; rejects when the address
 * cannot be bound.
 */
export function listen(
  app: express.Express,
  host: string,
  port: number,
  tls?: TlsServerOptions,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server =
      tls === undefined ? createHttpServer(app) : tlsServer(app, tls);
    server.listen(port, host);
    server.once('listening', () => {
      resolve(server);
    });
    server.once('error', reject);
  });
}

/**
 * An HTTPS server for exporter-toolkit's client auth types. Node verifies
 * a client certificate only when it also requires one, so the two
 * in-between policies are enforced right after the handshake.
 */
function tlsServer(app: express.Express, tls: TlsServerOptions): Server {
  const type = tls.clientAuthType;
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      minVersion: tls.minVersion,
      maxVersion: tls.maxVersion,
      requestCert: type !== 'NoClientCert',
      rejectUnauthorized: type === 'RequireAndVerifyClientCert',
    },
    app,
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    const refuse =
      (type === 'RequireAnyClientCert' && !presented) ||
      (type === 'VerifyClientCertIfGiven' && presented && !socket.authorized);
    if (refuse) socket.destroy();
  });
  return server;
}
