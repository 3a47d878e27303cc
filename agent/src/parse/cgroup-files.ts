import { UNLIMITED, type Limit } from '../model.js';
import { ParseError, parseCount } from './errors.js';

/**
 * Parsers for the cgroup interface files, v1 and v2 alike where the format
 * is shared. See the kernel's cgroup-v1/*.rst and cgroup-v2.rst.
 */

/**
 * cgroup v1 writes "no limit" as the largest page-aligned counter
 * (9223372036854771712 on 4 KiB pages). Anything at or above 2^62 is that.
 */
const V1_UNLIMITED_FLOOR = 2 ** 62;

/** A file holding one non-negative integer (cpuacct.usage, pids.current). */
export function parseSingleValue(format: string, text: string): number {
  const raw = text.trim();
  if (raw === '') throw new ParseError(format, 'empty file');
  return parseCount(format, 'value', raw);
}

/**
 * A limit file: v2 writes "max" for none (memory.max, pids.max); v1 writes
 * a huge number (memory.limit_in_bytes). "max" must never become 0.
 */
export function parseLimit(format: string, text: string): Limit {
  const raw = text.trim();
  if (raw === 'max') return UNLIMITED;
  const value = parseSingleValue(format, raw);
  return value >= V1_UNLIMITED_FLOOR ? UNLIMITED : value;
}

/** A flat keyed file of `key value` lines (memory.stat, cpu.stat). */
export function parseFlatKeyed(
  format: string,
  text: string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [key, raw, extra] = line.trim().split(/\s+/);
    if (key === undefined || raw === undefined || extra !== undefined) {
      throw new ParseError(format, `bad line ${JSON.stringify(line)}`);
    }
    out.set(key, parseCount(format, key, raw));
  }
  return out;
}

/** Read and write bytes summed over devices. */
export interface BlockBytes {
  readonly readBytes: number;
  readonly writeBytes: number;
}

/**
 * v1 blkio.*io_service_bytes*: `MAJ:MIN Op value` lines and a final
 * `Total value`. Sums Read and Write over devices, as docker stats does.
 * Returns undefined when the file lists no device (policy not in use).
 */
export function parseBlkioServiceBytes(
  format: string,
  text: string,
): BlockBytes | undefined {
  let readBytes = 0;
  let writeBytes = 0;
  let devices = 0;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // Skip blank lines and `Total`; a lone word is garbage, not a blank.
    if (fields[0] === '' || fields[0] === 'Total') continue;
    const [device, op, raw] = fields;
    if (
      device === undefined ||
      op === undefined ||
      raw === undefined ||
      !/^\d+:\d+$/.test(device)
    ) {
      throw new ParseError(format, `bad line ${JSON.stringify(line)}`);
    }
    const value = parseCount(format, op, raw);
    devices++;
    if (op.toLowerCase() === 'read') readBytes += value;
    else if (op.toLowerCase() === 'write') writeBytes += value;
  }
  return devices === 0 ? undefined : { readBytes, writeBytes };
}

/**
 * v2 io.stat: `MAJ:MIN rbytes=.. wbytes=.. rios=.. ...` per device. Sums
 * rbytes and wbytes. A cgroup that has done no I/O has an empty file: zeros.
 */
export function parseIoStat(format: string, text: string): BlockBytes {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '') continue;
    if (!/^\d+:\d+$/.test(fields[0])) {
      throw new ParseError(format, `bad line ${JSON.stringify(line)}`);
    }
    for (const pair of fields.slice(1)) {
      const eq = pair.indexOf('=');
      if (eq < 0)
        throw new ParseError(format, `bad pair ${JSON.stringify(pair)}`);
      const key = pair.slice(0, eq);
      if (key === 'rbytes')
        readBytes += parseCount(format, key, pair.slice(eq + 1));
      if (key === 'wbytes')
        writeBytes += parseCount(format, key, pair.slice(eq + 1));
    }
  }
  return { readBytes, writeBytes };
}

/**
 * v2 cpu.max: `<quota> <period>` in microseconds, quota `max` for none.
 * Returns the limit in cores (quota / period).
 */
export function parseCpuMax(format: string, text: string): Limit {
  const [quota, period = '100000', extra] = text.trim().split(/\s+/);
  if (quota === undefined || quota === '' || extra !== undefined) {
    throw new ParseError(format, `bad line ${JSON.stringify(text.trim())}`);
  }
  if (quota === 'max') return UNLIMITED;
  const periodUs = parseCount(format, 'period', period);
  if (periodUs === 0) throw new ParseError(format, 'period is 0');
  return parseCount(format, 'quota', quota) / periodUs;
}

/**
 * v1 cpu.cfs_quota_us and cpu.cfs_period_us: quota -1 for none. Returns
 * the limit in cores.
 */
export function parseCfsQuota(quotaText: string, periodText: string): Limit {
  const quota = quotaText.trim();
  if (quota === '-1') return UNLIMITED;
  const periodUs = parseSingleValue('cpu.cfs_period_us', periodText);
  if (periodUs === 0) throw new ParseError('cpu.cfs_period_us', 'period is 0');
  return parseSingleValue('cpu.cfs_quota_us', quota) / periodUs;
}

/** cgroup.procs or tasks: one pid per line. */
export function parsePidList(format: string, text: string): number[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => parseCount(format, 'pid', line.trim()));
}
