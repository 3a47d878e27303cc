import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/<pid>/net/dev';

export interface InterfaceCounters {
  readonly name: string;
  readonly receiveBytes: number;
  readonly receivePackets: number;
  readonly transmitBytes: number;
  readonly transmitPackets: number;
}

/**
 * Parses /proc/net/dev (the view of one network namespace): two header
 * lines, then `name: 8 receive fields 8 transmit fields` per interface.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const lines = text.split('\n');
  // The kernel always prints the header; without it this is not net/dev.
  if (lines[0]?.startsWith('Inter-|') !== true || lines[1] === undefined) {
    throw new ParseError(FORMAT, 'no header');
  }
  const out: InterfaceCounters[] = [];
  for (const line of lines.slice(2)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0)
      throw new ParseError(FORMAT, `bad line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    const values = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (values.length < 16) throw new ParseError(FORMAT, `${name}: short line`);
    const n = (i: number): number => parseCount(FORMAT, name, values[i] ?? '');
    out.push({
      name,
      receiveBytes: n(0),
      receivePackets: n(1),
      transmitBytes: n(8),
      transmitPackets: n(9),
    });
  }
  return out;
}

/** Receive and transmit bytes over every interface but loopback. */
export function sumNonLoopback(ifaces: readonly InterfaceCounters[]): {
  receiveBytes: number;
  transmitBytes: number;
} {
  let receiveBytes = 0;
  let transmitBytes = 0;
  for (const i of ifaces) {
    if (i.name === 'lo') continue;
    receiveBytes += i.receiveBytes;
    transmitBytes += i.transmitBytes;
  }
  return { receiveBytes, transmitBytes };
}
