import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from './log.js';

/**
 * Every flag of the agent, in one scheme (node_exporter's dotted names),
 * each mirrored by an environment variable. The defaults below are the only
 * place where host paths such as /proc appear.
 */
export interface Config {
  readonly listenAddress: { readonly host: string; readonly port: number };
  /** exporter-toolkit web config (TLS, basic auth); undefined: none. */
  readonly webConfigFile: string | undefined;
  /** Workloads exported per scrape at most; the rest are counted. */
  readonly maxWorkloads: number;
  readonly procfs: string;
  readonly cgroupfs: string;
  readonly runDir: string;
  readonly dockerHost: string;
  readonly dockerEnabled: boolean;
  readonly kataEnabled: boolean;
  readonly containerdAddress: string;
  readonly containerdEnabled: boolean;
  /** Docker labels copied onto microstat_workload_info, by exact key. */
  readonly dockerLabels: readonly string[];
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

export const DEFAULT_PORT = 8095;
export const DEFAULT_MAX_WORKLOADS = 5000;

export interface FlagSpec {
  /** The long flag without dashes, e.g. `web.listen-address`. */
  readonly flag: string;
  readonly env: string;
  readonly help: string;
  /** Undefined for switches, which default to on. */
  readonly defaultValue: string | undefined;
  readonly choices?: readonly string[];
}

/** Options shared by every command that reads the host. */
export const HOST_FLAGS: readonly FlagSpec[] = [
  {
    flag: 'path.procfs',
    env: 'MICROSTAT_PATH_PROCFS',
    help: 'procfs mount point',
    defaultValue: '/proc',
  },
  {
    flag: 'path.cgroupfs',
    env: 'MICROSTAT_PATH_CGROUPFS',
    help: 'cgroup filesystem root (v1 controllers, v2 or both)',
    defaultValue: '/sys/fs/cgroup',
  },
  {
    flag: 'path.run',
    env: 'MICROSTAT_PATH_RUN',
    help: 'runtime state directory (Kata state lives below it)',
    defaultValue: '/run',
  },
  {
    flag: 'docker.host',
    env: 'MICROSTAT_DOCKER_HOST',
    help: 'Docker Engine API address (unix:// or tcp://); DOCKER_HOST is honoured',
    defaultValue: process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock',
  },
  {
    flag: 'docker.labels',
    env: 'MICROSTAT_DOCKER_LABELS',
    help: 'comma-separated Docker label keys to export as label_<key> on microstat_workload_info',
    defaultValue: '',
  },
  {
    flag: 'containerd.address',
    env: 'MICROSTAT_CONTAINERD_ADDRESS',
    help: "containerd's gRPC socket, for the names of Kata sandboxes",
    defaultValue: '/run/containerd/containerd.sock',
  },
  {
    flag: 'collector.kata',
    env: 'MICROSTAT_COLLECTOR_KATA',
    help: 'discover Kata Containers microVMs (--no-collector.kata to disable)',
    defaultValue: undefined,
  },
  {
    flag: 'collector.containerd',
    env: 'MICROSTAT_COLLECTOR_CONTAINERD',
    help: 'name microVMs from containerd records (--no-collector.containerd to disable)',
    defaultValue: undefined,
  },
  {
    flag: 'collector.docker',
    env: 'MICROSTAT_COLLECTOR_DOCKER',
    help: 'discover Docker containers (--no-collector.docker to disable)',
    defaultValue: undefined,
  },
];

/**
 * Logging flags. The agent logs at info by default; one-shot commands at
 * warn, so that their stderr stays quiet unless something is wrong.
 */
export function logFlags(defaultLevel: LogLevel): FlagSpec[] {
  return [
    {
      flag: 'log.level',
      env: 'MICROSTAT_LOG_LEVEL',
      help: 'only log messages at or above this level',
      defaultValue: defaultLevel,
      choices: LOG_LEVELS,
    },
    {
      flag: 'log.format',
      env: 'MICROSTAT_LOG_FORMAT',
      help: 'log line format',
      defaultValue: 'logfmt',
      choices: LOG_FORMATS,
    },
  ];
}

export const SERVE_FLAGS: readonly FlagSpec[] = [
  {
    flag: 'web.listen-address',
    env: 'MICROSTAT_WEB_LISTEN_ADDRESS',
    help: 'address to serve metrics, API and dashboard on (host:port)',
    defaultValue: `127.0.0.1:${DEFAULT_PORT}`,
  },
  {
    flag: 'web.config.file',
    env: 'MICROSTAT_WEB_CONFIG_FILE',
    help: 'exporter-toolkit web config (TLS, basic auth); empty: plain HTTP, no auth',
    defaultValue: '',
  },
  {
    flag: 'max-workloads',
    env: 'MICROSTAT_MAX_WORKLOADS',
    help: 'export at most this many workloads per scrape, lowest ids first',
    defaultValue: String(DEFAULT_MAX_WORKLOADS),
  },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListenAddress(raw: string): Config['listenAddress'] {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new ConfigError(
      `--web.listen-address: expected host:port, got ${JSON.stringify(raw)}`,
    );
  }
  return {
    host: match[1] ?? (match[2] === '' ? '0.0.0.0' : (match[2] ?? '')),
    port,
  };
}

function parseMaxWorkloads(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || !Number.isSafeInteger(value)) {
    throw new ConfigError(
      `--max-workloads: expected a positive integer, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/**
 * Builds the typed config from parsed option values keyed by flag name
 * (`web.listen-address`, ...). Switches arrive as booleans.
 */
export function buildConfig(
  values: ReadonlyMap<string, string | boolean>,
): Config {
  // A flag missing from `values` takes its default from the tables above.
  const defaults = new Map(
    [...SERVE_FLAGS, ...HOST_FLAGS, ...logFlags('info')].map((f) => [
      f.flag,
      f.defaultValue,
    ]),
  );
  const text = (flag: string): string => {
    const value = values.get(flag) ?? defaults.get(flag);
    if (typeof value !== 'string') {
      throw new ConfigError(`--${flag} needs a value`);
    }
    return value;
  };
  return {
    listenAddress: parseListenAddress(text('web.listen-address')),
    webConfigFile: text('web.config.file') || undefined,
    maxWorkloads: parseMaxWorkloads(text('max-workloads')),
    procfs: text('path.procfs'),
    cgroupfs: text('path.cgroupfs'),
    runDir: text('path.run'),
    dockerHost: text('docker.host'),
    dockerEnabled: values.get('collector.docker') !== false,
    kataEnabled: values.get('collector.kata') !== false,
    containerdAddress: text('containerd.address'),
    containerdEnabled: values.get('collector.containerd') !== false,
    dockerLabels: text('docker.labels')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    logLevel: text('log.level') as LogLevel,
    logFormat: text('log.format') as LogFormat,
  };
}
