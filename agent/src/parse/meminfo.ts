import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/meminfo';

/** /proc/meminfo as a map from field name to bytes (kB fields converted). */
export type Meminfo = ReadonlyMap<string, number>;

/** Parses /proc/meminfo; `MemTotal` must be present. */
export function parseMeminfo(text: string): Meminfo {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const match = /^([^:]+):\s*(\S+)(?:\s+(kB))?\s*$/.exec(line);
    if (match === null)
      throw new ParseError(FORMAT, `bad line ${JSON.stringify(line)}`);
    const [, key = '', raw = '', unit] = match;
    const value = parseCount(FORMAT, key, raw);
    out.set(key, unit === 'kB' ? value * 1024 : value);
  }
  if (!out.has('MemTotal')) throw new ParseError(FORMAT, 'no MemTotal');
  return out;
}
