import type { Logger } from '../log.js';
import type { Workload, WorkloadBoundStatus } from '../model.js';

/**
 * The cardinality bound of `--max-workloads`: at most `max` workloads are
 * read and exported per reading, the ones with the lowest ids (plain
 * string order), so that which ones stay is the same from one scrape to
 * the next and across agents. The rest are counted, and logged once when
 * dropping starts and once when it stops, not at every reading.
 */
export class WorkloadBound {
  private droppedTotal = 0;
  private dropping = false;

  constructor(
    private readonly max: number,
    private readonly log: Logger,
  ) {}

  /** The workloads to read out of all discovered in this reading. */
  keep(discovered: readonly Workload[]): {
    readonly kept: ReadonlySet<Workload>;
    readonly status: WorkloadBoundStatus;
  } {
    const dropped = Math.max(0, discovered.length - this.max);
    const kept =
      dropped === 0
        ? new Set(discovered)
        : new Set([...discovered].sort(byId).slice(0, this.max));
    this.droppedTotal += dropped;
    this.report(discovered, kept, dropped);
    return {
      kept,
      status: {
        seenWorkloads: discovered.length,
        droppedTotal: this.droppedTotal,
      },
    };
  }

  private report(
    discovered: readonly Workload[],
    kept: ReadonlySet<Workload>,
    dropped: number,
  ): void {
    if (dropped > 0 && !this.dropping) {
      const first = discovered.filter((w) => !kept.has(w)).sort(byId)[0];
      this.log.warn(
        {
          seen: discovered.length,
          max: this.max,
          dropped,
          firstDroppedId: first?.id,
        },
        'more workloads than --max-workloads, exporting the lowest ids only',
      );
    } else if (dropped === 0 && this.dropping) {
      this.log.info(
        { seen: discovered.length, max: this.max },
        'workloads back within --max-workloads',
      );
    }
    this.dropping = dropped > 0;
  }
}

function byId(a: Workload, b: Workload): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
