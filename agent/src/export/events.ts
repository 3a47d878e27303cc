import type { Request, Response } from 'express';

import type { Logger } from '../log.js';

/**
 * Server-Sent Events (https://html.spec.whatwg.org/multipage/
 * server-sent-events.html) to every connected dashboard: one `tick` event
 * per sampling tick. Each event carries the whole state, so a client that
 * missed some loses nothing but time.
 *
 * A client that does not read fast enough is disconnected once its socket
 * holds more than `maxBufferedBytes` unsent: the agent never queues without
 * bound for a stalled tab. Its EventSource reconnects by itself.
 */

export interface EventStreamOptions {
  readonly log: Logger;
  /** Unsent bytes a client may hold before it is dropped. */
  readonly maxBufferedBytes?: number;
  /** Clients served at once; more are refused with 503. */
  readonly maxClients?: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_CLIENTS = 64;
/** How long an EventSource waits before reconnecting, in milliseconds. */
const RETRY_MS = 2000;

export class EventStream {
  private readonly clients = new Set<Response>();
  private readonly maxBufferedBytes: number;
  private readonly maxClients: number;
  private droppedTotal = 0;

  constructor(private readonly options: EventStreamOptions) {
    this.maxBufferedBytes =
      options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  }

  /** Clients connected now. */
  get size(): number {
    return this.clients.size;
  }

  /** Clients disconnected for falling behind, since start. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** The express handler of the event endpoint. */
  readonly handle = (req: Request, res: Response): void => {
    if (this.clients.size >= this.maxClients) {
      res.status(503).type('text/plain').send('too many event clients\n');
      return;
    }
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  };

  /**
   * Sends one event to every client. The payload is built only when
   * somebody listens, and serialised once for all of them.
   */
  publish(event: string, payload: () => unknown): void {
    if (this.clients.size === 0) return;
    const text = `event: ${event}\ndata: ${JSON.stringify(payload())}\n\n`;
    for (const res of this.clients) {
      if (res.writableLength > this.maxBufferedBytes) {
        this.drop(res);
        continue;
      }
      res.write(text);
    }
  }

  /** Ends every stream, for shutdown. */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private drop(res: Response): void {
    this.clients.delete(res);
    this.droppedTotal += 1;
    this.options.log.debug(
      { buffered: res.writableLength, dropped: this.droppedTotal },
      'event client fell behind, disconnected',
    );
    res.destroy();
  }
}
