import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

import {
  detectLayout,
  readCgroupCounters,
} from '../agent/src/host/cgroupfs.js';
import { HeldFiles } from '../agent/src/host/held-files.js';
import { ProcFs } from '../agent/src/host/procfs.js';
import { isDenied, isGone, readTextSync } from '../agent/src/host/read.js';
import type { CgroupLocation, Controller } from '../agent/src/model.js';
import { fixed, markdownTable, median, writeResult } from './measure.js';

/**
 * Scenario d: the cost of reading the kernel's own files, which the
 * generated hosts of scenario a (regular files on tmpfs) cannot show. On
 * this host's real cgroup tree it makes empty cgroups and reads each one's
 * counters the way the sampler does, once opening, reading and closing
 * every file and once through files held open (host/held-files.ts); then
 * the same for the /proc files of the running processes. Also the kernel
 * memory a held cgroup file costs: slab and vmalloc before and after
 * holding every file of the made cgroups. Needs root to make cgroups;
 * cleans up after itself.
 */

export interface KernelFilesOptions {
  readonly cgroups: number;
  readonly rounds: number;
}

interface Row {
  readonly files: string;
  readonly count: number;
  readonly plainMicros: number;
  readonly heldMicros: number;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
const PREFIX = 'microstat-bench-';
const V1_CONTROLLERS: readonly Controller[] = [
  'cpu',
  'cpuacct',
  'memory',
  'pids',
  'blkio',
];

export async function runKernelFiles(
  options: KernelFilesOptions,
): Promise<Row[]> {
  const rows: Row[] = [];
  const made = await makeCgroups(options.cgroups);
  let kernelMemory: KernelMemory | undefined;
  try {
    if (made.locations.length > 0) {
      kernelMemory = heldKernelMemory(made.locations);
      rows.push(
        measure(
          `cgroup counters (${made.mode}), per cgroup`,
          made.locations.length,
          options.rounds,
          (read) => {
            for (const location of made.locations)
              readCgroupCounters(location, read);
          },
        ),
      );
    }
  } finally {
    for (const dir of made.dirs.reverse()) rmdirSync(dir);
  }
  const procFiles = readableProcFiles();
  rows.push(
    measure(
      '/proc/<pid>/{stat,io,net/dev}, per file',
      procFiles.length,
      options.rounds,
      (read) => {
        for (const path of procFiles) {
          try {
            read(path);
          } catch (error: unknown) {
            if (!isGone(error)) throw error;
          }
        }
      },
    ),
  );

  console.log('\n### Kernel files: opened each time against held open\n');
  console.log(
    markdownTable(
      ['files', 'count', 'us each, open-read-close', 'us each, held', 'ratio'],
      rows.map((r) => [
        r.files,
        r.count,
        fixed(r.plainMicros),
        fixed(r.heldMicros),
        `${fixed(r.plainMicros / r.heldMicros, 1)}x`,
      ]),
    ),
  );
  if (kernelMemory !== undefined) {
    console.log(
      `\nKernel memory (Slab + VmallocUsed) while ${String(kernelMemory.files)} ` +
        `cgroup files were held: ${fixed(kernelMemory.bytesPerFile / 1024)} KiB a file`,
    );
  }
  await writeResult('kernel-files', { options, rows, kernelMemory });
  return rows;
}

interface KernelMemory {
  readonly files: number;
  readonly bytesPerFile: number;
}

/** What holding every counter file of the given cgroups costs the kernel. */
function heldKernelMemory(locations: readonly CgroupLocation[]): KernelMemory {
  const procfs = new ProcFs('/proc');
  const kernelBytes = (): number => {
    const meminfo = procfs.meminfo();
    return (meminfo.get('Slab') ?? 0) + (meminfo.get('VmallocUsed') ?? 0);
  };
  const held = new HeldFiles();
  const before = kernelBytes();
  for (const location of locations)
    readCgroupCounters(location, (path) => held.read(path));
  const after = kernelBytes();
  const files = held.size;
  held.close();
  return { files, bytesPerFile: (after - before) / files };
}

/**
 * Times `pass` over all its files with each reader, `rounds` times, and
 * returns the median microseconds per item (cgroup or file).
 */
function measure(
  files: string,
  count: number,
  rounds: number,
  pass: (read: (path: string) => string) => void,
): Row {
  const held = new HeldFiles();
  const heldRead = (path: string): string => held.read(path);
  const plain: number[] = [];
  const holding: number[] = [];
  pass(heldRead);
  for (let round = 0; round < rounds; round++) {
    for (const [read, into] of [
      [readTextSync, plain],
      [heldRead, holding],
    ] as const) {
      const start = performance.now();
      for (let i = 0; i < 100; i++) pass(read);
      into.push(((performance.now() - start) * 1000) / (100 * count));
    }
  }
  held.close();
  return {
    files,
    count,
    plainMicros: median(plain),
    heldMicros: median(holding),
  };
}

/** Empty cgroups made for the run, and how to read each. */
async function makeCgroups(n: number): Promise<{
  mode: string;
  dirs: string[];
  locations: CgroupLocation[];
}> {
  const layout = await detectLayout(CGROUP_ROOT);
  const dirs: string[] = [];
  const locations: CgroupLocation[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `${PREFIX}${String(process.pid)}-${String(i)}`;
      if (layout.v1.size > 0) {
        const perController: Partial<Record<Controller, string>> = {};
        for (const controller of V1_CONTROLLERS) {
          const mount = layout.v1.get(controller);
          if (mount === undefined) continue;
          const dir = join(mount, name);
          if (!dirs.includes(dir)) {
            mkdirSync(dir);
            dirs.push(dir);
          }
          perController[controller] = dir;
        }
        locations.push({ version: 1, dirs: perController });
      } else if (layout.unified !== undefined) {
        const dir = join(layout.unified, name);
        mkdirSync(dir);
        dirs.push(dir);
        locations.push({ version: 2, dir });
      }
    }
  } catch (error: unknown) {
    console.error(`kernel files: cannot make cgroups here (${String(error)})`);
    for (const dir of dirs.reverse()) rmdirSync(dir);
    return { mode: 'none', dirs: [], locations: [] };
  }
  return {
    mode: layout.v1.size > 0 ? 'v1' : 'v2',
    dirs,
    locations,
  };
}

/** The stat, io and net/dev files of every process we may read. */
function readableProcFiles(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    for (const file of ['stat', 'io', 'net/dev']) {
      const path = `/proc/${pid}/${file}`;
      try {
        readTextSync(path);
        out.push(path);
      } catch (error: unknown) {
        if (!isGone(error) && !isDenied(error)) throw error;
      }
    }
  }
  return out;
}
