import { fileURLToPath } from 'node:url';

/**
 * Fixture trees are not compiled: they stay in test/fixtures. Tests run from
 * dist/test/unit, so the repository root is three levels up.
 */
const HOSTS = new URL('../../../test/fixtures/hosts/', import.meta.url);

/** The two roots of one fixture host, as absolute paths. */
export interface FixtureHost {
  /** Pass to `new ProcFs(...)`. */
  readonly proc: string;
  /** Pass to `detectLayout(...)`. */
  readonly cgroup: string;
  /** The run directory (Kata state); exists only in hosts with sandboxes. */
  readonly run: string;
}

/** Locates test/fixtures/hosts/<name>/{proc,cgroup}. */
export function fixtureHost(name: string): FixtureHost {
  const base = new URL(`${name}/`, HOSTS);
  return {
    proc: fileURLToPath(new URL('proc', base)),
    cgroup: fileURLToPath(new URL('cgroup', base)),
    run: fileURLToPath(new URL('run', base)),
  };
}
