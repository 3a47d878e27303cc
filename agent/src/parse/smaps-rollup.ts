import { ParseError } from './errors.js';

const FORMAT = '/proc/<pid>/smaps_rollup';

/**
 * /proc/<pid>/smaps_rollup in bytes. PSS divides every shared page among
 * the processes that map it, so summing PSS over a VMM and virtiofsd (which
 * both map the guest's RAM) counts that RAM once; summing RSS counts it
 * twice.
 */
export interface SmapsRollup {
  readonly rssBytes: number;
  readonly pssBytes: number;
  /** Kernels before 5.9 do not split PSS by kind. */
  readonly pssAnonBytes: number | undefined;
  readonly pssFileBytes: number | undefined;
  readonly pssShmemBytes: number | undefined;
}

/** Parses smaps_rollup: a header line, then `Key:   <n> kB` lines. */
export function parseSmapsRollup(text: string): SmapsRollup {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+) kB$/.exec(line.trim());
    if (match?.[1] !== undefined) kb.set(match[1], Number(match[2]) * 1024);
  }
  const rssBytes = kb.get('Rss');
  const pssBytes = kb.get('Pss');
  if (rssBytes === undefined || pssBytes === undefined) {
    throw new ParseError(FORMAT, 'missing Rss or Pss');
  }
  return {
    rssBytes,
    pssBytes,
    pssAnonBytes: kb.get('Pss_Anon'),
    pssFileBytes: kb.get('Pss_File'),
    pssShmemBytes: kb.get('Pss_Shmem'),
  };
}
