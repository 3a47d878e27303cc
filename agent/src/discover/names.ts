import type { PodRef, Workload } from '../model.js';

/**
 * Who a sandbox is, from whoever created it: Docker (a container run with
 * a Kata runtime has the sandbox's id), containerd (`ctr run`, nerdctl,
 * Kubernetes through CRI). Discovery of microVMs asks each source in turn.
 */
export interface WorkloadNames {
  readonly name: string;
  readonly image: string;
  readonly engine: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly composeProject: string;
  readonly composeService: string;
  readonly containerdNamespace?: string;
  readonly pod?: PodRef;
}

export interface NameSource {
  /** Names for a workload id; undefined when this source does not know it. */
  lookup(id: string): WorkloadNames | undefined;
}

/** The workload with the first names any source has for its id. */
export function applyNames(
  workload: Workload,
  sources: readonly NameSource[],
): Workload {
  for (const source of sources) {
    const names = source.lookup(workload.id);
    if (names !== undefined) return { ...workload, ...names };
  }
  return workload;
}
