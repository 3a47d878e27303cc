import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';

import type { Layout } from './host-tree.js';
import { runGenerated } from './generated.js';
import { runKernelFiles } from './kernel-files.js';
import { runLibraries } from './libraries.js';
import { runLive } from './live.js';

/**
 * `npm run bench [-- SCENARIO...] [--sizes 10,100] [--layouts v2]
 *   [--scrapes 200] [--window 30] [--rounds 5] [--containers 20]
 *   [--cgroups 200] [--cpu-prof]`
 *
 * Scenarios: generated (a), live (b), libraries (c), files (d); all four
 * by default.
 * Each prints Markdown tables and writes JSON under bench/results/.
 */

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sizes: { type: 'string', default: '10,100,500,2000' },
    layouts: { type: 'string', default: 'v2,v1' },
    scrapes: { type: 'string', default: '200' },
    window: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '5' },
    containers: { type: 'string', default: '20' },
    cgroups: { type: 'string', default: '200' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});

const SCENARIOS = ['generated', 'live', 'libraries', 'files'] as const;
type Scenario = (typeof SCENARIOS)[number];

function isScenario(name: string): name is Scenario {
  return (SCENARIOS as readonly string[]).includes(name);
}

const chosen = positionals.length === 0 ? [...SCENARIOS] : positionals;
for (const name of chosen) {
  if (!isScenario(name)) {
    console.error(`unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
}

const numbers = (text: string): number[] => text.split(',').map(Number);
const load = loadavg().map((l) => l.toFixed(2));
console.log(`load average before: ${load.join(', ')}`);

for (const name of chosen) {
  if (name === 'generated') {
    await runGenerated({
      sizes: numbers(values.sizes),
      layouts: values.layouts.split(',') as Layout[],
      scrapes: Number(values.scrapes),
      windowMs: Number(values.window) * 1000,
      nodeFlags: values['cpu-prof']
        ? ['--cpu-prof', `--cpu-prof-dir=${process.cwd()}/bench/results/prof`]
        : [],
    });
  } else if (name === 'live') {
    await runLive({
      rounds: Number(values.rounds),
      containers: Number(values.containers),
      scrapes: Math.min(Number(values.scrapes), 50),
    });
  } else if (name === 'libraries') {
    await runLibraries({ rounds: Number(values.rounds) });
  } else {
    await runKernelFiles({
      cgroups: Number(values.cgroups),
      rounds: Number(values.rounds),
    });
  }
}
