import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { Logger } from '../log.js';
import { dockerVersion } from './docker.js';

/**
 * What the dashboard's header says about the host: CPU model, OS, kernel,
 * and the Docker and Kata versions where they can be had.
 *
 * systeminformation's cpu() and osInfo() read /proc/cpuinfo, /etc/os-release
 * and run lscpu and friends: 25 ms and 45 ms on the CI machine, so they run
 * once, on the first request that wants them, never on a tick. The module
 * itself is loaded then too: it costs 9 MiB of resident memory that an
 * agent only ever scraped by Prometheus does not need. The facts describe
 * the machine the agent runs on, not a --path.procfs root.
 */

const execFileAsync = promisify(execFile);

const DOCKER_TIMEOUT_MS = 2000;
/** An unreachable daemon is asked again at most this often. */
const DOCKER_RETRY_MS = 30_000;
const KATA_TIMEOUT_MS = 2000;

export interface HostInfo {
  readonly hostname?: string;
  readonly cpuModel?: string;
  readonly physicalCores?: number;
  /** Distribution and release, e.g. "Debian GNU/Linux 12 (bookworm)". */
  readonly os?: string;
  readonly kernel?: string;
  readonly arch?: string;
  readonly dockerVersion?: string;
  readonly dockerApiVersion?: string;
  readonly kataVersion?: string;
}

export interface HostInfoOptions {
  /** The Docker host to ask for its version; undefined to not ask. */
  readonly dockerHost: string | undefined;
  readonly log: Logger;
}

interface DockerVersion {
  readonly dockerVersion?: string;
  readonly dockerApiVersion?: string;
}

/** Reads the static facts once and the Docker version until it is known. */
export class HostInfoReader {
  private machine: Promise<HostInfo> | undefined;
  private kata: Promise<string | undefined> | undefined;
  private docker: DockerVersion = {};
  private dockerAskedAtMs = Number.NEGATIVE_INFINITY;
  private dockerInflight: Promise<void> | undefined;

  constructor(private readonly options: HostInfoOptions) {}

  /** Starts the cheap one-time reads (Kata and Docker versions). */
  start(): void {
    this.kata ??= kataVersion();
    void this.refreshDocker();
  }

  async info(): Promise<HostInfo> {
    this.start();
    this.machine ??= this.readMachine();
    if (this.docker.dockerVersion === undefined) await this.refreshDocker();
    const [machine, kata] = await Promise.all([this.machine, this.kata]);
    return { ...machine, ...this.docker, kataVersion: kata };
  }

  private async readMachine(): Promise<HostInfo> {
    const start = performance.now();
    try {
      const { default: si } = await import('systeminformation');
      const [cpu, os] = await Promise.all([si.cpu(), si.osInfo()]);
      this.options.log.debug(
        { durationSeconds: (performance.now() - start) / 1000 },
        'host facts read',
      );
      return {
        hostname: os.hostname || undefined,
        cpuModel: cpuModel(cpu.manufacturer, cpu.brand),
        physicalCores: cpu.physicalCores || undefined,
        os: osName(os.distro, os.release, os.codename),
        kernel: os.kernel || undefined,
        arch: os.arch || undefined,
      };
    } catch (error: unknown) {
      this.options.log.warn({ err: String(error) }, 'host facts unreadable');
      return {};
    }
  }

  /** Asks the daemon's /version unless asked recently. */
  private refreshDocker(): Promise<void> {
    const host = this.options.dockerHost;
    if (host === undefined) return Promise.resolve();
    if (Date.now() - this.dockerAskedAtMs < DOCKER_RETRY_MS) {
      return this.dockerInflight ?? Promise.resolve();
    }
    this.dockerAskedAtMs = Date.now();
    this.dockerInflight = askDocker(host).then(
      (version) => {
        this.docker = version;
      },
      (error: unknown) => {
        this.options.log.debug({ err: String(error) }, 'no Docker version');
      },
    );
    return this.dockerInflight;
  }
}

async function askDocker(host: string): Promise<DockerVersion> {
  const version = await dockerVersion(host, DOCKER_TIMEOUT_MS);
  return {
    dockerVersion: version.version,
    dockerApiVersion: version.apiVersion,
  };
}

/** The Kata version the runtime on PATH reports, if there is one. */
async function kataVersion(): Promise<string | undefined> {
  for (const command of ['kata-runtime', 'containerd-shim-kata-v2']) {
    try {
      const { stdout } = await execFileAsync(command, ['--version'], {
        timeout: KATA_TIMEOUT_MS,
      });
      const version = parseKataVersion(stdout);
      if (version !== undefined) return version;
    } catch {
      // Not installed, or not answering: try the next one.
    }
  }
  return undefined;
}

/**
 * The version in `kata-runtime --version` ("kata-runtime  : 3.2.0") or the
 * shim's ("... version: 3.2.0, commit: ..."); undefined when neither shape.
 */
export function parseKataVersion(text: string): string | undefined {
  const match =
    /^kata-runtime\s*:\s*(\S+)/m.exec(text) ??
    /version:\s*([^\s,]+)/.exec(text);
  return match?.[1];
}

function cpuModel(manufacturer: string, brand: string): string | undefined {
  const model = [manufacturer, brand].filter((s) => s !== '').join(' ');
  return model === '' ? undefined : model;
}

function osName(
  distro: string,
  release: string,
  codename: string,
): string | undefined {
  if (distro === '') return undefined;
  const withRelease = release === '' ? distro : `${distro} ${release}`;
  return codename === '' ? withRelease : `${withRelease} (${codename})`;
}
