import type { Workload } from '../model.js';

/**
 * Something that knows which workloads exist: Docker, containerd, the Kata
 * sandboxes on this host. Sources keep their lists current in the
 * background; reading them is cheap and never waits on a daemon.
 */
export interface WorkloadSource {
  /** The collector name in microstat_collector_success{collector}. */
  readonly name: string;
  start(): void;
  stop(): Promise<void>;
  /** Resolves once the first discovery attempt finished, either way. */
  ready(): Promise<void>;
  /** Whether the source's last attempt to reach its daemon worked. */
  healthy(): boolean;
  /** Why the last attempt failed, while unhealthy. */
  lastError(): string | undefined;
  workloads(): Workload[];
}
