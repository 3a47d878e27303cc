import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';

import { readOpenText, readTextSync } from './read.js';

/**
 * At most this many files are held open, whatever the descriptor limit.
 * Each held /proc or cgroup file keeps a kernel read buffer and its file
 * structures, 5.3-5.6 KiB measured (bench scenario d), charged to the
 * agent's memory cgroup: 4,096 files cost about 22 MiB and cover some 600
 * containers; past that, files are read the ordinary way, so that a dense
 * host cannot push the agent over a container memory limit.
 */
export const MAX_HELD_FILES = 4096;

/**
 * Descriptors left for everything else the agent opens: listening and
 * client sockets, the Docker and containerd connections, one-off reads.
 */
const RESERVED_DESCRIPTORS = 1024;

/**
 * Keeps the kernel files that every sample reads open between samples and
 * reads them again from offset 0, instead of an open and a close per file
 * per second. The open was the costliest step of a sample: a path walk
 * through the cgroup or /proc tree and, for a cgroup file, a fresh kernel
 * read buffer each time (README, Performance).
 *
 * What a held file tells when its subject is gone is what a fresh open
 * would: a cgroup removed answers ENODEV, an exited process ESRCH, and the
 * error is passed on after the file is closed. A network namespace stays
 * alive while its net/dev is held, which is why every file not read
 * during one sample is closed by the next `sweep()`: nothing outlives its
 * workload by more than a sample.
 *
 * A stored file (a fixture tree, the benchmark's generated host) keeps its
 * content after it is deleted, so a held one is checked before each read:
 * once unlinked, it is opened again by its path, which finds the file
 * written in its place or says it is gone. Kernel files store nothing
 * (they occupy no blocks) and need no such check.
 *
 * Past the budget, files are read the ordinary way. When the process runs
 * out of descriptors anyway (EMFILE, ENFILE), every held file is let go
 * and the budget halved, so holding files never starves the server.
 */
export class HeldFiles {
  private readonly held = new Map<string, Held>();
  private generation = 0;

  constructor(private budget = heldFileBudget()) {}

  /** Files held open now. */
  get size(): number {
    return this.held.size;
  }

  /** The file's whole text, read through a held descriptor where allowed. */
  read(path: string): string {
    const entry = this.held.get(path);
    if (entry !== undefined && !(entry.stored && unlinked(entry.fd))) {
      entry.generation = this.generation;
      try {
        return readOpenText(entry.fd);
      } catch (error: unknown) {
        this.release(path, entry.fd);
        throw error;
      }
    }
    // A stored file deleted or replaced since it was opened: by its path.
    if (entry !== undefined) this.release(path, entry.fd);
    if (this.held.size >= this.budget) return readTextSync(path);
    const fd = this.open(path);
    if (fd === undefined) return readTextSync(path);
    try {
      const stored = fstatSync(fd).blocks > 0;
      this.held.set(path, { fd, generation: this.generation, stored });
      return readOpenText(fd);
    } catch (error: unknown) {
      this.release(path, fd);
      throw error;
    }
  }

  /** Closes every file not read since the last sweep. */
  sweep(): void {
    for (const [path, entry] of this.held)
      if (entry.generation !== this.generation) this.release(path, entry.fd);
    this.generation += 1;
  }

  /** Closes every held file. */
  close(): void {
    for (const [path, entry] of this.held) this.release(path, entry.fd);
  }

  private open(path: string): number | undefined {
    try {
      return openSync(path, 'r');
    } catch (error: unknown) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'EMFILE' && code !== 'ENFILE') throw error;
      this.budget = Math.floor(this.held.size / 2);
      this.close();
      return undefined;
    }
  }

  private release(path: string, fd: number): void {
    this.held.delete(path);
    try {
      closeSync(fd);
    } catch {
      // Closing a descriptor of a vanished file cannot fail in a way that
      // matters; the descriptor is gone either way.
    }
  }
}

interface Held {
  readonly fd: number;
  generation: number;
  /** On a disk or tmpfs, not made by the kernel when read. */
  readonly stored: boolean;
}

/**
 * How many files to hold given the agent's own /proc/self/limits: its soft
 * descriptor limit (which Node raises to the hard limit at start) less a
 * reserve, at most MAX_HELD_FILES; 0 when the limit is unknown. This is
 * the agent's own process, not the monitored host, so it is read at the
 * real /proc whatever --path.procfs says.
 */
export function heldFileBudget(
  limitsText: string | undefined = ownLimits(),
): number {
  const line = limitsText
    ?.split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return 0;
  if (soft === 'unlimited') return MAX_HELD_FILES;
  const limit = Number(soft);
  if (!Number.isSafeInteger(limit)) return 0;
  return Math.max(0, Math.min(MAX_HELD_FILES, limit - RESERVED_DESCRIPTORS));
}

/** Whether an open file has been deleted (an fstat that fails counts). */
function unlinked(fd: number): boolean {
  try {
    return fstatSync(fd).nlink === 0;
  } catch {
    return true;
  }
}

function ownLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}
