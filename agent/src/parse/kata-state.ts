import { ParseError } from './errors.js';

/**
 * The parts of Kata's per-sandbox state files the agent uses. Both are
 * JSON written by the runtime; unknown fields are ignored and a field of
 * the wrong type is treated as absent, since their layout changes between
 * releases.
 */
export interface KataState {
  readonly hypervisorPid?: number;
  readonly virtiofsdPid?: number;
  readonly hypervisor?: string;
  readonly vcpus?: number;
  /** Guest memory in bytes. */
  readonly memoryBytes?: number;
}

function object(raw: unknown): Record<string, unknown> {
  return typeof raw === 'object' && raw !== null
    ? (raw as Record<string, unknown>)
    : {};
}

function positive(raw: unknown): number | undefined {
  return typeof raw === 'number' && Number.isFinite(raw) && raw > 0
    ? raw
    : undefined;
}

function parseJson(format: string, text: string): Record<string, unknown> {
  try {
    return object(JSON.parse(text));
  } catch {
    throw new ParseError(format, 'not JSON');
  }
}

function compact(
  state: Record<string, number | string | undefined>,
): KataState {
  return Object.fromEntries(
    Object.entries(state).filter(([, v]) => v !== undefined),
  );
}

/**
 * Go runtime: /run/vc/sbs/<id>/persist.json, with `HypervisorState.Pid`,
 * `HypervisorState.VirtiofsDaemonPid` (or top-level in older releases) and
 * the sandbox config's `HypervisorConfig` (`NumVCPUs` or `NumVCPUsF`,
 * `MemorySize` in MiB).
 */
export function parsePersistJson(text: string): KataState {
  const root = parseJson('persist.json', text);
  const hv = object(root['HypervisorState']);
  const config = object(object(root['Config'])['HypervisorConfig']);
  const memoryMiB = positive(config['MemorySize']);
  const type = hv['Type'];
  return compact({
    hypervisorPid: positive(hv['Pid']),
    virtiofsdPid:
      positive(hv['VirtiofsDaemonPid']) ?? positive(root['VirtiofsDaemonPid']),
    hypervisor: typeof type === 'string' && type !== '' ? type : undefined,
    vcpus: positive(config['NumVCPUs']) ?? positive(config['NumVCPUsF']),
    memoryBytes: memoryMiB === undefined ? undefined : memoryMiB * 2 ** 20,
  });
}

/**
 * Rust runtime: /run/kata/<id>/state.json, with `pid`,
 * `virtiofs_daemon_pid` and `hypervisor_type`.
 */
export function parseStateJson(text: string): KataState {
  const root = parseJson('state.json', text);
  const type = root['hypervisor_type'];
  return compact({
    hypervisorPid: positive(root['pid']),
    virtiofsdPid: positive(root['virtiofs_daemon_pid']),
    hypervisor: typeof type === 'string' && type !== '' ? type : undefined,
  });
}
