import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/<pid>/status';

/** The fields of /proc/<pid>/status the agent uses; memory in bytes. */
export interface PidStatus {
  readonly name: string;
  readonly ppid: number;
  /** Real uid. */
  readonly uid: number | undefined;
  readonly threads: number | undefined;
  /** Absent for kernel threads and zombies. */
  readonly vmRssBytes: number | undefined;
  readonly rssAnonBytes: number | undefined;
  readonly rssFileBytes: number | undefined;
  readonly rssShmemBytes: number | undefined;
  /** The pid in each nested pid namespace, outermost first (`NSpid`). */
  readonly nsPids: readonly number[];
}

/** Parses /proc/<pid>/status (proc(5)). */
export function parsePidStatus(text: string): PidStatus {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0)
      fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }

  const name = fields.get('Name');
  const ppid = fields.get('PPid');
  if (name === undefined || ppid === undefined) {
    throw new ParseError(FORMAT, 'missing Name or PPid');
  }
  const kb = (key: string): number | undefined => {
    const raw = fields.get(key);
    if (raw === undefined) return undefined;
    const match = /^(\d+)\s*kB$/.exec(raw);
    if (match?.[1] === undefined)
      throw new ParseError(FORMAT, `${key} is not kB`);
    return Number(match[1]) * 1024;
  };
  const firstCount = (key: string): number | undefined => {
    const raw = fields.get(key)?.split(/\s+/)[0];
    return raw === undefined ? undefined : parseCount(FORMAT, key, raw);
  };

  return {
    name,
    ppid: parseCount(FORMAT, 'PPid', ppid),
    uid: firstCount('Uid'),
    threads: firstCount('Threads'),
    vmRssBytes: kb('VmRSS'),
    rssAnonBytes: kb('RssAnon'),
    rssFileBytes: kb('RssFile'),
    rssShmemBytes: kb('RssShmem'),
    nsPids: (fields.get('NSpid') ?? '')
      .split(/\s+/)
      .filter((s) => s !== '')
      .map((s) => parseCount(FORMAT, 'NSpid', s)),
  };
}
