import { execFile } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../test/rig/docker.js';
import { startMicroVm, type MicroVm } from '../test/rig/microvm.js';
import { freePort, stopChild } from '../test/rig/process.js';
import {
  CLI,
  cpuSeconds,
  fixed,
  markdownTable,
  median,
  mib,
  percentile,
  rssBytes,
  sleep,
  startChild,
  timedGet,
  waitFor,
  writeResult,
} from './measure.js';

const execFileAsync = promisify(execFile);

/**
 * Scenario b: the live host. Real busybox containers (and the QEMU rig's
 * microVM) measured by `microstat stats --no-stream` and `docker stats
 * --no-stream` in alternating rounds, then the agent's /metrics beside
 * Debian's process-exporter and node-exporter, scraped in turn.
 */

export interface LiveOptions {
  readonly rounds: number;
  readonly containers: number;
  readonly scrapes: number;
}

const PREFIX = 'ms-bench-';

export async function runLive(options: LiveOptions): Promise<void> {
  await ensureDocker();
  const names = Array.from(
    { length: options.containers },
    (_, i) => `${PREFIX}${i}`,
  );
  await removeContainers(names);
  let vm: MicroVm | undefined;
  try {
    for (const name of names) {
      await runContainer(name, [
        '--network',
        'none',
        BUSYBOX_IMAGE,
        'sleep',
        '3600',
      ]);
    }
    vm = await startMicroVm({ id: `${PREFIX}vm` }).catch((error: unknown) => {
      console.error(`microVM rig unavailable: ${String(error).slice(0, 300)}`);
      return undefined;
    });
    const stats = await compareStats(names, options.rounds);
    const exporters = await compareExporters(options.scrapes);
    await writeResult('live', {
      containers: names.length,
      microvm: vm !== undefined,
      stats,
      exporters,
    });
  } finally {
    await vm?.stop();
    await removeContainers(names);
  }
}

interface StatsRound {
  readonly microstatS: number;
  readonly dockerS: number;
  readonly ratio: number;
}

async function timed(command: string, args: string[]): Promise<number> {
  const start = performance.now();
  await execFileAsync(command, args, { maxBuffer: 1 << 24 });
  return (performance.now() - start) / 1000;
}

/** Alternating rounds, so that drift on the machine hits both tools. */
async function compareStats(
  names: readonly string[],
  rounds: number,
): Promise<StatsRound[]> {
  const out: StatsRound[] = [];
  // One untimed run each: page cache and the daemon's first answers.
  await timed(process.execPath, [CLI, 'stats', '--no-stream', ...names]);
  await timed('docker', ['stats', '--no-stream', ...names]);
  for (let i = 0; i < rounds; i++) {
    const microstatS = await timed(process.execPath, [
      CLI,
      'stats',
      '--no-stream',
      ...names,
    ]);
    const dockerS = await timed('docker', ['stats', '--no-stream', ...names]);
    out.push({ microstatS, dockerS, ratio: dockerS / microstatS });
  }
  // The start-up alone: a command that loads the CLI and exits at once.
  const startup: number[] = [];
  for (let i = 0; i < rounds; i++)
    startup.push(await timed(process.execPath, [CLI, '--version']));

  console.log(
    `\n### microstat stats --no-stream vs docker stats --no-stream ` +
      `(${names.length} containers, wall seconds)\n`,
  );
  console.log(
    markdownTable(
      ['round', 'microstat s', 'docker s', 'docker / microstat'],
      [
        ...out.map((r, i) => [
          i + 1,
          fixed(r.microstatS, 3),
          fixed(r.dockerS, 3),
          fixed(r.ratio, 1),
        ]),
        [
          'median',
          fixed(median(out.map((r) => r.microstatS)), 3),
          fixed(median(out.map((r) => r.dockerS)), 3),
          fixed(median(out.map((r) => r.ratio)), 1),
        ],
      ],
    ),
  );
  console.log(
    `\nCLI start-up (\`microstat --version\`), median of ${rounds}: ` +
      `${fixed(median(startup), 3)} s`,
  );
  return out;
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
}

interface ExporterRow {
  readonly exporter: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMsPerScrape: number;
  readonly rssMiB: number;
  readonly series: number;
}

async function compareExporters(scrapes: number): Promise<ExporterRow[]> {
  const [agentPort, pePort, nePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  // Every process in one group per command name.
  const config = join(tmpdir(), 'ms-bench-process-exporter.yml');
  await writeFile(
    config,
    'process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n    - \'.+\'\n',
  );
  const children = [
    startChild(process.execPath, [
      CLI,
      'serve',
      `--web.listen-address=127.0.0.1:${agentPort}`,
      '--log.level=warn',
    ]),
    startChild('prometheus-process-exporter', [
      `-web.listen-address=127.0.0.1:${pePort}`,
      `-config.path=${config}`,
    ]),
    startChild('prometheus-node-exporter', [
      `--web.listen-address=127.0.0.1:${nePort}`,
    ]),
  ];
  try {
    const targets: Target[] = [
      ['microstat', agentPort],
      ['process-exporter 0.7.10', pePort],
      ['node-exporter 1.5.0', nePort],
    ].map(([name, port], i) => ({
      name: String(name),
      url: `http://127.0.0.1:${port}/metrics`,
      pid: children[i]?.child.pid ?? 0,
    }));
    for (const t of targets)
      await waitFor(t.name, async () => (await timedGet(t.url)).ms > 0, 30_000);
    await sleep(3000);
    return await scrapeInTurn(targets, scrapes);
  } finally {
    for (const c of children) await stopChild(c.child);
    await rm(config, { force: true });
  }
}

async function scrapeInTurn(
  targets: readonly Target[],
  scrapes: number,
): Promise<ExporterRow[]> {
  const times = targets.map((): number[] => []);
  const cpu = targets.map(() => 0);
  let bodies = targets.map(() => '');
  for (let i = 0; i < 5; i++) for (const t of targets) await timedGet(t.url);
  for (let i = 0; i < scrapes; i++) {
    for (const [k, t] of targets.entries()) {
      const before = await cpuSeconds(t.pid);
      const got = await timedGet(t.url);
      // Let the exporter finish what the response left behind.
      await sleep(20);
      cpu[k] = (cpu[k] ?? 0) + (await cpuSeconds(t.pid)) - before;
      times[k]?.push(got.ms);
      bodies = bodies.map((b, j) => (j === k ? got.body : b));
    }
  }
  const rows: ExporterRow[] = [];
  for (const [k, t] of targets.entries()) {
    rows.push({
      exporter: t.name,
      p50Ms: median(times[k] ?? []),
      p99Ms: percentile(times[k] ?? [], 99),
      cpuMsPerScrape: ((cpu[k] ?? 0) / scrapes) * 1000,
      rssMiB: Number(mib(await rssBytes(t.pid))),
      series: (bodies[k] ?? '')
        .split('\n')
        .filter((l) => l !== '' && l[0] !== '#').length,
    });
  }
  const ours = rows[0]?.p50Ms ?? Number.NaN;
  console.log(
    `\n### /metrics on this host, scraped in turn (${scrapes} each)\n`,
  );
  console.log(
    markdownTable(
      [
        'exporter',
        'p50 ms',
        'p99 ms',
        'latency vs microstat',
        'CPU ms per scrape',
        'RSS MiB',
        'series',
      ],
      rows.map((r) => [
        r.exporter,
        fixed(r.p50Ms, 1),
        fixed(r.p99Ms, 1),
        fixed(r.p50Ms / ours, 2),
        fixed(r.cpuMsPerScrape, 1),
        fixed(r.rssMiB, 1),
        r.series,
      ]),
    ),
  );
  return rows;
}
