import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pidusage from 'pidusage';

import { ProcFs, TICKS_PER_SECOND } from '../agent/src/host/procfs.js';

/**
 * pidusage against the agent's own /proc reader, per-process sampling of
 * the same pids, in one run. Prints a Markdown table and writes JSON to
 * bench/results/pidusage.json.
 *
 *   npm run build && node dist/bench/pidusage.js [rounds]
 */

const ROUNDS = Number(process.argv[2] ?? 200);
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

interface Row {
  readonly reader: string;
  readonly pids: number;
  readonly msPerRound: number;
  readonly gives: string;
}

async function time(
  rounds: number,
  round: () => Promise<unknown>,
): Promise<number> {
  for (let i = 0; i < 5; i++) await round();
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await round();
  return (performance.now() - start) / rounds;
}

async function main(): Promise<void> {
  const procfs = new ProcFs('/proc');
  const pids = (await procfs.pids()).filter((pid) => pid !== process.pid);
  const alive = (pid: number): boolean => {
    try {
      procfs.pidStat(pid);
      return true;
    } catch {
      return false;
    }
  };
  const sample = pids.filter(alive);

  const rows: Row[] = [];
  rows.push({
    reader: 'pidusage(pids)',
    pids: sample.length,
    msPerRound: await time(ROUNDS, () => pidusage(sample)),
    gives: 'CPU % since last call, RSS, cumulative CPU ms; /proc fixed',
  });
  rows.push({
    reader: 'ProcFs.pidStat',
    pids: sample.length,
    msPerRound: await time(ROUNDS, () => {
      for (const p of sample) alive(p);
      return Promise.resolve();
    }),
    gives: 'cumulative CPU ticks, threads, RSS pages; injectable root',
  });
  rows.push({
    reader: 'ProcFs.pidStat + smapsRollup',
    pids: sample.length,
    msPerRound: await time(ROUNDS, () => {
      for (const p of sample) {
        try {
          procfs.pidStat(p);
          procfs.smapsRollup(p);
        } catch {
          // Exited meanwhile.
        }
      }
      return Promise.resolve();
    }),
    gives: 'as above plus PSS (shared guest RAM counted once)',
  });
  pidusage.clear();

  // Same figures? Cumulative CPU of one pid by both readers.
  const pid = sample[0] ?? 1;
  const fromPidusage = (await pidusage(pid)).ctime / 1000;
  const stat = procfs.pidStat(pid);
  const fromProcfs = (stat.utimeTicks + stat.stimeTicks) / TICKS_PER_SECOND;
  pidusage.clear();

  console.log(`| reader | pids | ms per round | gives |`);
  console.log(`|---|---|---|---|`);
  for (const r of rows) {
    console.log(
      `| ${r.reader} | ${r.pids} | ${r.msPerRound.toFixed(2)} | ${r.gives} |`,
    );
  }
  console.log(
    `\nCPU seconds of pid ${pid}: pidusage ${fromPidusage}, ProcFs ${fromProcfs}`,
  );

  await mkdir(RESULTS, { recursive: true });
  await writeFile(
    join(RESULTS, 'pidusage.json'),
    JSON.stringify(
      { rounds: ROUNDS, rows, check: { pid, fromPidusage, fromProcfs } },
      null,
      2,
    ),
  );
}

await main();
