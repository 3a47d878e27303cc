import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  access,
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { repoRoot } from '../paths.js';

/**
 * The rig's guest: the Debian cloud kernel (from Debian's own archive, via
 * apt) and a busybox initramfs whose /init is test/rig/microvm/init.sh. Both
 * are cached and built only when missing; the initramfs name carries a hash
 * of what went into it, so editing init.sh rebuilds it.
 */

const execFileAsync = promisify(execFile);

export interface GuestImage {
  readonly kernel: string;
  readonly initrd: string;
}

/** Override with MICROSTAT_RIG_CACHE. */
export const GUEST_CACHE_DIR =
  process.env.MICROSTAT_RIG_CACHE ?? '/var/cache/microstat-rig';

const ASSET_DIR = join(repoRoot, 'test', 'rig', 'microvm');
const INIT_SCRIPT = join(ASSET_DIR, 'init.sh');
const BUSYBOX = '/bin/busybox';
const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
const APT_TIMEOUT_MS = 300_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * Modules below lib/modules/<version>/kernel that the guest loads, in
 * dependency order (modinfo -F depends): virtio-pci and virtio-fs are
 * modules in the cloud kernel, and without a driver QEMU never hands guest
 * memory to virtiofsd.
 */
const GUEST_MODULES: readonly string[] = [
  'drivers/virtio/virtio_ring',
  'drivers/virtio/virtio',
  'drivers/virtio/virtio_pci_modern_dev',
  'drivers/virtio/virtio_pci_legacy_dev',
  'drivers/virtio/virtio_pci',
  'fs/fuse/fuse',
  'fs/fuse/virtiofs',
];

/** A kernel unpacked into the cache: kernel-<version>/{vmlinuz,modules/}. */
interface CachedKernel {
  readonly version: string;
  readonly dir: string;
  readonly vmlinuz: string;
  readonly modulesDir: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function run(
  file: string,
  args: readonly string[],
  cwd?: string,
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(file, args, {
      cwd,
      timeout: APT_TIMEOUT_MS,
      maxBuffer: MAX_OUTPUT_BYTES,
    });
    return stdout;
  } catch (error: unknown) {
    const stderr =
      typeof error === 'object' && error !== null && 'stderr' in error
        ? String(error.stderr).trim()
        : '';
    throw new Error(`${file} ${args.join(' ')} failed: ${stderr}`, {
      cause: error,
    });
  }
}

function cachedKernel(version: string): CachedKernel {
  const dir = join(GUEST_CACHE_DIR, `kernel-${version}`);
  return {
    version,
    dir,
    vmlinuz: join(dir, 'vmlinuz'),
    modulesDir: join(dir, 'modules'),
  };
}

/** The newest kernel already in the cache, if any. */
async function findCachedKernel(): Promise<CachedKernel | undefined> {
  const names = await readdir(GUEST_CACHE_DIR);
  const versions = names
    .filter((name) => name.startsWith('kernel-'))
    .map((name) => name.slice('kernel-'.length))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  return versions[0] === undefined ? undefined : cachedKernel(versions[0]);
}

/** `linux-image-<version>-cloud-amd64`, as the meta package depends on it. */
async function kernelPackage(): Promise<string> {
  const query = async (): Promise<string | undefined> => {
    const text = await run('apt-cache', ['depends', KERNEL_META_PACKAGE]);
    return /Depends: (linux-image-\S+-cloud-amd64)/.exec(text)?.[1];
  };
  let name = await query().catch(() => undefined);
  if (name === undefined) {
    // A fresh machine may have no package lists yet.
    await run('apt-get', ['update']);
    name = await query();
  }
  if (name === undefined) {
    throw new Error(`apt knows no dependency of ${KERNEL_META_PACKAGE}`);
  }
  return name;
}

/** Downloads the kernel package, keeps vmlinuz and GUEST_MODULES. */
async function fetchKernel(): Promise<CachedKernel> {
  const work = await mkdtemp(join(GUEST_CACHE_DIR, '.fetch-'));
  try {
    // apt drops to the _apt user for downloads; let it write here.
    await chmod(work, 0o777);
    await run('apt-get', ['download', await kernelPackage()], work);
    const deb = (await readdir(work)).find((name) => name.endsWith('.deb'));
    if (deb === undefined) throw new Error('apt-get download left no .deb');
    await run('dpkg', ['-x', join(work, deb), join(work, 'root')]);

    const boot = join(work, 'root', 'boot');
    const image = (await readdir(boot)).find((n) => n.startsWith('vmlinuz-'));
    if (image === undefined) throw new Error(`${deb} holds no boot/vmlinuz-*`);
    const version = image.slice('vmlinuz-'.length);

    const staged = join(work, 'kernel');
    await mkdir(join(staged, 'modules'), { recursive: true });
    await copyFile(join(boot, image), join(staged, 'vmlinuz'));
    const moduleRoot = join(work, 'root', 'lib', 'modules', version, 'kernel');
    for (const module of GUEST_MODULES) {
      const name = module.slice(module.lastIndexOf('/') + 1);
      await copyFile(
        join(moduleRoot, `${module}.ko`),
        join(staged, 'modules', `${name}.ko`),
      );
    }

    const kernel = cachedKernel(version);
    await rename(staged, kernel.dir);
    return kernel;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Lays out the initramfs tree: busybox, /init, the modules and their order. */
async function stageInitramfs(
  root: string,
  kernel: CachedKernel,
): Promise<void> {
  const moduleNames = GUEST_MODULES.map((m) => m.slice(m.lastIndexOf('/') + 1));
  for (const dir of ['bin', 'dev', 'proc', 'sys', 'lib/modules']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
  await symlink('busybox', join(root, 'bin', 'sh'));
  await copyFile(INIT_SCRIPT, join(root, 'init'));
  await chmod(join(root, 'init'), 0o755);
  for (const name of moduleNames) {
    await copyFile(
      join(kernel.modulesDir, `${name}.ko`),
      join(root, 'lib', 'modules', `${name}.ko`),
    );
  }
  await writeFile(
    join(root, 'lib', 'modules', 'load-order'),
    `${moduleNames.join('\n')}\n`,
  );
}

/** Everything that ends up in the initramfs, hashed into its file name. */
async function initramfsKey(kernel: CachedKernel): Promise<string> {
  const hash = createHash('sha256');
  hash.update(kernel.version);
  hash.update(GUEST_MODULES.join(','));
  hash.update(await readFile(INIT_SCRIPT));
  hash.update(await readFile(BUSYBOX));
  return hash.digest('hex').slice(0, 16);
}

async function buildInitramfs(
  kernel: CachedKernel,
  target: string,
): Promise<void> {
  const work = await mkdtemp(join(GUEST_CACHE_DIR, '.initramfs-'));
  try {
    const root = join(work, 'root');
    await stageInitramfs(root, kernel);
    const archive = join(work, 'initramfs.cpio.gz');
    // Sorted and owned by root, so the same inputs give the same archive.
    const script =
      'set -o pipefail; find . -print0 | LC_ALL=C sort -z |' +
      ' cpio --null -o -H newc -R 0:0 --quiet | gzip -9n > "$1"';
    await run('bash', ['-c', script, 'bash', archive], root);
    await rename(archive, target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Returns the cached kernel and initramfs, fetching the kernel with apt and
 * building the initramfs with busybox-static and cpio when missing.
 */
export async function ensureGuestImage(): Promise<GuestImage> {
  await mkdir(GUEST_CACHE_DIR, { recursive: true });
  const kernel = (await findCachedKernel()) ?? (await fetchKernel());

  const initrd = join(
    GUEST_CACHE_DIR,
    `initramfs-${await initramfsKey(kernel)}.cpio.gz`,
  );
  if (!(await exists(initrd))) await buildInitramfs(kernel, initrd);
  return { kernel: kernel.vmlinuz, initrd };
}
