import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

/**
 * containerd helpers for the integration tests. They drive ctr, the way a
 * user would create records, and start a standalone containerd only when
 * none answers, so a test can stop exactly what it started.
 */

const execFileAsync = promisify(execFile);

/** Where a standalone containerd listens with its defaults. */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

/** The image start-services.sh builds, as `docker save` names it. */
const BUSYBOX_REF = 'docker.io/local/busybox:latest';
/** A one-file image this module builds when Docker cannot provide one. */
const TINY_REF = 'docker.io/local/ms-it-tiny:latest';

const CTR_TIMEOUT_MS = 30_000;
const START_WAIT_MS = 30_000;

function stderrOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'stderr' in error) {
    const { stderr } = error;
    return typeof stderr === 'string' ? stderr.trim() : '';
  }
  return '';
}

/** Runs `ctr ...args` against CONTAINERD_SOCKET and resolves with stdout. */
export async function ctr(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(
      'ctr',
      ['--address', CONTAINERD_SOCKET, ...args],
      { timeout: CTR_TIMEOUT_MS },
    );
    return stdout;
  } catch (error: unknown) {
    throw new Error(`ctr ${args.join(' ')} failed: ${stderrOf(error)}`, {
      cause: error,
    });
  }
}

export async function containerdAnswers(): Promise<boolean> {
  try {
    // Without the timeout ctr would spend 10 s finding out.
    await ctr(['--connect-timeout', '2s', 'version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts containerd with its defaults unless one already answers. Resolves
 * with the process it started, or undefined when it started none.
 */
export async function ensureContainerd(): Promise<ChildProcess | undefined> {
  if (await containerdAnswers()) return undefined;

  const log = await open(join(tmpdir(), 'ms-it-containerd.log'), 'a');
  const child = spawn('containerd', [], {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
  });
  await log.close();

  const until = Date.now() + START_WAIT_MS;
  while (Date.now() < until) {
    if (child.exitCode !== null) break;
    if (await containerdAnswers()) return child;
    await delay(200);
  }
  child.kill('SIGTERM');
  throw new Error(`containerd did not answer within ${START_WAIT_MS} ms`);
}

/** Stops a containerd that ensureContainerd started and waits for its exit. */
export async function stopContainerd(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function hasImage(namespace: string, ref: string): Promise<boolean> {
  const refs = await ctr(['-n', namespace, 'images', 'ls', '-q']);
  return refs.split('\n').includes(ref);
}

async function dockerHasBusybox(): Promise<boolean> {
  try {
    await execFileAsync('docker', ['image', 'inspect', 'local/busybox'], {
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * An image reference present in `namespace`. Records need an image that
 * ctr can find and unpack, though nothing ever runs from it: the busybox
 * image when it is there or Docker can save it, else a one-file image.
 */
export async function ensureImage(namespace: string): Promise<string> {
  if (await hasImage(namespace, BUSYBOX_REF)) return BUSYBOX_REF;
  if (await hasImage(namespace, TINY_REF)) return TINY_REF;

  if (await dockerHasBusybox()) {
    const script = 'docker save "$1" | ctr --address "$2" -n "$3" i import -';
    const args = ['local/busybox:latest', CONTAINERD_SOCKET, namespace];
    await execFileAsync(
      'bash',
      ['-o', 'pipefail', '-c', script, 'bash', ...args],
      {
        timeout: CTR_TIMEOUT_MS,
      },
    );
    return BUSYBOX_REF;
  }

  const dir = await mkdtemp(join(tmpdir(), 'ms-it-oci-'));
  try {
    const archive = await writeTinyImage(dir);
    await ctr(['-n', namespace, 'images', 'import', archive]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return TINY_REF;
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Writes a blob to an OCI layout and describes it. */
async function putBlob(
  layout: string,
  mediaType: string,
  bytes: Buffer,
): Promise<{ mediaType: string; digest: string; size: number }> {
  const digest = digestOf(bytes);
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Builds an OCI image layout holding one uncompressed layer with a single
 * text file, tars it and returns the tar's path (see the OCI image-spec's
 * image-layout.md). Good enough for records that are never started.
 */
async function writeTinyImage(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, 'layout');
  await mkdir(rootfs);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(rootfs, 'hello.txt'), 'microstat test image\n');

  const layerTar = (
    await execFileAsync('tar', ['-C', rootfs, '-cf', '-', '.'], {
      encoding: 'buffer',
    })
  ).stdout;
  const layer = await putBlob(
    layout,
    'application/vnd.oci.image.layer.v1.tar',
    layerTar,
  );
  const config = await putBlob(
    layout,
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        os: 'linux',
        config: { Cmd: ['/hello.txt'] },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = await putBlob(
    layout,
    'application/vnd.oci.image.manifest.v1+json',
    Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [layer] })),
  );

  const annotations = { 'io.containerd.image.name': TINY_REF };
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations }],
    }),
  );
  await writeFile(
    join(layout, 'oci-layout'),
    JSON.stringify({ imageLayoutVersion: '1.0.0' }),
  );

  const archive = join(dir, 'image.tar');
  await execFileAsync('tar', ['-C', layout, '-cf', archive, '.']);
  return archive;
}
