import type { Config } from '../config.js';
import { cgroupDirs, readCgroupPids } from '../host/cgroupfs.js';
import { createLogger } from '../log.js';
import { identityOf, type Workload, type WorkloadIdentity } from '../model.js';
import { openHost } from './host.js';
import { renderTable } from './table.js';

/** One line of `microstat ls --format json`. */
export interface ListedWorkload extends WorkloadIdentity {
  /** Host pids that belong to the workload. */
  readonly pids: number[];
  /** Cgroup directories the workload's figures are read from. */
  readonly cgroups: string[];
  /** microVMs: each host process and the component it is booked to. */
  readonly components?: { pid: number; component: string; role: string }[];
}

export type ListFormat = 'table' | 'json';

/** `microstat ls`: the discovered workloads, once. */
export async function ls(config: Config, format: ListFormat): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  const host = openHost(config, log);
  host.start();
  await host.ready();
  const listed: ListedWorkload[] = [];
  for (const source of host.sources) {
    for (const w of source.workloads()) listed.push(describe(w));
  }
  await host.stop();

  listed.sort((a, b) => a.name.localeCompare(b.name));
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    renderTable(
      [
        'ID',
        'NAME',
        'KIND',
        'RUNTIME',
        'ENGINE',
        'IMAGE',
        'HYPERVISOR',
        'PIDS',
      ],
      listed.map((w) => [
        w.id.slice(0, 12),
        w.name,
        w.kind,
        w.runtime,
        w.engine,
        w.image,
        w.hypervisor === '' ? '-' : w.hypervisor,
        String(w.pids.length),
      ]),
    ),
  );
}

function describe(w: Workload): ListedWorkload {
  if (w.microvm !== undefined) {
    return {
      ...identityOf(w),
      pids: w.microvm.processes.map((p) => p.pid),
      cgroups: w.microvm.cgroups.flatMap(cgroupDirs),
      components: w.microvm.processes.map(({ pid, component, role }) => ({
        pid,
        component,
        role,
      })),
    };
  }
  const pids = w.cgroup === undefined ? [] : readCgroupPids(w.cgroup);
  return {
    ...identityOf(w),
    pids: pids.sort((a, b) => a - b),
    cgroups: w.cgroup === undefined ? [] : cgroupDirs(w.cgroup),
  };
}
