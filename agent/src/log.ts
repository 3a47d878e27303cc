import { Writable } from 'node:stream';

import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Structured logs on stderr, the way Prometheus exporters write them:
 * constant messages, variables in fields, `logfmt` by default and JSON on
 * request. No colour codes: a daemon's output goes to a journal or a file.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  out: NodeJS.WritableStream = process.stderr,
): Logger {
  const options = {
    level,
    base: undefined,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return pino(options, format === 'json' ? out : logfmtStream(out));
}

/** A logger that drops everything (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Re-encodes pino's JSON lines as logfmt (`key=value`, quoted as needed). */
function logfmtStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done): void {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        out.write(`${toLogfmt(record)}\n`);
      }
      done();
    },
  });
}

export function toLogfmt(record: Record<string, unknown>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${logfmtValue(value)}`)
    .join(' ');
}

function logfmtValue(value: unknown): string {
  const text =
    typeof value === 'string'
      ? value
      : value === undefined
        ? ''
        : JSON.stringify(value);
  return /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}
