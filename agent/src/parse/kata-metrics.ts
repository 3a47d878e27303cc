import { ParseError } from './errors.js';

const FORMAT = 'Kata shim metrics';

/**
 * The guest's own figures from the Prometheus text a Kata shim serves on
 * shim-monitor.sock. The guest agent reads the guest's /proc: meminfo
 * items arrive in bytes (`kata_guest_meminfo{item="mem_total"}`), CPU times
 * per CPU and item (`kata_guest_cpu_time{cpu="total", item="user"}`), where
 * cpu="total" is the sum over the guest's CPUs (the agent's label,
 * kata-containers src/agent/src/metrics.rs). Current agents send CPU times
 * in milliseconds (procfs's `user_ms()` and friends); agents built on older
 * procfs releases sent ticks or seconds, which this parser cannot tell
 * apart from one reading, so milliseconds are assumed.
 */
export interface GuestMetrics {
  readonly memoryTotalBytes?: number;
  readonly memoryFreeBytes?: number;
  readonly memoryAvailableBytes?: number;
  /** Busy time of the aggregate cpu, ms: everything but idle and iowait. */
  readonly cpuBusyMs?: number;
}

const IDLE_ITEMS = new Set(['idle', 'iowait']);
// The agent names the aggregate "total"; "cpu", as in /proc/stat, is
// accepted too.
const AGGREGATE_CPU = new Set(['total', 'cpu']);
// Guest time and guest_nice are already counted in user and nice.
const DOUBLE_COUNTED = new Set(['guest', 'guest_nice']);

export function parseKataGuestMetrics(text: string): GuestMetrics {
  const meminfo = new Map<string, number>();
  let busy: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^(\w+)(?:\{([^}]*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(
      line.trim(),
    );
    if (match === null)
      throw new ParseError(FORMAT, `bad line ${JSON.stringify(line)}`);
    const [, name = '', rawLabels = '', rawValue = ''] = match;
    if (name !== 'kata_guest_meminfo' && name !== 'kata_guest_cpu_time')
      continue;
    const value = Number(rawValue);
    if (!Number.isFinite(value))
      throw new ParseError(FORMAT, `bad value in ${name}`);
    const labels = parseLabels(rawLabels);
    const item = labels.get('item');
    if (item === undefined) continue;
    if (name === 'kata_guest_meminfo') {
      meminfo.set(item, value);
    } else if (
      AGGREGATE_CPU.has(labels.get('cpu') ?? '') &&
      !IDLE_ITEMS.has(item) &&
      !DOUBLE_COUNTED.has(item)
    ) {
      busy = (busy ?? 0) + value;
    }
  }
  return {
    ...optional('memoryTotalBytes', meminfo.get('mem_total')),
    ...optional('memoryFreeBytes', meminfo.get('mem_free')),
    ...optional('memoryAvailableBytes', meminfo.get('mem_available')),
    ...optional('cpuBusyMs', busy),
  };
}

function optional<K extends string>(
  key: K,
  value: number | undefined,
): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

/** `a="x",b="y \"q\""` into a map, unescaping \\, \" and \n. */
export function parseLabels(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  const pattern = /\s*(\w+)="((?:[^"\\]|\\.)*)"\s*,?/gy;
  let match: RegExpExecArray | null;
  // A failed sticky match resets lastIndex: remember where the last one ended.
  let end = 0;
  while ((match = pattern.exec(raw)) !== null) {
    end = pattern.lastIndex;
    const value = (match[2] ?? '').replace(/\\(.)/g, (_, c: string) =>
      c === 'n' ? '\n' : c,
    );
    out.set(match[1] ?? '', value);
  }
  if (raw.slice(end).trim() !== '') {
    throw new ParseError(FORMAT, `bad labels ${JSON.stringify(raw)}`);
  }
  return out;
}
