import pLimit from 'p-limit';

import type { Logger } from '../log.js';
import type { Workload } from '../model.js';
import { DockerClient, type DockerContainer } from '../sources/docker.js';
import type { CgroupResolver } from './cgroups.js';
import type { NameSource, WorkloadNames } from './names.js';
import type { WorkloadSource } from './source.js';

const RETRY_MIN_MS = 500;
const INSPECT_CONCURRENCY = 8;
/** The longest wait between two attempts to reach an unreachable daemon. */
export const RETRY_MAX_MS = 5000;

/** Label keys docker compose sets, reported as workload fields. */
const COMPOSE_PROJECT = 'com.docker.compose.project';
const COMPOSE_SERVICE = 'com.docker.compose.service';

export interface DockerDiscoveryOptions {
  readonly host: string;
  readonly resolver: CgroupResolver;
  /** Docker label keys to copy onto the workload, by exact key. */
  readonly labelAllowlist: readonly string[];
  readonly log: Logger;
}

/**
 * Keeps the list of running Docker containers current: lists them once,
 * then follows /events, re-inspecting a container whenever it changes.
 * When the daemon goes away it retries with backoff and lists afresh on
 * reconnect, so containers return within a retry interval of the daemon.
 */
export class DockerDiscovery implements WorkloadSource, NameSource {
  readonly name = 'docker';
  private readonly containers = new Map<string, Workload>();
  /**
   * Containers run with a Kata runtime: each is a microVM, reported by
   * Kata discovery under the same id; Docker only lends it its names.
   */
  private readonly sandboxes = new Map<string, WorkloadNames>();
  private connected = false;
  /** The last connection failure; empty once connected again. */
  private error = '';
  private firstAttempt: Promise<void>;
  private settleFirst: () => void = () => undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: DockerDiscoveryOptions) {
    this.firstAttempt = new Promise((resolve) => {
      this.settleFirst = resolve;
    });
  }

  /** Starts following the daemon in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** Resolves once the first connection attempt listed or failed. */
  ready(): Promise<void> {
    return this.firstAttempt;
  }

  healthy(): boolean {
    return this.connected;
  }

  lastError(): string | undefined {
    return this.connected || this.error === '' ? undefined : this.error;
  }

  workloads(): Workload[] {
    return [...this.containers.values()];
  }

  lookup(id: string): WorkloadNames | undefined {
    return this.sandboxes.get(id);
  }

  private async run(): Promise<void> {
    const { log } = this.options;
    let delay = RETRY_MIN_MS;
    while (!this.abort.signal.aborted) {
      try {
        await this.session();
        delay = RETRY_MIN_MS;
        this.logStreamEnd();
      } catch (error: unknown) {
        const message = error instanceof Error ? error.message : String(error);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        // One warning per outage, at its start. The retries after it fail
        // in changing words (aborted, refused, hang up while the daemon
        // starts), so they are told apart by state, not by message.
        if (this.error === '') {
          log.warn(
            { host: this.options.host, err: message },
            'Docker daemon unreachable',
          );
        } else {
          log.debug(
            { host: this.options.host, err: message, retryInMs: delay },
            'Docker daemon still unreachable',
          );
        }
        this.error = message;
      } finally {
        this.connected = false;
        this.settleFirst();
      }
      await sleep(delay, this.abort.signal);
    }
  }

  /**
   * Info, not a warning: a daemon that restarts ends the stream, and if it
   * is not back at the next attempt, that attempt warns.
   */
  private logStreamEnd(): void {
    if (this.abort.signal.aborted) return;
    this.options.log.info('Docker event stream ended, reconnecting');
  }

  /** One connection: subscribe, list, then apply events until it ends. */
  private async session(): Promise<void> {
    const client = await DockerClient.connect(this.options.host);
    const pending = new Map<string, string>();
    let draining: Promise<void> | undefined;
    const drain = async (): Promise<void> => {
      while (pending.size > 0) {
        const [id, action] = pending.entries().next().value as [string, string];
        pending.delete(id);
        await this.refresh(client, id, action);
      }
      draining = undefined;
    };
    // Subscribe before listing, so nothing that starts in between is missed.
    const events = client.followEvents((event) => {
      pending.set(event.id, event.action);
      draining ??= drain();
    }, this.abort.signal);
    events.catch(() => undefined);

    const ids = await client.listIds();
    const fresh = new Map<string, Workload>();
    const sandboxes = new Map<string, WorkloadNames>();
    // Inspect a few at a time: a host of many containers lists quickly
    // without opening a connection per container at once.
    const limit = pLimit(INSPECT_CONCURRENCY);
    const inspected = await Promise.all(
      ids.map((id) => limit(() => client.inspect(id))),
    );
    for (const container of inspected) {
      if (container === undefined) continue;
      const id = container.id;
      if (runtimeName(container.runtime) === 'kata') {
        sandboxes.set(id, this.names(container));
        continue;
      }
      const workload = await this.toWorkload(container);
      if (workload !== undefined) fresh.set(id, workload);
    }
    this.containers.clear();
    for (const [id, w] of fresh) this.containers.set(id, w);
    this.sandboxes.clear();
    for (const [id, n] of sandboxes) this.sandboxes.set(id, n);
    this.connected = true;
    // The outage, if there was one, is over: the next failure warns again.
    this.error = '';
    this.options.log.info(
      { apiVersion: client.apiVersion, containers: fresh.size },
      'Docker discovery connected',
    );
    this.settleFirst();
    await events;
  }

  private async refresh(
    client: DockerClient,
    id: string,
    action: string,
  ): Promise<void> {
    if (action === 'destroy') {
      this.containers.delete(id);
      this.sandboxes.delete(id);
      return;
    }
    try {
      const container = await client.inspect(id);
      if (
        container !== undefined &&
        runtimeName(container.runtime) === 'kata'
      ) {
        this.sandboxes.set(id, this.names(container));
        return;
      }
      const workload = await this.toWorkload(container);
      if (workload === undefined) this.containers.delete(id);
      else this.containers.set(id, workload);
    } catch (error: unknown) {
      this.options.log.debug(
        { id, err: String(error) },
        'container inspect failed',
      );
    }
  }

  /** A container's names, with only the allow-listed labels. */
  private names(c: DockerContainer): WorkloadNames {
    const labels: Record<string, string> = {};
    for (const key of this.options.labelAllowlist) {
      const value = c.labels[key];
      if (value !== undefined) labels[key] = value;
    }
    return {
      name: c.name,
      image: c.image,
      engine: 'docker',
      labels,
      composeProject: c.labels[COMPOSE_PROJECT] ?? '',
      composeService: c.labels[COMPOSE_SERVICE] ?? '',
    };
  }

  private async toWorkload(
    c: DockerContainer | undefined,
  ): Promise<Workload | undefined> {
    if (c === undefined || !c.running || c.pid <= 0) return undefined;
    const cgroup = await this.options.resolver.forPid(c.pid);
    return {
      id: c.id,
      kind: 'container',
      runtime: runtimeName(c.runtime),
      hypervisor: '',
      state: c.state,
      ...this.names(c),
      initPid: c.pid,
      // A container on the host's network has no traffic of its own.
      ownNetwork: c.networkMode !== 'host',
      cgroup,
    };
  }
}

/**
 * Short runtime names: `io.containerd.kata.v2` and its variants (`kata-fc`,
 * `kata-qemu`) are kata; `io.containerd.runc.v2` is runc.
 */
export function runtimeName(runtime: string): string {
  if (/kata/.test(runtime)) return 'kata';
  const shim = /^io\.containerd\.([^.]+)\.v\d+$/.exec(runtime);
  return shim?.[1] ?? runtime;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
