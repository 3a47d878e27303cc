import { join } from 'node:path';

import { startFixtureDaemon } from '../test/unit/docker-fixture-server.js';
import { freePort, stopChild } from '../test/rig/process.js';
import { generateHost, type Layout } from './host-tree.js';
import {
  CLI,
  cpuPercent,
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

/**
 * Scenario a: the real agent over generated hosts of growing size. For
 * each size and cgroup layout: /metrics latency, CPU while sampling at
 * 1 s with no scrapes, and resident memory at rest (ticking, before any
 * scrape burst) and after a burst of back-to-back scrapes.
 */

export interface GeneratedOptions {
  readonly sizes: readonly number[];
  readonly layouts: readonly Layout[];
  readonly scrapes: number;
  readonly windowMs: number;
  /** Extra node flags for the agent, e.g. --cpu-prof. */
  readonly nodeFlags: readonly string[];
}

interface Row {
  readonly layout: Layout;
  readonly workloads: number;
  readonly series: number;
  readonly bodyKiB: number;
  readonly scrapeP50Ms: number;
  readonly scrapeP99Ms: number;
  readonly idleCpuPercent: number;
  /** After the idle window: ticking once a second, not scraped yet. */
  readonly rssRestMiB: number;
  /** After the burst of back-to-back scrapes and a short settle. */
  readonly rssMiB: number;
}

const WARM_UP_SCRAPES = 20;
const READY_TIMEOUT_MS = 120_000;
/** Lets RSS settle after warm-up before it is read. */
const SETTLE_MS = 3000;

export async function runGenerated(options: GeneratedOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const layout of options.layouts) {
    for (const n of options.sizes) {
      rows.push(await measureOne(n, layout, options));
      console.error(`generated ${layout} n=${n}: done`);
    }
  }
  console.log('\n### Generated hosts: the agent as workloads grow\n');
  console.log(
    markdownTable(
      [
        'layout',
        'workloads',
        'series',
        'body KiB',
        'scrape p50 ms',
        'scrape p99 ms',
        'CPU % of a core at 1 s',
        'RSS MiB at rest',
        'RSS MiB after scrapes',
      ],
      rows.map((r) => [
        r.layout,
        r.workloads,
        r.series,
        fixed(r.bodyKiB, 0),
        fixed(r.scrapeP50Ms, 1),
        fixed(r.scrapeP99Ms, 1),
        fixed(r.idleCpuPercent, 2),
        fixed(r.rssRestMiB, 1),
        fixed(r.rssMiB, 1),
      ]),
    ),
  );
  console.log(`\n${linearity(rows)}`);
  await writeResult('generated', { options, rows, linearity: linearity(rows) });
  return rows;
}

async function measureOne(
  n: number,
  layout: Layout,
  options: GeneratedOptions,
): Promise<Row> {
  const host = await generateHost(n, layout);
  const socket = join(host.run, 'docker.sock');
  const daemon = await startFixtureDaemon(host.dockerRecording, socket);
  const port = await freePort();
  const agent = startChild(process.execPath, [
    ...options.nodeFlags,
    CLI,
    'serve',
    `--web.listen-address=127.0.0.1:${port}`,
    `--path.procfs=${host.proc}`,
    `--path.cgroupfs=${host.cgroup}`,
    `--path.run=${host.run}`,
    `--docker.host=unix://${socket}`,
    '--no-collector.containerd',
    '--log.level=warn',
  ]);
  const url = `http://127.0.0.1:${port}/metrics`;
  try {
    await waitFor(
      `${n} workloads in /metrics`,
      async () => countInfo((await timedGet(url)).body) >= n,
      READY_TIMEOUT_MS,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${agent.output()}`, { cause: error });
    });
    const pid = agent.child.pid ?? 0;

    // Sampling cost alone: the 1 s history ticker runs, nobody scrapes.
    await sleep(2000);
    const idleCpuPercent = await cpuPercent(pid, options.windowMs);
    const rssRest = await rssBytes(pid);

    for (let i = 0; i < WARM_UP_SCRAPES; i++) await timedGet(url);
    const times: number[] = [];
    let body = '';
    for (let i = 0; i < options.scrapes; i++) {
      const got = await timedGet(url);
      times.push(got.ms);
      body = got.body;
    }
    await sleep(SETTLE_MS);
    const rss = await rssBytes(pid);
    if (countInfo(body) < n) throw new Error(`lost workloads at n=${n}`);
    return {
      layout,
      workloads: n,
      series: body.split('\n').filter((l) => l !== '' && l[0] !== '#').length,
      bodyKiB: body.length / 1024,
      scrapeP50Ms: median(times),
      scrapeP99Ms: percentile(times, 99),
      idleCpuPercent,
      rssRestMiB: Number(mib(rssRest)),
      rssMiB: Number(mib(rss)),
    };
  } finally {
    await stopChild(agent.child);
    await daemon.close();
    await host.remove();
  }
}

function countInfo(body: string): number {
  let count = 0;
  for (const line of body.split('\n'))
    if (line.startsWith('microstat_workload_info{')) count++;
  return count;
}

/**
 * How each figure grows from the second smallest size to the largest,
 * per workload added: linear growth keeps cost per workload about flat.
 */
function linearity(rows: readonly Row[]): string {
  const out: string[] = [];
  for (const layout of new Set(rows.map((r) => r.layout))) {
    const mine = rows.filter((r) => r.layout === layout);
    const per = (pick: (r: Row) => number): string =>
      mine
        .filter((r) => r.workloads >= 100)
        .map((r) => fixed(pick(r) / r.workloads, 4))
        .join(' / ');
    out.push(
      `${layout}, per workload at n >= 100: scrape p50 ms ` +
        `${per((r) => r.scrapeP50Ms)}; CPU % ${per((r) => r.idleCpuPercent)}`,
    );
  }
  return out.join('\n');
}
