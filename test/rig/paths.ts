import { fileURLToPath } from 'node:url';

/**
 * The repository root. This file compiles to dist/test/rig/paths.js, three
 * levels below the root; the sources it points at (scripts, dist/agent) are
 * found from there, whatever the working directory.
 */
export const repoRoot: string = fileURLToPath(
  new URL('../../../', import.meta.url),
);
