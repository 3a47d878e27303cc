import type { Logger } from '../log.js';
import type { Workload } from '../model.js';
import {
  ContainerdClient,
  criNames,
  type ContainerRecord,
} from '../sources/containerd.js';
import type { NameSource, WorkloadNames } from './names.js';
import { Periodic } from './periodic.js';
import type { WorkloadSource } from './source.js';

/** How often the records are listed again, working or not. */
export const REFRESH_MS = 10_000;
/** A lookup of an unknown id brings the next refresh forward, this far. */
const EAGER_REFRESH_MS = 1000;

export interface ContainerdNamesOptions {
  readonly address: string;
  readonly log: Logger;
}

/**
 * Names Kata sandboxes from containerd's container records, in every
 * namespace: `ctr run --runtime io.containerd.kata.v2 ... test-kata`
 * (namespace `default`), nerdctl, and Kubernetes pods through CRI
 * (`k8s.io`, whose labels give the pod). It contributes no workloads of
 * its own: it is listed among the sources so that its health shows as
 * microstat_collector_success{collector="containerd"}.
 */
export class ContainerdNames implements WorkloadSource, NameSource {
  readonly name = 'containerd';
  private records = new Map<string, ContainerRecord>();
  private ok = false;
  private lastFailure = '';
  private lastRefreshMs = 0;
  private readonly periodic = new Periodic(REFRESH_MS, () => this.load());

  constructor(private readonly options: ContainerdNamesOptions) {}

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
    return this.ok;
  }

  lastError(): string | undefined {
    return this.ok || this.lastFailure === '' ? undefined : this.lastFailure;
  }

  workloads(): Workload[] {
    return [];
  }

  lookup(id: string): WorkloadNames | undefined {
    const record = this.records.get(id);
    if (record === undefined) {
      // Only while containerd answers: a new sandbox is then named within
      // a second, but a containerd that fails is asked once a refresh
      // period, not on every lookup (every tick, for an unnamed sandbox).
      if (this.ok && Date.now() - this.lastRefreshMs > EAGER_REFRESH_MS)
        void this.periodic.run();
      return undefined;
    }
    return namesOf(record);
  }

  private async load(): Promise<void> {
    this.lastRefreshMs = Date.now();
    let client: ContainerdClient | undefined;
    try {
      client = await ContainerdClient.connect(this.options.address);
      const records = new Map<string, ContainerRecord>();
      for (const namespace of await client.namespaces()) {
        for (const record of await client.containers(namespace)) {
          // Docker's own records (namespace moby) are named by Docker.
          if (!records.has(record.id)) records.set(record.id, record);
        }
      }
      this.records = records;
      this.ok = true;
      if (this.lastFailure !== '') {
        this.options.log.info(
          { address: this.options.address },
          'containerd reachable again',
        );
      }
      this.lastFailure = '';
    } catch (error: unknown) {
      const message = error instanceof Error ? error.message : String(error);
      // One warning when containerd starts failing; the retries after it
      // are debug lines even where their wording changes (a missed
      // deadline says how long each step took).
      if (this.lastFailure === '') {
        this.options.log.warn(
          { address: this.options.address, err: message },
          'containerd unreachable; microVMs are reported under their sandbox ids',
        );
      } else {
        this.options.log.debug(
          { address: this.options.address, err: message },
          'containerd still unreachable',
        );
      }
      this.lastFailure = message;
      this.ok = false;
    } finally {
      client?.close();
    }
  }
}

/** How a containerd record names its sandbox. */
export function namesOf(record: ContainerRecord): WorkloadNames {
  const cri = criNames(record.labels);
  const pod =
    cri.podName !== undefined && cri.podNamespace !== undefined
      ? {
          name: cri.podName,
          namespace: cri.podNamespace,
          ...(cri.podUid === undefined ? {} : { uid: cri.podUid }),
          ...(cri.containerName === undefined
            ? {}
            : { container: cri.containerName }),
        }
      : undefined;
  return {
    name: pod === undefined ? record.id : `${pod.namespace}/${pod.name}`,
    image: record.image,
    engine: 'containerd',
    labels: {},
    composeProject: '',
    composeService: '',
    containerdNamespace: record.namespace,
    ...(pod === undefined ? {} : { pod }),
  };
}
