import { ParseError, parseCount } from './errors.js';

const FORMAT = '/proc/<pid>/cgroup';

/** One line of /proc/<pid>/cgroup: `hierarchy-ID:controller-list:path`. */
export interface CgroupMembership {
  readonly hierarchyId: number;
  /** Empty for the cgroup v2 line (`0::/path`); `name=systemd` kept as is. */
  readonly controllers: readonly string[];
  /** Path relative to the hierarchy's root; may itself contain colons. */
  readonly path: string;
}

/** Parses /proc/<pid>/cgroup (cgroups(7)). */
export function parsePidCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // Split on the first two colons only: the path may contain more.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0)
      throw new ParseError(FORMAT, `bad line ${JSON.stringify(line)}`);
    const list = line.slice(first + 1, second);
    out.push({
      hierarchyId: parseCount(FORMAT, 'hierarchy-ID', line.slice(0, first)),
      controllers: list === '' ? [] : list.split(','),
      path: line.slice(second + 1),
    });
  }
  return out;
}
