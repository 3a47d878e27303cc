import { open } from 'node:fs/promises';

/**
 * Kernel files report a size of 0 or 4096 whatever they hold, so the size
 * is never trusted: read until end of file, up to a cap. One open, one
 * buffer, no stat.
 */
const DEFAULT_CAP_BYTES = 1 << 20;

export async function readText(
  path: string,
  capBytes = DEFAULT_CAP_BYTES,
): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const chunk = 64 * 1024;
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < capBytes) {
      const buffer = Buffer.allocUnsafe(Math.min(chunk, capBytes - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(
        bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead),
      );
      total += bytesRead;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * True when an error only says that what we read has gone away: a process
 * that exited (ENOENT, ESRCH), a cgroup removed mid-read (ENODEV), a file
 * that exists only on other kernels or controllers. Such reads are normal
 * on a busy host and are skipped, logged at most at debug.
 */
export function isGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === 'ENOENT' ||
    code === 'ESRCH' ||
    code === 'ENODEV' ||
    code === 'ENOTDIR'
  );
}

/** True when an error says we may not read the file (not root, say). */
export function isDenied(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/** Reads a file, or undefined when it is gone. Other errors propagate. */
export async function readTextIfPresent(
  path: string,
): Promise<string | undefined> {
  try {
    return await readText(path);
  } catch (error: unknown) {
    if (isGone(error)) return undefined;
    throw error;
  }
}
