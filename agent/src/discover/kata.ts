import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { readCgroupPids } from '../host/cgroupfs.js';
import type { ProcFs } from '../host/procfs.js';
import {
  isDenied,
  isGone,
  readTextIfPresent,
  yieldToEventLoop,
} from '../host/read.js';
import type { Logger } from '../log.js';
import type { CgroupLocation, MicroVmProcess, Workload } from '../model.js';
import {
  classifyKataProcess,
  type Hypervisor,
  type KataProcess,
  type KataRole,
} from '../parse/kata-process.js';
import {
  parsePersistJson,
  parseStateJson,
  type KataState,
} from '../parse/kata-state.js';
import type { CgroupResolver } from './cgroups.js';
import { applyNames, type NameSource } from './names.js';
import { Periodic } from './periodic.js';
import type { WorkloadSource } from './source.js';

const DEFAULT_INTERVAL_MS = 2000;
/** argv read between two turns of the event loop on a first pass. */
const READ_BATCH = 256;
/** How deep below the shim to look for helper processes. */
const CHILD_DEPTH = 3;
/** Threads of a shim that hosts a Dragonball VMM (runtime-rs). */
/** Binaries a state file may name as the hypervisor or the file server. */
const HYPERVISOR_EXE = /^(qemu.*|cloud-hypervisor|firecracker.*|jailer)$/;
const FILE_SERVER_EXE = /virtiofsd|nydusd/;
const DRAGONBALL_THREAD = /^(vmm_master|db_vcpu\d+)$/;

export interface KataDiscoveryOptions {
  readonly procfs: ProcFs;
  /** The run directory (`--path.run`) holding Kata's state directories. */
  readonly runDir: string;
  readonly resolver: CgroupResolver;
  readonly names: readonly NameSource[];
  readonly log: Logger;
  readonly intervalMs?: number;
}

/** What one process looked like when last read. */
interface SeenProcess {
  readonly exe: string;
  readonly kata: KataProcess | undefined;
  /**
   * Read on two passes in a row with the same result. A process caught
   * between fork and exec still shows its parent's argv, so a first
   * reading is not trusted until a second one agrees.
   */
  readonly settled: boolean;
}

/** A sandbox's state directory and what its state file said. */
interface StateDir {
  readonly prefix: string;
  readonly runtime: 'go' | 'rust';
  readonly state: KataState;
}

/** Working set of one sandbox during a scan. */
interface Group {
  id: string;
  readonly pids: Map<number, KataRole>;
  hypervisor?: Hypervisor;
  runtime?: 'go' | 'rust';
  vcpus?: number;
  memoryBytes?: number;
  idIsPrefix: boolean;
  /** Whether anything but a generic `--id` flag ties it to Kata. */
  confirmed: boolean;
}

/**
 * Finds every Kata sandbox on the host and its processes: from /proc
 * (argv of every process, read once per new pid), from Kata's state
 * directories under the run directory (the Go runtime's vc/sbs and vc/vm,
 * the Rust runtime's kata/, rootless prefixes below user/<uid>/run), from
 * the shim's children and from the sandbox's own cgroups.
 */
export class KataDiscovery implements WorkloadSource {
  readonly name = 'kata';
  private readonly seen = new Map<number, SeenProcess>();
  private readonly states = new Map<string, StateDir>();
  private readonly sandboxCgroups = new Map<string, CgroupLocation[]>();
  private readonly dragonball = new Set<string>();
  private sandboxes: Workload[] = [];
  /** Why the last scan failed; undefined while scans work. */
  private error: string | undefined;
  /** Whether a state path closed to this user has been logged. */
  private deniedLogged = false;
  private readonly periodic: Periodic;

  constructor(private readonly options: KataDiscoveryOptions) {
    this.periodic = new Periodic(
      options.intervalMs ?? DEFAULT_INTERVAL_MS,
      () => this.tick(),
    );
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  ready(): Promise<void> {
    return this.periodic.ready();
  }

  healthy(): boolean {
    return this.error === undefined;
  }

  lastError(): string | undefined {
    return this.error;
  }

  workloads(): Workload[] {
    return this.sandboxes.map((w) => applyNames(w, this.options.names));
  }

  private async tick(): Promise<void> {
    try {
      this.sandboxes = await this.scan();
      this.error = undefined;
    } catch (error: unknown) {
      // Logged when discovery starts failing, not on every retry.
      if (this.error === undefined) {
        this.options.log.warn({ err: String(error) }, 'Kata discovery failed');
      }
      this.error = error instanceof Error ? error.message : String(error);
    }
  }

  /** One full pass over the host; returns the sandboxes found. */
  async scan(): Promise<Workload[]> {
    const live = await this.readProcesses();
    const groups = this.groupByArgv();
    await this.addFromStateDirs(groups, live);
    mergePrefixes(groups);

    const workloads: Workload[] = [];
    for (const group of groups.values()) {
      // A Firecracker known only by its --id may not be Kata's at all.
      if (!group.confirmed) continue;
      this.addChildren(group, live);
      this.detectDragonball(group);
      const cgroups = await this.cgroupsOf(group);
      this.addCgroupMembers(group, cgroups, live);
      workloads.push(this.toWorkload(group, cgroups));
    }
    this.forget(new Set(workloads.map((w) => w.id)));
    return workloads.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Drops what was cached for sandboxes that are gone. */
  private forget(current: ReadonlySet<string>): void {
    for (const id of this.sandboxCgroups.keys()) {
      if (!current.has(id)) this.sandboxCgroups.delete(id);
    }
    for (const id of this.dragonball)
      if (!current.has(id)) this.dragonball.delete(id);
  }

  /** Lists /proc and reads the argv of processes not settled yet. */
  private async readProcesses(): Promise<Set<number>> {
    const { procfs } = this.options;
    const live = new Set(await procfs.pids());
    for (const pid of this.seen.keys())
      if (!live.has(pid)) this.seen.delete(pid);

    const unsettled = [...live].filter(
      (pid) => this.seen.get(pid)?.settled !== true,
    );
    for (const [index, pid] of unsettled.entries()) {
      // A first pass over a busy host reads thousands of argv: let the
      // server in between.
      if (index > 0 && index % READ_BATCH === 0) await yieldToEventLoop();
      try {
        const argv = procfs.cmdline(pid);
        const exe = basename(argv[0] ?? '');
        const before = this.seen.get(pid);
        this.seen.set(pid, {
          exe,
          kata: classifyKataProcess(argv),
          settled: before?.exe === exe,
        });
      } catch (error: unknown) {
        if (!isGone(error)) throw error;
        live.delete(pid);
      }
    }
    return live;
  }

  private groupByArgv(): Map<string, Group> {
    const groups = new Map<string, Group>();
    for (const [pid, { kata }] of this.seen) {
      if (kata === undefined) continue;
      const group = groupFor(groups, kata.sandboxId, kata.idIsPrefix);
      group.pids.set(pid, kata.role);
      if (kata.unconfirmed !== true) group.confirmed = true;
      group.hypervisor ??= kata.hypervisor;
      group.runtime ??= kata.runtime;
      group.vcpus ??= kata.vcpus;
      group.memoryBytes ??= kata.memoryBytes;
    }
    return groups;
  }

  /**
   * Kata's state directories name the hypervisor and virtiofsd pids even
   * when their argv says nothing (Cloud Hypervisor's is one flag long).
   */
  private async addFromStateDirs(
    groups: Map<string, Group>,
    live: Set<number>,
  ): Promise<void> {
    const found = new Set<string>();
    for (const prefix of await this.runPrefixes()) {
      for (const [runtime, dir] of [
        ['go', join(prefix, 'vc', 'sbs')],
        ['rust', join(prefix, 'kata')],
      ] as const) {
        for (const id of await this.unlessDenied(listDir(dir), [])) {
          found.add(id);
          // Read again until a live hypervisor pid is known: the directory
          // exists before the runtime writes persist.json into it.
          const pid = this.states.get(id)?.state.hypervisorPid;
          const stale = pid === undefined || !live.has(pid);
          if (stale)
            this.states.set(id, {
              prefix,
              runtime,
              state: await this.unlessDenied(
                readState(prefix, runtime, id),
                {},
              ),
            });
        }
      }
    }
    for (const id of this.states.keys())
      if (!found.has(id)) this.states.delete(id);

    for (const [id, { runtime, state }] of this.states) {
      const hypervisorPid = this.vouched(
        state.hypervisorPid,
        id,
        live,
        HYPERVISOR_EXE,
      );
      const virtiofsdPid = this.vouched(
        state.virtiofsdPid,
        id,
        live,
        FILE_SERVER_EXE,
      );
      const pids = [hypervisorPid, virtiofsdPid].filter(
        (pid) => pid !== undefined,
      );
      if (pids.length === 0 && !groups.has(id)) continue;
      const group = groupFor(groups, id, false);
      group.confirmed = true;
      group.runtime ??= runtime;
      group.vcpus ??= state.vcpus;
      group.memoryBytes ??= state.memoryBytes;
      group.hypervisor ??= hypervisorName(state.hypervisor);
      if (hypervisorPid !== undefined && !group.pids.has(hypervisorPid)) {
        group.pids.set(hypervisorPid, 'hypervisor');
      }
      if (virtiofsdPid !== undefined && !group.pids.has(virtiofsdPid)) {
        group.pids.set(virtiofsdPid, 'virtiofsd');
      }
    }
  }

  /**
   * A pid from a state file, if it still belongs to the sandbox: alive,
   * and either placed in this sandbox by its argv or running a binary of
   * the expected kind. A leftover state file must not adopt an unrelated
   * process that got the pid later.
   */
  private vouched(
    pid: number | undefined,
    id: string,
    live: ReadonlySet<number>,
    exe: RegExp,
  ): number | undefined {
    if (pid === undefined || !live.has(pid)) return undefined;
    const seen = this.seen.get(pid);
    if (seen === undefined) return undefined;
    if (seen.kata !== undefined)
      return seen.kata.sandboxId === id ? pid : undefined;
    return exe.test(seen.exe) ? pid : undefined;
  }

  /**
   * Kata keeps its state for root (persist.json is 0640, rootless state
   * lives in 0700 directories). Sandboxes are still found from their
   * processes, so a state path this user may not read counts as absent,
   * and is logged once for the agent's life rather than on every scan.
   */
  private async unlessDenied<T>(read: Promise<T>, absent: T): Promise<T> {
    try {
      return await read;
    } catch (error: unknown) {
      if (!isDenied(error)) throw error;
      if (!this.deniedLogged) {
        this.options.log.info(
          { err: error instanceof Error ? error.message : String(error) },
          'Kata state not readable by this user; sandboxes are found from their processes alone',
        );
        this.deniedLogged = true;
      }
      return absent;
    }
  }

  /** The run directory and every rootless one below user/<uid>/run. */
  private async runPrefixes(): Promise<string[]> {
    const { runDir } = this.options;
    const users = await this.unlessDenied(listDir(join(runDir, 'user')), []);
    return [runDir, ...users.map((uid) => join(runDir, 'user', uid, 'run'))];
  }

  /** Processes below the shim that argv alone did not place: helpers. */
  private addChildren(group: Group, live: Set<number>): void {
    let frontier = [...group.pids]
      .filter(([, role]) => role === 'shim')
      .map(([pid]) => pid);
    for (let depth = 0; depth < CHILD_DEPTH && frontier.length > 0; depth++) {
      const next: number[] = [];
      for (const pid of frontier) {
        for (const child of this.childrenOf(pid)) {
          if (!live.has(child) || group.pids.has(child)) continue;
          const seen = this.seen.get(child);
          if (seen?.kata !== undefined && seen.kata.sandboxId !== group.id)
            continue;
          group.pids.set(
            child,
            seen?.kata?.role ?? helperRole(seen?.exe ?? ''),
          );
          next.push(child);
        }
      }
      frontier = next;
    }
  }

  private childrenOf(pid: number): number[] {
    try {
      return this.options.procfs.children(pid);
    } catch (error: unknown) {
      if (isGone(error)) return [];
      throw error;
    }
  }

  /** runtime-rs's built-in VMM runs as threads of the shim. */
  private detectDragonball(group: Group): void {
    if (group.hypervisor !== undefined && group.hypervisor !== 'dragonball')
      return;
    if ([...group.pids.values()].includes('hypervisor')) return;
    const shim = [...group.pids].find(([, role]) => role === 'shim')?.[0];
    if (shim === undefined) return;
    if (!this.dragonball.has(group.id)) {
      const { procfs } = this.options;
      try {
        for (const tid of procfs.tasks(shim)) {
          if (DRAGONBALL_THREAD.test(procfs.taskStat(shim, tid).comm)) {
            this.dragonball.add(group.id);
            break;
          }
        }
      } catch (error: unknown) {
        if (!isGone(error)) throw error;
      }
    }
    if (this.dragonball.has(group.id)) group.hypervisor = 'dragonball';
  }

  /**
   * The sandbox's host cgroups (kata_<id>, kata_overhead/<id>), from the
   * /proc/<pid>/cgroup of its shim and hypervisor. Where argv showed only
   * a cut-off id, the cgroup's full id replaces it.
   */
  private async cgroupsOf(group: Group): Promise<CgroupLocation[]> {
    const cached = this.sandboxCgroups.get(group.id);
    if (cached !== undefined) return cached;
    const argvId = group.id;
    const { procfs, resolver } = this.options;
    const locations = new Map<string, CgroupLocation>();
    for (const [pid, role] of group.pids) {
      if (role !== 'shim' && role !== 'hypervisor') continue;
      let memberships;
      try {
        memberships = procfs.cgroups(pid);
      } catch (error: unknown) {
        if (isGone(error)) continue;
        throw error;
      }
      for (const m of memberships) {
        const full = kataCgroupId(m.path, group.id);
        if (full === undefined) continue;
        if (full !== group.id) group.id = full;
        const location = await resolver.resolve([m]);
        if (location !== undefined)
          locations.set(JSON.stringify(location), location);
      }
    }
    const result = [...locations.values()];
    this.sandboxCgroups.set(group.id, result);
    // Found again next pass under the id argv shows.
    if (argvId !== group.id) this.sandboxCgroups.set(argvId, result);
    return result;
  }

  /** Processes in the sandbox's cgroups that nothing else placed. */
  private addCgroupMembers(
    group: Group,
    cgroups: readonly CgroupLocation[],
    live: Set<number>,
  ): void {
    for (const location of cgroups) {
      for (const pid of readCgroupPids(location)) {
        if (!live.has(pid) || group.pids.has(pid)) continue;
        const seen = this.seen.get(pid);
        group.pids.set(pid, seen?.kata?.role ?? helperRole(seen?.exe ?? ''));
      }
    }
  }

  private toWorkload(group: Group, cgroups: CgroupLocation[]): Workload {
    const processes: MicroVmProcess[] = [...group.pids]
      .map(([pid, role]) => ({ pid, role, component: componentOf(role) }))
      .sort((a, b) => a.pid - b.pid);
    const hypervisorPid =
      group.hypervisor === 'dragonball'
        ? processes.find((p) => p.role === 'shim')?.pid
        : processes.find((p) => p.role === 'hypervisor')?.pid;
    const guestSocket = this.guestSocket(group);
    return {
      id: group.id,
      name: group.id,
      kind: 'microvm',
      runtime: 'kata',
      engine: 'kata',
      image: '',
      hypervisor: group.hypervisor ?? '',
      state: hypervisorPid === undefined ? 'no-hypervisor' : 'running',
      labels: {},
      composeProject: '',
      composeService: '',
      initPid: hypervisorPid,
      ownNetwork: true,
      cgroup: undefined,
      microvm: {
        processes,
        cgroups,
        ...(group.vcpus === undefined ? {} : { vcpus: group.vcpus }),
        ...(group.memoryBytes === undefined
          ? {}
          : { memoryBytes: group.memoryBytes }),
        ...(guestSocket === undefined ? {} : { guestSocket }),
      },
    };
  }

  /**
   * The shim's monitoring socket, only where a scrape is safe: the Go
   * runtime always; the Rust runtime only with Dragonball or Cloud
   * Hypervisor, since its shim panics on a metrics request with QEMU or
   * Firecracker and takes the sandbox down (kata-containers#13708).
   */
  private guestSocket(group: Group): string | undefined {
    const dir = this.states.get(group.id);
    if (dir === undefined) return undefined;
    if (dir.runtime === 'go')
      return join(dir.prefix, 'vc', 'sbs', group.id, 'shim-monitor.sock');
    if (
      group.hypervisor === 'dragonball' ||
      group.hypervisor === 'cloud-hypervisor'
    ) {
      return join(dir.prefix, 'kata', group.id, 'shim-monitor.sock');
    }
    return undefined;
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function groupFor(
  groups: Map<string, Group>,
  id: string,
  idIsPrefix: boolean,
): Group {
  let group = groups.get(id);
  if (group === undefined) {
    group = { id, pids: new Map(), idIsPrefix, confirmed: false };
    groups.set(id, group);
  }
  return group;
}

/**
 * Firecracker knows only the first 32 characters of the id: fold such a
 * group into the one whose full id starts with them.
 */
function mergePrefixes(groups: Map<string, Group>): void {
  for (const [key, group] of groups) {
    if (!group.idIsPrefix) continue;
    const full = [...groups.values()].find(
      (g) => !g.idIsPrefix && g.id !== group.id && g.id.startsWith(group.id),
    );
    if (full === undefined) continue;
    for (const [pid, role] of group.pids) {
      if (!full.pids.has(pid)) full.pids.set(pid, role);
    }
    full.hypervisor ??= group.hypervisor;
    groups.delete(key);
  }
}

/** The full sandbox id in a Kata cgroup path that starts with `id`. */
export function kataCgroupId(path: string, id: string): string | undefined {
  for (const segment of path.split('/')) {
    const full = segment.startsWith('kata_')
      ? segment.slice('kata_'.length)
      : undefined;
    if (full !== undefined && full !== 'overhead' && full.startsWith(id))
      return full;
  }
  const overhead = /\/kata_overhead\/([^/]+)/.exec(path)?.[1];
  return overhead?.startsWith(id) === true ? overhead : undefined;
}

function helperRole(exe: string): KataRole {
  if (exe.includes('virtiofsd')) return 'virtiofsd';
  if (exe.includes('nydusd')) return 'nydusd';
  return 'other';
}

/** Where a process's cost is booked. */
export function componentOf(role: KataRole): MicroVmProcess['component'] {
  switch (role) {
    case 'shim':
    case 'kata-shim':
      return 'shim';
    case 'hypervisor':
    case 'jailer':
      return 'hypervisor';
    case 'virtiofsd':
    case 'nydusd':
      return 'virtiofsd';
    case 'kata-proxy':
    case 'other':
      return 'other';
  }
}

function hypervisorName(raw: string | undefined): Hypervisor | undefined {
  if (raw === undefined) return undefined;
  const name = raw.toLowerCase();
  if (name.includes('qemu')) return 'qemu';
  if (name.includes('cloud') || name === 'clh' || name === 'ch')
    return 'cloud-hypervisor';
  if (name.includes('firecracker') || name === 'fc') return 'firecracker';
  if (name.includes('dragonball')) return 'dragonball';
  return undefined;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error: unknown) {
    if (isGone(error)) return [];
    throw error;
  }
}

/** What a sandbox's state files say; a broken file counts as empty. */
async function readState(
  prefix: string,
  runtime: 'go' | 'rust',
  id: string,
): Promise<KataState> {
  try {
    if (runtime === 'rust') {
      const text = await readTextIfPresent(
        join(prefix, 'kata', id, 'state.json'),
      );
      return text === undefined ? {} : parseStateJson(text);
    }
    const persist = await readTextIfPresent(
      join(prefix, 'vc', 'sbs', id, 'persist.json'),
    );
    const fromPersist = persist === undefined ? {} : parsePersistJson(persist);
    const pidFile = await readTextIfPresent(
      join(prefix, 'vc', 'vm', id, 'pid'),
    );
    const pid = pidFile === undefined ? undefined : Number(pidFile.trim());
    return pid !== undefined && Number.isInteger(pid) && pid > 0
      ? { ...fromPersist, hypervisorPid: pid }
      : fromPersist;
  } catch (error: unknown) {
    if (error instanceof Error && error.name === 'ParseError') return {};
    throw error;
  }
}
