import { EventEmitter, once } from 'node:events';
import { createConnection, type Socket } from 'node:net';

/**
 * The guest's serial console as seen through QEMU's `-serial unix:...`
 * socket: lines written to the guest, lines read back. QEMU serves one
 * client at a time and drops output while nobody is connected.
 */

/** Keep at most this many lines; older ones are dropped. */
const MAX_LINES = 20_000;

export class GuestConsole {
  readonly #socket: Socket;
  readonly #events = new EventEmitter();
  readonly #lines: string[] = [];
  /** Lines dropped from the front of #lines, so indexes stay absolute. */
  #dropped = 0;
  #partial = '';
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#append(chunk);
    });
    socket.on('error', () => {
      // 'close' follows and settles the waiters.
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#events.emit('update');
    });
  }

  static async connect(path: string): Promise<GuestConsole> {
    const socket = createConnection(path);
    await once(socket, 'connect');
    return new GuestConsole(socket);
  }

  /** Absolute index of the next line to arrive. */
  get lineCount(): number {
    return this.#dropped + this.#lines.length;
  }

  /** The output kept so far, for error messages. */
  text(): string {
    return [...this.#lines, this.#partial].join('\n');
  }

  /** Sends one line to the guest. */
  writeLine(line: string): void {
    if (!this.#closed) this.#socket.write(`${line}\n`);
  }

  /**
   * Resolves with the first line at absolute index `from` or later that
   * `match` accepts; rejects on timeout or when the console closes.
   */
  waitForLine(
    from: number,
    match: (line: string) => boolean,
    timeoutMs: number,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      let next = from;
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.#events.off('update', check);
        settle();
      };
      const check = (): void => {
        next = Math.max(next, this.#dropped);
        for (; next < this.lineCount; next += 1) {
          const line = this.#lines[next - this.#dropped] ?? '';
          if (match(line)) {
            finish(() => {
              resolve(line);
            });
            return;
          }
        }
        if (this.#closed) {
          finish(() => {
            reject(new Error('guest console closed'));
          });
        }
      };
      const timer = setTimeout(() => {
        finish(() => {
          reject(new Error(`no matching console line in ${timeoutMs} ms`));
        });
      }, timeoutMs);
      this.#events.on('update', check);
      check();
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #append(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const part of parts) this.#lines.push(part.replace(/\r+$/, ''));

    const excess = this.#lines.length - MAX_LINES;
    if (excess > 0) {
      this.#lines.splice(0, excess);
      this.#dropped += excess;
    }
    this.#events.emit('update');
  }
}
