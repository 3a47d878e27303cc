import { execFile } from 'node:child_process';
import { access, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { parseStatsOutput, type DockerStatsRow } from './docker-units.js';
import { repoRoot } from './paths.js';

export type { DockerStatsRow } from './docker-units.js';

/**
 * Docker helpers for the integration tests. They drive the docker CLI, so a
 * test sees exactly what a user would; the daemon itself is started and
 * stopped by test/rig/start-services.sh, which holds the dockerd command line.
 */

const execFileAsync = promisify(execFile);

/** The image start-services.sh builds from busybox-static. */
export const BUSYBOX_IMAGE = 'local/busybox:latest';

const START_SERVICES = join(repoRoot, 'test', 'rig', 'start-services.sh');
const DOCKER_TIMEOUT_MS = 60_000;
const SCRIPT_TIMEOUT_MS = 120_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** The stderr a failed execFile attached to its error, if any. */
function stderrOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'stderr' in error) {
    const { stderr } = error;
    return typeof stderr === 'string' ? stderr.trim() : '';
  }
  return '';
}

/** Runs `docker ...args` and resolves with its stdout. */
export async function run(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('docker', args, {
      timeout: DOCKER_TIMEOUT_MS,
      maxBuffer: MAX_OUTPUT_BYTES,
    });
    return stdout;
  } catch (error: unknown) {
    throw new Error(`docker ${args.join(' ')} failed: ${stderrOf(error)}`, {
      cause: error,
    });
  }
}

async function startServices(action?: string): Promise<void> {
  try {
    await execFileAsync(
      'bash',
      action === undefined ? [START_SERVICES] : [START_SERVICES, action],
      { timeout: SCRIPT_TIMEOUT_MS },
    );
  } catch (error: unknown) {
    const what = `${START_SERVICES} ${action ?? 'all'}`;
    throw new Error(`${what} failed: ${stderrOf(error)}`, { cause: error });
  }
}

/** True when the daemon behind /var/run/docker.sock answers. */
export async function dockerAnswers(): Promise<boolean> {
  try {
    await run(['version']);
    return true;
  } catch {
    return false;
  }
}

async function imageExists(image: string): Promise<boolean> {
  try {
    await run(['image', 'inspect', image]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure dockerd answers and the busybox image exists, running
 * start-services.sh (which also starts containerd) when either is missing.
 */
export async function ensureDocker(): Promise<void> {
  if ((await dockerAnswers()) && (await imageExists(BUSYBOX_IMAGE))) return;
  await startServices();
}

/**
 * Stops dockerd by its pid, waits until the socket stops answering, and
 * starts it again with the same command line. Containers without a restart
 * policy stay stopped afterwards (no live-restore), so callers run this last.
 */
export async function restartDockerd(): Promise<void> {
  await startServices('stop-dockerd');
  await startServices('start-dockerd');
}

/**
 * SIGKILLs dockerd, as a crash or the OOM killer would, and waits until it
 * is gone. Its socket file, pid file and containers are left as they were;
 * start it again with startDockerd (or ensureDocker).
 */
export async function killDockerd(): Promise<void> {
  await startServices('kill-dockerd');
}

/** Starts dockerd with the rig's command line unless it already answers. */
export async function startDockerd(): Promise<void> {
  await startServices('start-dockerd');
}

/** `docker run -d --name NAME ...args`; resolves with the full id. */
export async function runContainer(
  name: string,
  args: readonly string[],
): Promise<string> {
  const stdout = await run(['run', '-d', '--name', name, ...args]);
  return stdout.trim();
}

/** `docker rm -f` each name; names that do not exist are not an error. */
export async function removeContainers(
  names: readonly string[],
): Promise<void> {
  if (names.length === 0) return;
  try {
    await execFileAsync('docker', ['rm', '-f', ...names], {
      timeout: DOCKER_TIMEOUT_MS,
    });
  } catch (error: unknown) {
    const problems = stderrOf(error)
      .split('\n')
      .filter((line) => line !== '' && !line.includes('No such container'));
    if (problems.length > 0) {
      throw new Error(`docker rm -f failed: ${problems.join('; ')}`, {
        cause: error,
      });
    }
  }
}

/** `docker stats --no-stream` for the given containers, parsed to numbers. */
export async function dockerStatsNoStream(
  ids: readonly string[],
): Promise<DockerStatsRow[]> {
  const stdout = await run([
    'stats',
    '--no-stream',
    '--no-trunc',
    '--format',
    '{{json .}}',
    ...ids,
  ]);
  return parseStatsOutput(stdout);
}

/** dev_t as Linux encodes it (glibc's gnu_dev_major / gnu_dev_minor). */
function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * The whole-disk device (e.g. /dev/vda) holding Docker's data root, where
 * volumes live. Block I/O limits need a disk, not a partition, so a partition
 * is resolved to its parent through /sys/dev/block.
 */
export async function dataRootDisk(): Promise<string> {
  const root = (await run(['info', '--format', '{{.DockerRootDir}}'])).trim();
  const { dev } = await stat(root, { bigint: true });
  const sysDir = await realpath(`/sys/dev/block/${majorMinor(dev)}`);
  const isPartition = await access(join(sysDir, 'partition')).then(
    () => true,
    () => false,
  );
  return `/dev/${basename(isPartition ? dirname(sysDir) : sysDir)}`;
}
