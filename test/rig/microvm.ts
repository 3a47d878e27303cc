import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { GuestConsole } from './microvm/console.js';
import { ensureGuestImage } from './microvm/guest-image.js';
import { childPids, isRunning } from './microvm/proc.js';
import { repoRoot } from './paths.js';

export {
  ensureGuestImage,
  GUEST_CACHE_DIR,
  type GuestImage,
} from './microvm/guest-image.js';

/**
 * A QEMU microVM that looks, from the host, like a Kata Containers sandbox of
 * the Go runtime up to 3.0: a shim whose argv is containerd-shim-kata-v2's,
 * virtiofsd as the shim's child, QEMU daemonized (parent PID 1) with guest
 * RAM in shared memory, Kata's state directories, persist.json and
 * shim-monitor.sock. The guest runs test/rig/microvm/init.sh, which takes
 * commands on its serial console (busy, alloc, share, free, ping).
 *
 * QEMU runs under TCG (`accel=tcg`): nested KVM does not work on the CI
 * machines. The stand-in shim is test/rig/microvm/shim.mjs.
 */

const ASSET_DIR = join(repoRoot, 'test', 'rig', 'microvm');
const SHIM_SCRIPT = join(ASSET_DIR, 'shim.mjs');
const SHIM_ARGV0 = '/opt/kata/bin/containerd-shim-kata-v2';

/**
 * What the stand-in shim serves on GET /metrics, verbatim. As from a real Go
 * shim: kata_guest_meminfo in bytes (the agent converts /proc/meminfo's kB),
 * kata_guest_cpu_time in milliseconds, the aggregate labelled cpu="total".
 */
export const GUEST_METRICS_FILE = join(ASSET_DIR, 'guest-metrics.prom');

const DEFAULT_MEMORY_MIB = 512;
const DEFAULT_VCPUS = 1;
const SHIM_START_TIMEOUT_MS = 60_000;
/** Booting under TCG takes 3-6 s on the 2-core CI machines; allow more. */
const BOOT_TIMEOUT_MS = 150_000;
const COMMAND_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
/**
 * QEMU drops console output while nobody is connected; an empty line makes
 * the guest repeat MSRIG-READY.
 */
const NUDGE_INTERVAL_MS = 2_000;

export interface MicroVmOptions {
  /** Sandbox id: a path component, as containerd allows. */
  readonly id: string;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  /** Root of the state paths, `/run` by default (as in /run/vc/sbs/<id>). */
  readonly runDir?: string;
}

/** Where Kata's Go runtime keeps one sandbox's state, below a run dir. */
export interface SandboxPaths {
  /** <run>/vc/vm/<id>: pid, qmp.sock, console.sock, vhost-fs.sock */
  readonly vmDir: string;
  /** <run>/vc/sbs/<id>: persist.json, shim-monitor.sock */
  readonly sbsDir: string;
  /** <run>/kata-containers/shared/sandboxes/<id>; virtiofsd shares shared/ */
  readonly sharedDir: string;
  readonly persistFile: string;
  readonly monitorSocket: string;
  readonly consoleSocket: string;
}

export interface MicroVm {
  readonly id: string;
  readonly runDir: string;
  readonly paths: SandboxPaths;
  readonly shimPid: number;
  readonly qemuPid: number;
  /** The virtiofsd the shim started; it forks a sandboxed child. */
  readonly virtiofsdPid: number;
  /**
   * Runs one guest command (e.g. `busy 5`, `alloc 300`) and resolves when
   * the guest reports it done; rejects if the guest refuses it.
   */
  send(command: string, timeoutMs?: number): Promise<void>;
  /** The serial console output so far. */
  consoleText(): string;
  /**
   * Stops the shim, which stops QEMU and virtiofsd and removes the state.
   * Calling it again returns the same promise.
   */
  stop(): Promise<void>;
}

export function sandboxPaths(runDir: string, id: string): SandboxPaths {
  const vmDir = join(runDir, 'vc', 'vm', id);
  const sbsDir = join(runDir, 'vc', 'sbs', id);
  return {
    vmDir,
    sbsDir,
    sharedDir: join(runDir, 'kata-containers', 'shared', 'sandboxes', id),
    persistFile: join(sbsDir, 'persist.json'),
    monitorSocket: join(sbsDir, 'shim-monitor.sock'),
    consoleSocket: join(vmDir, 'console.sock'),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The pids the shim recorded, as a host tool would read them. */
interface PersistedPids {
  readonly qemuPid: number;
  readonly virtiofsdPid: number;
}

function parsePersist(text: string): PersistedPids {
  const state: unknown = JSON.parse(text);
  const hypervisor =
    typeof state === 'object' && state !== null && 'HypervisorState' in state
      ? state.HypervisorState
      : undefined;
  if (
    typeof hypervisor === 'object' &&
    hypervisor !== null &&
    'Pid' in hypervisor &&
    'VirtiofsDaemonPid' in hypervisor &&
    typeof hypervisor.Pid === 'number' &&
    typeof hypervisor.VirtiofsDaemonPid === 'number'
  ) {
    return {
      qemuPid: hypervisor.Pid,
      virtiofsdPid: hypervisor.VirtiofsDaemonPid,
    };
  }
  throw new Error(`persist.json without HypervisorState pids: ${text}`);
}

/** Runs `shim.mjs ... start` and resolves with the detached shim's pid. */
async function launchShim(
  options: Required<MicroVmOptions>,
  kernel: string,
  initrd: string,
  logFile: string,
): Promise<number> {
  const log = await open(logFile, 'w');
  try {
    const child = spawn(
      process.execPath,
      [
        SHIM_SCRIPT,
        ...['-namespace', 'default'],
        ...['-address', '/run/containerd/containerd.sock'],
        ...['-publish-binary', '/usr/bin/containerd'],
        ...['-id', options.id],
        'start',
      ],
      {
        argv0: SHIM_ARGV0,
        stdio: ['ignore', 'pipe', log.fd],
        env: {
          ...process.env,
          MSRIG_RUN_DIR: options.runDir,
          MSRIG_KERNEL: kernel,
          MSRIG_INITRD: initrd,
          MSRIG_METRICS_FILE: GUEST_METRICS_FILE,
          MSRIG_MEMORY_MIB: String(options.memoryMiB),
          MSRIG_VCPUS: String(options.vcpus),
        },
      },
    );
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => (stdout += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    const pid = Number.parseInt(stdout, 10);
    if (code !== 0 || !Number.isSafeInteger(pid)) {
      throw new Error(`shim start failed (${code}): ${stdout}`);
    }
    return pid;
  } finally {
    await log.close();
  }
}

/** Waits for persist.json, which the shim writes once QEMU runs. */
async function waitForPersist(
  shimPid: number,
  paths: SandboxPaths,
): Promise<PersistedPids> {
  const deadline = Date.now() + SHIM_START_TIMEOUT_MS;
  for (;;) {
    const text = await readFile(paths.persistFile, 'utf8').catch(() => '');
    if (text !== '') return parsePersist(text);
    if (!(await isRunning(shimPid))) throw new Error('shim exited');
    if (Date.now() > deadline) {
      throw new Error(`no persist.json within ${SHIM_START_TIMEOUT_MS} ms`);
    }
    await delay(POLL_MS);
  }
}

async function waitForBoot(guest: GuestConsole): Promise<void> {
  const ready = guest.waitForLine(
    0,
    (line) => line === 'MSRIG-READY',
    BOOT_TIMEOUT_MS,
  );
  const nudge = setInterval(() => {
    guest.writeLine('');
  }, NUDGE_INTERVAL_MS);
  try {
    await ready;
  } finally {
    clearInterval(nudge);
  }
}

/** Waits until none of `pids` runs; false on timeout. */
async function waitGone(
  pids: readonly number[],
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = await Promise.all(pids.map((pid) => isRunning(pid)));
    if (!running.includes(true)) return true;
    if (Date.now() > deadline) return false;
    await delay(POLL_MS);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function removeState(paths: SandboxPaths): Promise<void> {
  await Promise.all(
    [paths.vmDir, paths.sbsDir, paths.sharedDir].map((dir) =>
      rm(dir, { recursive: true, force: true }),
    ),
  );
}

/**
 * SIGTERM to the shim, which cleans up after itself; whatever is left after
 * STOP_TIMEOUT_MS is killed and removed here.
 */
async function stopSandbox(
  shimPid: number,
  others: readonly number[],
  paths: SandboxPaths,
): Promise<void> {
  signal(shimPid, 'SIGTERM');
  const all = [shimPid, ...others];
  if (!(await waitGone(all, STOP_TIMEOUT_MS))) {
    for (const pid of all) signal(pid, 'SIGKILL');
    await waitGone(all, STOP_TIMEOUT_MS);
  }
  await removeState(paths);
}

/** Pids a sandbox's state names: persist.json's and QEMU's pid file. */
async function recordedPids(paths: SandboxPaths): Promise<number[]> {
  const read = (path: string): Promise<string> =>
    readFile(path, 'utf8').catch(() => '');
  const pids: number[] = [];
  try {
    const persisted = parsePersist(await read(paths.persistFile));
    pids.push(persisted.qemuPid, persisted.virtiofsdPid);
  } catch {
    // Absent or half written: the pid file may still tell.
  }
  const qemuPid = Number.parseInt(await read(join(paths.vmDir, 'pid')), 10);
  if (Number.isSafeInteger(qemuPid)) pids.push(qemuPid);
  return pids;
}

/**
 * Removes what a crashed run left of sandbox `id`; refuses to touch it while
 * a process it names still runs.
 */
async function clearStaleState(id: string, paths: SandboxPaths): Promise<void> {
  if (!(await exists(paths.sbsDir)) && !(await exists(paths.vmDir))) return;
  const pids = await recordedPids(paths);
  const running = await Promise.all(pids.map((pid) => isRunning(pid)));
  if (running.includes(true)) {
    throw new Error(`sandbox ${id} is running (pids ${pids.join(', ')})`);
  }
  await removeState(paths);
}

function checkCommand(command: string): void {
  if (command === '' || /[\r\n]/.test(command) || command.trim() !== command) {
    throw new Error(`not a guest command line: ${JSON.stringify(command)}`);
  }
}

/**
 * Starts a sandbox and resolves once the guest printed MSRIG-READY. On
 * failure everything started is stopped and the error carries the shim's
 * log and the console output.
 */
export async function startMicroVm(options: MicroVmOptions): Promise<MicroVm> {
  const settings: Required<MicroVmOptions> = {
    id: options.id,
    memoryMiB: options.memoryMiB ?? DEFAULT_MEMORY_MIB,
    vcpus: options.vcpus ?? DEFAULT_VCPUS,
    runDir: options.runDir ?? '/run',
  };
  const { id, runDir } = settings;
  const paths = sandboxPaths(runDir, id);
  await clearStaleState(id, paths);

  const { kernel, initrd } = await ensureGuestImage();
  const logFile = join(tmpdir(), `microstat-rig-${id}.log`);
  const shimPid = await launchShim(settings, kernel, initrd, logFile);
  let pids: PersistedPids | undefined;
  let guest: GuestConsole | undefined;
  try {
    pids = await waitForPersist(shimPid, paths);
    guest = await GuestConsole.connect(paths.consoleSocket);
    await waitForBoot(guest);
  } catch (error: unknown) {
    guest?.close();
    const started = pids === undefined ? [] : [pids.qemuPid, pids.virtiofsdPid];
    await stopSandbox(shimPid, started, paths);
    const shimLog = await readFile(logFile, 'utf8').catch(() => '');
    throw new Error(
      `microVM ${id} did not start: ${String(error)}\n` +
        `--- shim log (${logFile}) ---\n${shimLog}\n` +
        `--- console ---\n${guest?.text() ?? ''}`,
      { cause: error },
    );
  }
  return openMicroVm(settings, paths, shimPid, pids, guest);
}

function openMicroVm(
  settings: Required<MicroVmOptions>,
  paths: SandboxPaths,
  shimPid: number,
  pids: PersistedPids,
  guest: GuestConsole,
): MicroVm {
  // One command at a time: the guest runs them in order, and two identical
  // commands in flight could not tell their DONE lines apart.
  let queue: Promise<unknown> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const sendNow = async (command: string, timeoutMs: number): Promise<void> => {
    checkCommand(command);
    const from = guest.lineCount;
    guest.writeLine(command);
    const done = `MSRIG-DONE ${command}`;
    const failed = `MSRIG-FAIL ${command}`;
    const line = await guest
      .waitForLine(from, (l) => l === done || l === failed, timeoutMs)
      .catch((error: unknown) => {
        throw new Error(
          `guest command ${command}: ${String(error)}\n${guest.text()}`,
          { cause: error },
        );
      });
    if (line === failed) throw new Error(`guest refused ${command}`);
  };

  return {
    id: settings.id,
    runDir: settings.runDir,
    paths,
    shimPid,
    qemuPid: pids.qemuPid,
    virtiofsdPid: pids.virtiofsdPid,
    send(command, timeoutMs = COMMAND_TIMEOUT_MS) {
      const result = queue.then(() => sendNow(command, timeoutMs));
      queue = result.catch(() => undefined);
      return result;
    },
    consoleText: () => guest.text(),
    stop() {
      guest.close();
      stopping ??= (async () => {
        // virtiofsd forks a child for its sandbox; stop that one too.
        const forked = await childPids(pids.virtiofsdPid);
        const others = [pids.qemuPid, pids.virtiofsdPid, ...forked];
        await stopSandbox(shimPid, others, paths);
      })();
      return stopping;
    },
  };
}
