/**
 * Reads what an agent started with `--log.format json` wrote: one JSON
 * record per line. Anything else on its output (a stack trace Node printed
 * for an uncaught error, a library writing to the console) is kept apart,
 * so a test can require that there is none.
 */

export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  /** When it was written, from its `time` field; NaN without one. */
  readonly timeMs: number;
  /** The source a child logger named, e.g. `docker`, `containerd`. */
  readonly collector?: string;
  /** Every field as written, `err` and the like included. */
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface AgentLog {
  readonly records: readonly LogRecord[];
  /** Non-empty lines that are not log records. */
  readonly stray: readonly string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseAgentLog(text: string): AgentLog {
  const records: LogRecord[] = [];
  const stray: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      stray.push(line);
      continue;
    }
    if (
      !isRecord(value) ||
      typeof value.level !== 'string' ||
      typeof value.msg !== 'string'
    ) {
      stray.push(line);
      continue;
    }
    records.push({
      level: value.level,
      msg: value.msg,
      timeMs: typeof value.time === 'string' ? Date.parse(value.time) : NaN,
      ...(typeof value.collector === 'string'
        ? { collector: value.collector }
        : {}),
      fields: value,
    });
  }
  return { records, stray };
}

/** A V8 stack frame line, as `new Error().stack` or Node print them. */
const STACK_FRAME = /^\s*at \S.*(?:\(.*:\d+:\d+\)|:\d+:\d+)$/m;

/**
 * Lines that carry a stack trace: stray output with a stack frame, or a
 * record with a frame in any of its string fields (a logged `err.stack`).
 */
export function stackTraces(log: AgentLog): string[] {
  const found = log.stray.filter((line) => STACK_FRAME.test(line));
  for (const record of log.records) {
    const strings = Object.values(record.fields).filter(
      (v): v is string => typeof v === 'string',
    );
    if (strings.some((s) => STACK_FRAME.test(s)) || 'stack' in record.fields) {
      found.push(JSON.stringify(record.fields));
    }
  }
  return found;
}

/** The records at `level` or above (debug < info < warn < error). */
export function atLeast(
  records: readonly LogRecord[],
  level: 'info' | 'warn',
): LogRecord[] {
  const order = ['debug', 'info', 'warn', 'error', 'fatal'];
  const floor = order.indexOf(level);
  return records.filter((r) => order.indexOf(r.level) >= floor);
}

/** One line per record, for assertion messages. */
export function describeRecords(records: readonly LogRecord[]): string {
  return records.map((r) => JSON.stringify(r.fields)).join('\n');
}
