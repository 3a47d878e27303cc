/**
 * Recognises the host processes of a Kata Containers sandbox from their
 * argv alone (never from `comm`: a Kata shim's comm reads
 * "containerd-shim", the same as a runc shim's). Pure: no /proc access.
 *
 * What each process looks like is summarised in the project's field notes;
 * in short: the shim carries `-id <sandbox>`, QEMU `-name sandbox-<id>`,
 * Cloud Hypervisor an API socket below the sandbox's state directory,
 * Firecracker (and its jailer) `--id` with the id cut to 32 characters,
 * virtiofsd and nydusd the sandbox's shared directory, and the Kata 1.x
 * proxy and shims paths below `vc/sbs/<id>/`.
 */

export type KataRole =
  | 'shim'
  | 'hypervisor'
  | 'jailer'
  | 'virtiofsd'
  | 'nydusd'
  | 'kata-proxy'
  | 'kata-shim'
  | 'other';

export type Hypervisor =
  'qemu' | 'cloud-hypervisor' | 'firecracker' | 'dragonball';

export interface KataProcess {
  readonly role: KataRole;
  /** The sandbox id, or its first 32 characters when `idIsPrefix`. */
  readonly sandboxId: string;
  /** True when only a prefix of the id is known (Firecracker's 32). */
  readonly idIsPrefix: boolean;
  readonly hypervisor?: Hypervisor;
  /** Go runtime (`runtime`) or Rust runtime (`runtime-rs`), when telling. */
  readonly runtime?: 'go' | 'rust';
  /** Boot vCPUs from QEMU's `-smp`. */
  readonly vcpus?: number;
  /** Guest memory from QEMU's `-m`, in bytes. */
  readonly memoryBytes?: number;
  /**
   * True when only a generic flag says so (Firecracker's `--id`): such a
   * process counts as Kata only next to a shim or state directory of the
   * same sandbox, since firecracker-containerd and plain Firecracker VMs
   * use `--id` too.
   */
  readonly unconfirmed?: boolean;
}

const SHIM = /^containerd-shim-kata(?:-[\w.]+)*-v2$/;
const QEMU = /^qemu(?:-[\w.]+)*-system-[\w.]+$|^qemu-kvm$/;
const FIRECRACKER_ID_LENGTH = 32;

/** Directories whose next path element is a sandbox id. */
const SANDBOX_DIRS = [
  /\/vc\/vm\/([^/\s,]+)\//,
  /\/vc\/sbs\/([^/\s,]+)\//,
  /\/kata-containers\/shared\/sandboxes\/([^/\s,]+)(?:[/\s,]|$)/,
];

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The value after a flag: `-flag value`, `--flag value` or `--flag=value`. */
export function flagValue(
  argv: readonly string[],
  ...flags: string[]
): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    for (const flag of flags) {
      if (arg === flag) return argv[i + 1];
      if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    }
  }
  return undefined;
}

/** The sandbox id named by the first Kata state or shared path in argv. */
export function sandboxFromPaths(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    for (const pattern of SANDBOX_DIRS) {
      const id = pattern.exec(arg)?.[1];
      if (id !== undefined && id !== '') return id;
    }
  }
  return undefined;
}

/**
 * Classifies one process by its argv; undefined when it is not part of a
 * Kata sandbox (a runc shim, an unrelated or libvirt QEMU, anything else).
 * Tolerates argv cut short: what cannot be read is simply not reported.
 */
export function classifyKataProcess(
  argv: readonly string[],
): KataProcess | undefined {
  const exe = basename(argv[0] ?? '');
  if (exe === '') return undefined;

  if (SHIM.test(exe)) return shim(argv);
  if (QEMU.test(exe)) return qemu(argv);
  if (exe === 'cloud-hypervisor') return cloudHypervisor(argv);
  if (exe === 'jailer' || exe.startsWith('firecracker'))
    return firecracker(argv, exe);

  const id = sandboxFromPaths(argv);
  if (id === undefined) return undefined;
  return { role: helperRole(exe, argv), sandboxId: id, idIsPrefix: false };
}

function shim(argv: readonly string[]): KataProcess | undefined {
  const id = flagValue(argv, '-id', '--id');
  if (id === undefined || id === '') return undefined;
  // runtime-rs passes -id first; the Go runtime passes it last.
  const runtime =
    argv[1] === '-id' ? 'rust' : argv.includes('-namespace') ? 'go' : undefined;
  return {
    role: 'shim',
    sandboxId: id,
    idIsPrefix: false,
    ...(runtime === undefined ? {} : { runtime }),
  };
}

function qemu(argv: readonly string[]): KataProcess | undefined {
  // `-name sandbox-<id>` or `-name sandbox-<id>,debug-threads=on`; libvirt
  // passes `-name guest=<vm>,...` and plain VMs anything else.
  const name = flagValue(argv, '-name')?.split(',')[0];
  const id =
    name?.startsWith('sandbox-') === true
      ? name.slice('sandbox-'.length)
      : undefined;
  if (id === undefined || id === '') return undefined;
  const vcpus = parseSmp(flagValue(argv, '-smp'));
  const memoryBytes = parseQemuMemory(flagValue(argv, '-m'));
  return {
    role: 'hypervisor',
    sandboxId: id,
    idIsPrefix: false,
    hypervisor: 'qemu',
    ...(vcpus === undefined ? {} : { vcpus }),
    ...(memoryBytes === undefined ? {} : { memoryBytes }),
  };
}

function cloudHypervisor(argv: readonly string[]): KataProcess | undefined {
  // `--api-socket <path>` or `--api-socket path=<path>`: Go runtime
  // /run/vc/vm/<id>/clh-api.sock, Rust runtime /run/kata/<id>/ch-api.sock.
  const socket = flagValue(argv, '--api-socket')
    ?.replace(/^path=/, '')
    .split(',')[0];
  if (socket === undefined) return undefined;
  const rust = /\/kata\/([^/]+)\/ch-api\.sock$/.exec(socket)?.[1];
  const id = rust ?? sandboxFromPaths([socket]);
  if (id === undefined) return undefined;
  return {
    role: 'hypervisor',
    sandboxId: id,
    idIsPrefix: false,
    hypervisor: 'cloud-hypervisor',
    runtime: rust === undefined ? 'go' : 'rust',
  };
}

function firecracker(
  argv: readonly string[],
  exe: string,
): KataProcess | undefined {
  // Kata gives Firecracker and its jailer the sandbox id cut to 32
  // characters, and keeps its files below vc/<binary>/<id32>/root/.
  const fromPath = /\/vc\/[^/]+\/([^/]{1,32})\/root\//.exec(
    argv.join(' '),
  )?.[1];
  const id = flagValue(argv, '--id') ?? fromPath;
  if (id === undefined || id === '') return undefined;
  // Kata's jailer chroots below its state directory (/run/vc).
  const kataPath =
    fromPath !== undefined ||
    /\/vc\/?$/.test(flagValue(argv, '--chroot-base-dir') ?? '');
  return {
    role: exe === 'jailer' ? 'jailer' : 'hypervisor',
    sandboxId: id,
    idIsPrefix: id.length >= FIRECRACKER_ID_LENGTH,
    hypervisor: 'firecracker',
    ...(kataPath ? {} : { unconfirmed: true }),
  };
}

function helperRole(exe: string, argv: readonly string[]): KataRole {
  if (exe.includes('virtiofsd')) return 'virtiofsd';
  if (exe.includes('nydusd')) return 'nydusd';
  if (exe === 'kata-proxy' || exe === 'kata-shim') return exe;
  // A daemon started with the shared directory but an unusual name is
  // still the sandbox's file server in all likelihood.
  return argv.some((a) => a.includes('/shared/sandboxes/'))
    ? 'virtiofsd'
    : 'other';
}

/** Boot vCPUs from `-smp 2,cores=1,...,maxcpus=8` (or `-smp cpus=2`). */
export function parseSmp(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const first = raw.split(',')[0] ?? '';
  const value = first.startsWith('cpus=') ? first.slice(5) : first;
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

const UNIT: Record<string, number> = {
  '': 2 ** 20,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** Guest memory from `-m 2048M,slots=10,maxmem=...` (or `size=2G`); MiB when bare. */
export function parseQemuMemory(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const first = raw.split(',')[0] ?? '';
  const match = /^(?:size=)?(\d+)([KMGT]?)[bB]?$/i.exec(first);
  if (match === null) return undefined;
  const unit = UNIT[(match[2] ?? '').toUpperCase()] ?? 2 ** 20;
  return Number(match[1]) * unit;
}
