import { ParseError, parseCount, parseSigned } from './errors.js';

const FORMAT = '/proc/<pid>/stat';

/** The fields of /proc/<pid>/stat the agent uses. Times are clock ticks. */
export interface PidStat {
  readonly pid: number;
  /** Executable name, up to 15 bytes; may hold spaces and parentheses. */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly numThreads: number;
  /** Start time after boot, in ticks. */
  readonly startTimeTicks: number;
  /** Resident set in pages. */
  readonly rssPages: number;
}

/**
 * Parses /proc/<pid>/stat (proc(5)). `comm` runs from the first "(" to the
 * last ")", because a process may name itself "a) (b"; the numbered fields
 * follow the last ")".
 */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new ParseError(FORMAT, 'no (comm)');

  const pid = parseCount(FORMAT, 'pid', text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // After ")": state is field 3, so rest[i] is field i + 3.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  if (rest.length < 22) {
    throw new ParseError(FORMAT, `only ${rest.length + 2} fields, need 24`);
  }
  const field = (n: number): string => rest[n - 3] ?? '';

  return {
    pid,
    comm,
    state: field(3),
    ppid: parseSigned(FORMAT, 'ppid', field(4)),
    utimeTicks: parseCount(FORMAT, 'utime', field(14)),
    stimeTicks: parseCount(FORMAT, 'stime', field(15)),
    numThreads: parseSigned(FORMAT, 'num_threads', field(20)),
    startTimeTicks: parseCount(FORMAT, 'starttime', field(22)),
    rssPages: parseSigned(FORMAT, 'rss', field(24)),
  };
}
