import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/<pid>/io';

/** /proc/<pid>/io in bytes. */
export interface PidIo {
  /** Bytes passed to read(2) and friends, cache hits included. */
  readonly rcharBytes: number;
  readonly wcharBytes: number;
  /** Bytes this process caused to be fetched from storage. */
  readonly readBytes: number;
  /** Bytes this process caused to be sent to storage. */
  readonly writeBytes: number;
  readonly cancelledWriteBytes: number;
}

const KEYS = {
  rchar: 'rcharBytes',
  wchar: 'wcharBytes',
  read_bytes: 'readBytes',
  write_bytes: 'writeBytes',
  cancelled_write_bytes: 'cancelledWriteBytes',
} as const;

/** Parses /proc/<pid>/io (proc(5)). All five byte fields must be present. */
export function parsePidIo(text: string): PidIo {
  const out: Partial<Record<(typeof KEYS)[keyof typeof KEYS], number>> = {};
  for (const line of text.split('\n')) {
    const [key, raw] = line.split(/:\s*/);
    if (key !== undefined && raw !== undefined && key in KEYS) {
      out[KEYS[key as keyof typeof KEYS]] = parseCount(FORMAT, key, raw.trim());
    }
  }
  const { rcharBytes, wcharBytes, readBytes, writeBytes, cancelledWriteBytes } =
    out;
  if (
    rcharBytes === undefined ||
    wcharBytes === undefined ||
    readBytes === undefined ||
    writeBytes === undefined ||
    cancelledWriteBytes === undefined
  ) {
    throw new ParseError(FORMAT, 'missing fields');
  }
  return { rcharBytes, wcharBytes, readBytes, writeBytes, cancelledWriteBytes };
}
