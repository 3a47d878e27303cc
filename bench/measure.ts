import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers every scenario shares: timing, /proc readings, output. */

export const RESULTS_DIR = fileURLToPath(
  new URL('../../bench/results/', import.meta.url),
);
export const CLI = fileURLToPath(
  new URL('../agent/src/cli/main.js', import.meta.url),
);
const TICKS_PER_SECOND = 100;

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[at] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** utime + stime of a process, in seconds, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields after `comm` start at field 3 (state): utime is 14, stime 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / TICKS_PER_SECOND;
}

/** VmRSS of a process in bytes, from /proc/<pid>/status. */
export async function rssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(text)?.[1];
  return Number(kb ?? Number.NaN) * 1024;
}

/** GET a loopback URL; resolves with the body length and the time taken. */
export function timedGet(
  url: string,
): Promise<{ ms: number; bytes: number; body: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`${url}: HTTP ${res.statusCode ?? 0}`));
          return;
        }
        resolve({ ms: performance.now() - start, bytes: body.length, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a long-running child, its output kept for error messages. */
export function startChild(
  command: string,
  args: readonly string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => output };
}

/**
 * The CPU one process used per second of wall time over `windowMs`, as a
 * percentage of one core.
 */
export async function cpuPercent(
  pid: number,
  windowMs: number,
): Promise<number> {
  const before = await cpuSeconds(pid);
  const start = performance.now();
  await sleep(windowMs);
  const used = (await cpuSeconds(pid)) - before;
  return (used / ((performance.now() - start) / 1000)) * 100;
}

export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const line = (cells: readonly (string | number)[]): string =>
    `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join(
    '\n',
  );
}

export async function writeResult(name: string, data: unknown): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(
    join(RESULTS_DIR, `${name}.json`),
    `${JSON.stringify({ machine: machine(), ...(data as object) }, null, 2)}\n`,
  );
}

export function machine(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryBytes: totalmem(),
    load: loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
  };
}

export const fixed = (value: number, digits = 2): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';

export const mib = (bytes: number): string => fixed(bytes / 2 ** 20, 1);
