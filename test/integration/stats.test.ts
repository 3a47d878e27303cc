import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { startAgent, type RunningAgent } from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  dockerStatsNoStream,
  ensureDocker,
  removeContainers,
  run,
  runContainer,
  type DockerStatsRow,
} from '../rig/docker.js';
import { parseStatsOutput } from '../rig/docker-units.js';
import { startMicroVm, type MicroVm } from '../rig/microvm.js';
import { repoRoot } from '../rig/paths.js';
import { waitFor } from '../rig/wait.js';

/**
 * `microstat stats` against the real thing: side by side with `docker
 * stats --no-stream` on the same containers, a real QEMU microVM as a Kata
 * sandbox, a running agent read over --url, and the live view in a real
 * terminal (tmux), Ctrl-C included.
 */

const execFileAsync = promisify(execFile);

const PREFIX = 'ms-stats-';
const BURNER = `${PREFIX}burner`;
const IDLE = `${PREFIX}idle`;
const HOLDER = `${PREFIX}holder`;
const LATE = `${PREFIX}late`;
const NAMES = [BURNER, IDLE, HOLDER];
const MIB = 1024 * 1024;
const LONG = { timeout: 240_000 };
const MAIN = join(repoRoot, 'dist', 'agent', 'src', 'cli', 'main.js');
const DONE_MARKER = '/tmp/done';
const TIMING_RUNS = 3;
/** Where microstat's short window falls inside docker's; see its use. */
const DOCKER_WINDOW_DELAY_MS = 1000;

interface Result {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  readonly ms: number;
}

/** Runs `microstat stats ...args` to completion. */
async function microstat(args: readonly string[]): Promise<Result> {
  const start = performance.now();
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [MAIN, 'stats', ...args],
      { timeout: 60_000, maxBuffer: 16 * MIB },
    );
    return { stdout, stderr, code: 0, ms: performance.now() - start };
  } catch (error: unknown) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return {
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      code: typeof e.code === 'number' ? e.code : -1,
      ms: performance.now() - start,
    };
  }
}

async function microstatRows(args: readonly string[]): Promise<StatsJson[]> {
  const result = await microstat(['--no-stream', '--format', 'json', ...args]);
  assert.equal(result.code, 0, `microstat failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as StatsJson);
}

interface StatsJson {
  readonly ID: string;
  readonly Name: string;
  readonly Kind: string;
  readonly Runtime: string;
  readonly Hypervisor: string;
  readonly MemUsage: string;
  readonly CPUPerc: string;
}

async function tmux(args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync('tmux', args, { timeout: 10_000 });
  return stdout;
}

async function isDone(name: string): Promise<boolean> {
  const pid = (await run(['inspect', '-f', '{{.State.Pid}}', name])).trim();
  return access(`/proc/${pid}/root${DONE_MARKER}`).then(
    () => true,
    () => false,
  );
}

function assertClose(
  actual: number,
  expected: number,
  allowed: number,
  what: string,
  against = 'docker',
): void {
  assert.ok(
    Math.abs(actual - expected) <= allowed,
    `${what}: microstat ${actual}, ${against} ${expected} (±${allowed})`,
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('microstat stats', () => {
  const ids = new Map<string, string>();
  const vmId = randomBytes(32).toString('hex');
  const session = `${PREFIX}${randomBytes(4).toString('hex')}`;
  const rawLog = join(tmpdir(), `${session}.raw`);
  let vm: MicroVm | undefined;
  let agent: RunningAgent | undefined;

  before(async () => {
    await ensureDocker();
    await removeContainers([...NAMES, LATE]);
    const none = ['--network', 'none'];
    ids.set(
      BURNER,
      await runContainer(BURNER, [
        ...none,
        BUSYBOX_IMAGE,
        ...['sh', '-c', 'while :; do :; done'],
      ]),
    );
    ids.set(
      IDLE,
      await runContainer(IDLE, [...none, BUSYBOX_IMAGE, 'sleep', '3600']),
    );
    ids.set(
      HOLDER,
      await runContainer(HOLDER, [
        ...none,
        ...['--tmpfs', '/mem:size=128m'],
        BUSYBOX_IMAGE,
        'sh',
        '-c',
        'head -c 67108864 /dev/zero > /mem/blob; ' +
          `touch ${DONE_MARKER}; sleep 3600`,
      ]),
    );
    await waitFor(
      'the holder',
      async () => ((await isDone(HOLDER)) ? true : undefined),
      60_000,
    );
    vm = await startMicroVm({ id: vmId, memoryMiB: 256, vcpus: 1 });
    agent = await startAgent(['--no-collector.containerd']);
  }, LONG);

  after(async () => {
    await tmux(['kill-session', '-t', session]).catch(() => '');
    await rm(rawLog, { force: true });
    await agent?.stop();
    await vm?.stop();
    await removeContainers([...NAMES, LATE]);
  }, LONG);

  it('agrees with docker stats --no-stream', LONG, async () => {
    const containerIds = NAMES.map((n) => ids.get(n) ?? n);
    // docker stats --no-stream reports the daemon's two samples a second
    // apart, taken after the daemon's next collection tick, so its window
    // begins up to a second after the command and ends about 2.5 s in.
    // microstat's window is its first 250 ms: started a second later, it
    // falls inside docker's instead of on the start-up of both commands.
    const [docker, ours] = await Promise.all([
      dockerStatsNoStream(containerIds),
      sleep(DOCKER_WINDOW_DELAY_MS).then(() =>
        microstat(['--no-stream', '--no-trunc', '--format', 'json', ...NAMES]),
      ),
    ]);
    assert.equal(ours.code, 0, ours.stderr);
    const mine = parseStatsOutput(ours.stdout);
    const byId = new Map(mine.map((row) => [row.id, row]));
    assert.deepEqual(
      [...byId.keys()].sort(),
      [...containerIds].sort(),
      'same rows',
    );

    const report: string[] = [];
    for (const row of docker) {
      const own = byId.get(row.id);
      assert.ok(own !== undefined, `a row for ${row.name}`);
      compare(own, row);
      report.push(
        `${row.name}: CPU ${own.cpuPercent}% vs ${row.cpuPercent}%, ` +
          `memory ${own.memoryUsageBytes} vs ${row.memoryUsageBytes} B`,
      );
    }
    console.log(`side by side (microstat vs docker):\n${report.join('\n')}`);
    const burner = byId.get(ids.get(BURNER) ?? '');
    assert.ok((burner?.cpuPercent ?? 0) > 80, 'the burner burns a core');
    const holder = byId.get(ids.get(HOLDER) ?? '');
    assert.ok((holder?.memoryUsageBytes ?? 0) >= 64 * MIB, 'the holder');
  });

  it('shows the microVM with its hypervisor', LONG, async () => {
    const rows = await waitFor(
      'the microVM row',
      async () => {
        const found = await microstatRows(['--kind', 'microvm', '--no-trunc']);
        return found.some((r) => r.ID === vmId) ? found : undefined;
      },
      30_000,
    );
    const row = rows.find((r) => r.ID === vmId);
    assert.ok(row !== undefined);
    assert.equal(row.Kind, 'microvm');
    assert.equal(row.Runtime, 'kata/qemu');
    assert.equal(row.Hypervisor, 'qemu');
    assert.match(row.MemUsage, / \/ 256MiB$/);
    assert.match(row.CPUPerc, /^\d+\.\d\d%$/);
    assert.ok(
      rows.every((r) => r.Kind === 'microvm'),
      '--kind filters',
    );

    const table = await microstat(['--no-stream', vmId.slice(0, 12)]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /microvm\s+kata\/qemu\n$/);
  });

  it('is faster than docker stats --no-stream', LONG, async () => {
    const containerIds = NAMES.map((n) => ids.get(n) ?? n);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < TIMING_RUNS; i += 1) {
      const result = await microstat(['--no-stream', ...NAMES]);
      assert.equal(result.code, 0, result.stderr);
      ours.push(result.ms);
      const start = performance.now();
      await run(['stats', '--no-stream', ...containerIds]);
      theirs.push(performance.now() - start);
    }
    const line = (xs: number[]): string =>
      `median ${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;
    console.log(
      `wall time, ${NAMES.length} containers: microstat ${line(ours)}; ` +
        `docker stats ${line(theirs)}`,
    );
    assert.ok(median(ours) < median(theirs), 'microstat is faster');
  });

  it('reads a running agent with --url the same way', LONG, async () => {
    assert.ok(agent !== undefined);
    const [remote, local] = await Promise.all([
      microstatRows(['--url', agent.url, '--no-trunc', ...NAMES, vmId]),
      microstatRows(['--no-trunc', ...NAMES, vmId]),
    ]);
    const shape = (rows: StatsJson[]): string[] =>
      rows.map((r) => `${r.ID} ${r.Name} ${r.Kind} ${r.Runtime}`).sort();
    assert.deepEqual(shape(remote), shape(local));
    const cpu = (rows: StatsJson[]): number =>
      Number.parseFloat(rows.find((r) => r.Name === BURNER)?.CPUPerc ?? '');
    // Two 500 ms windows of two processes that start at slightly different
    // moments on a busy 2-core machine: only roughly the same CPU.
    assertClose(cpu(remote), cpu(local), 10, 'burner CPU', '--url');
    const memory = (rows: StatsJson[]): string | undefined =>
      rows.find((r) => r.Name === HOLDER)?.MemUsage;
    assert.equal(memory(remote), memory(local), 'holder memory over --url');

    const bad = await microstat(['--no-stream', '--url', 'http://127.0.0.1:9']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^Error: cannot read http:\/\/127\.0\.0\.1:9\//);
  });

  it('names an unknown container as docker does', LONG, async () => {
    const result = await microstat(['--no-stream', IDLE, 'ms-stats-nosuch']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^Error: No such container: ms-stats-nosuch$/m);
    assert.match(result.stdout, new RegExp(IDLE));
  });

  it('runs live in a terminal and leaves it clean', LONG, async () => {
    await tmux([
      'new-session',
      '-d',
      ...['-s', session, '-x', '200', '-y', '50'],
      "env PS1='MSPROMPT$ ' bash --norc --noprofile",
    ]);
    await tmux(['pipe-pane', '-o', '-t', session, `cat >> ${rawLog}`]);
    const command = `${process.execPath} ${MAIN} stats --sort name`;
    await tmux(['send-keys', '-t', session, command, 'Enter']);
    const screen = (): Promise<string> =>
      tmux(['capture-pane', '-p', '-t', session]);
    const burnerLine = async (): Promise<string | undefined> =>
      (await screen()).split('\n').find((l) => l.includes(BURNER));

    const first = await waitFor('the first frame', burnerLine, 20_000);
    assert.equal(
      (await tmux(['display', '-p', '-t', session, '#{cursor_flag}'])).trim(),
      '0',
      'cursor hidden while live',
    );
    await waitFor(
      'a refreshed frame',
      async () => {
        const line = await burnerLine();
        return line !== undefined && line !== first ? line : undefined;
      },
      10_000,
    );

    await runContainer(LATE, [
      '--network',
      'none',
      BUSYBOX_IMAGE,
      'sleep',
      '3600',
    ]);
    await waitFor(
      'the late container',
      async () => ((await screen()).includes(LATE) ? true : undefined),
      20_000,
    );

    await tmux(['send-keys', '-t', session, 'C-c']);
    await waitFor(
      'the shell prompt',
      async () => {
        const lines = (await screen()).trimEnd().split('\n');
        return lines.at(-1)?.includes('MSPROMPT$') === true ? true : undefined;
      },
      10_000,
    );
    assert.equal(
      (await tmux(['display', '-p', '-t', session, '#{cursor_flag}'])).trim(),
      '1',
      'cursor visible again',
    );
    const raw = await readFile(rawLog, 'utf8');
    const hidden = raw.lastIndexOf('\x1b[?25l');
    const shown = raw.lastIndexOf('\x1b[?25h');
    assert.ok(hidden >= 0 && shown > hidden, 'shows the cursor after hiding');
    assert.ok(!raw.includes('\x1b[2J'), 'never clears the whole screen');
    assert.ok(raw.includes('\x1b[H'), 'redraws from home');
  });

  it('prints plain frames when piped', LONG, async () => {
    const result = await microstat(['--no-stream', IDLE]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes('\x1b'), 'no escape codes');
    assert.equal(result.stdout.trimEnd().split('\n').length, 2, 'one frame');
  });
});

function compare(own: DockerStatsRow, docker: DockerStatsRow): void {
  const name = docker.name;
  assert.equal(own.name, name);
  assertClose(own.cpuPercent, docker.cpuPercent, 5, `${name} CPU %`);
  const memory = Math.max(0.05 * docker.memoryUsageBytes, MIB);
  assertClose(
    own.memoryUsageBytes,
    docker.memoryUsageBytes,
    memory,
    `${name} memory`,
  );
  assertClose(
    own.memoryLimitBytes,
    docker.memoryLimitBytes,
    Math.max(0.05 * docker.memoryLimitBytes, MIB),
    `${name} limit`,
  );
  assert.equal(own.pids, docker.pids, `${name} pids`);
}
