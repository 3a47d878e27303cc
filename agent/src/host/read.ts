import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Kernel files report a size of 0 or 4096 whatever they hold, so the size
 * is never trusted: read until end of file, up to a cap. One open, one
 * shared buffer, no stat.
 *
 * The reads are synchronous on purpose. /proc and cgroupfs files are made
 * by the kernel from memory when read and never wait on a disk; read
 * through the promise API each one cost about 65 us (three thread-pool
 * round trips and a fresh 64 KiB buffer), read directly about 4 us
 * (README, Performance). Callers that read many files yield to the event loop
 * between workloads, so no single stretch blocks the server for long.
 */
const DEFAULT_CAP_BYTES = 1 << 20;
const CHUNK_BYTES = 64 * 1024;

/**
 * A read may return less than asked before the end: a seq_file (most of
 * /proc and every cgroup file) fills one kernel buffer of a page or more
 * per read and stops before the record that would overflow it. A short
 * read that ends well inside the first page cannot have stopped for that
 * (no record of these files comes near 1 KiB), so it is the end of the
 * file, and the read of 0 bytes that would confirm it is saved: half the
 * read calls of a sample. Longer files are read until a read returns 0.
 */
const SHORT_READ_IS_END_BYTES = 3072;

/** Reused by every read: safe because a read never yields midway. */
const shared = Buffer.allocUnsafe(CHUNK_BYTES);

export function readTextSync(
  path: string,
  capBytes = DEFAULT_CAP_BYTES,
): string {
  const fd = openSync(path, 'r');
  try {
    return readOpenText(fd, capBytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads an open kernel file from its start, whatever was read from it
 * before: every read names its offset (pread), and the kernel builds a
 * /proc or cgroup file afresh when it is read from offset 0. That is what
 * lets a file be held open and read again each sample (host/held-files.ts).
 */
export function readOpenText(fd: number, capBytes = DEFAULT_CAP_BYTES): string {
  const limit = Math.min(CHUNK_BYTES, capBytes);
  let used = 0;
  for (;;) {
    const asked = limit - used;
    const got = readSync(fd, shared, used, asked, used);
    used += got;
    if (got === 0 || (got < asked && used < SHORT_READ_IS_END_BYTES)) {
      return shared.toString('utf8', 0, used);
    }
    if (used === limit) break;
  }
  return used === capBytes
    ? shared.toString('utf8', 0, used)
    : readRest(fd, Buffer.from(shared.subarray(0, used)), capBytes);
}

/** The rare file past one chunk (a large memory.stat or smaps). */
function readRest(fd: number, first: Buffer, capBytes: number): string {
  const chunks = [first];
  let total = first.length;
  while (total < capBytes) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, capBytes - total));
    const got = readSync(fd, buffer, 0, buffer.length, total);
    if (got === 0) break;
    chunks.push(buffer.subarray(0, got));
    total += got;
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** How a reader of kernel files gets one file's text. */
export type ReadText = (path: string) => string;

/** readTextSync behind a promise: errors reject rather than throw. */
export function readText(
  path: string,
  capBytes = DEFAULT_CAP_BYTES,
): Promise<string> {
  return new Promise((resolve) => {
    resolve(readTextSync(path, capBytes));
  });
}

/** Resolves on the next turn of the event loop, after pending I/O. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
