import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import si from 'systeminformation';

import { openHost } from '../agent/src/cli/host.js';
import { buildConfig } from '../agent/src/config.js';
import { createLogger } from '../agent/src/log.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../test/rig/docker.js';
import { fixed, markdownTable, median, writeResult } from './measure.js';

const execFileAsync = promisify(execFile);

/**
 * Scenario c: the libraries in their own roles. pidusage against the
 * agent's /proc reader (bench/pidusage.ts, run as is), and
 * systeminformation's dockerContainerStats against the agent's Sampler
 * reading the same containers' cgroups.
 */

const PIDUSAGE = fileURLToPath(new URL('./pidusage.js', import.meta.url));
const CONTAINERS = 10;

export async function runLibraries(options: { rounds: number }): Promise<void> {
  console.log('\n### pidusage vs the agent /proc reader\n');
  const { stdout } = await execFileAsync(process.execPath, [PIDUSAGE, '200']);
  console.log(stdout.trim());

  await ensureDocker();
  const names = Array.from(
    { length: CONTAINERS },
    (_, i) => `ms-bench-lib-${i}`,
  );
  await removeContainers(names);
  try {
    const ids: string[] = [];
    for (const name of names) {
      ids.push(
        await runContainer(name, [
          '--network',
          'none',
          BUSYBOX_IMAGE,
          'sleep',
          '3600',
        ]),
      );
    }
    await compareContainerStats(ids, options.rounds);
  } finally {
    await removeContainers(names);
  }
}

async function compareContainerStats(
  ids: readonly string[],
  rounds: number,
): Promise<void> {
  const log = createLogger('error', 'logfmt');
  const host = openHost(buildConfig(new Map()), log);
  host.start();
  const wanted = new Set(ids);
  const siMs: number[] = [];
  const samplerMs: number[] = [];
  let seen = 0;
  try {
    await host.sampler.sample();
    for (let i = 0; i < rounds; i++) {
      let start = performance.now();
      const fromSi = await si.dockerContainerStats(ids.join(','));
      siMs.push(performance.now() - start);

      start = performance.now();
      const snapshot = await host.sampler.sample();
      samplerMs.push(performance.now() - start);
      seen = snapshot.workloads.filter((r) => wanted.has(r.workload.id)).length;
      if (fromSi.length !== ids.length)
        throw new Error(`systeminformation gave ${fromSi.length} rows`);
    }
  } finally {
    await host.stop();
  }
  const rows = [
    [
      'si.dockerContainerStats(ids)',
      ids.length,
      fixed(median(siMs), 1),
      'one Engine API stats call per container',
    ],
    [
      'Sampler.sample() (cgroups)',
      seen,
      fixed(median(samplerMs), 1),
      'every workload on the host, microVMs too',
    ],
  ];
  console.log(
    `\n### Container stats: systeminformation vs cgroups (median of ${rounds})\n`,
  );
  console.log(
    markdownTable(['reader', 'containers', 'ms per reading', 'how'], rows),
  );
  await writeResult('libraries', {
    containers: ids.length,
    rounds,
    siMs: siMs,
    samplerMs: samplerMs,
  });
}
