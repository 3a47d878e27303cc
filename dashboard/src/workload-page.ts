import { cpuPercent, perSecond } from '../../agent/src/sample/rates.js';
import type { LiveWorkloadJson, SeriesName, TickEvent } from './api.js';
import { TimeChart } from './charts.js';
import { byId, el, fillFacts } from './dom.js';
import { binaryBytes, pair, percent } from './format.js';
import { points } from './overview.js';
import { SERIES_INFO, type SeriesStore } from './series.js';

/**
 * The page of one workload (#/workload/<id>): its facts, CPU, memory,
 * network and block I/O over time, and for a microVM its host cost by
 * component beside what the guest itself reports.
 *
 * Component and guest CPU % are computed here, from two consecutive ticks,
 * with the agent's own rates.ts, so they follow docker's formula exactly.
 */

const CHARTS: readonly {
  readonly name: string;
  readonly canvas: string;
  readonly title: string;
  readonly series: readonly SeriesName[];
}[] = [
  {
    name: 'workload-cpu',
    canvas: 'chart-w-cpu',
    title: 'CPU',
    series: ['cpuPercent'],
  },
  {
    name: 'workload-memory',
    canvas: 'chart-w-memory',
    title: 'Memory',
    series: ['memoryBytes'],
  },
  {
    name: 'workload-network',
    canvas: 'chart-w-network',
    title: 'Network',
    series: ['networkReceiveBytesPerSecond', 'networkTransmitBytesPerSecond'],
  },
  {
    name: 'workload-block',
    canvas: 'chart-w-block',
    title: 'Block I/O',
    series: ['blockReadBytesPerSecond', 'blockWriteBytesPerSecond'],
  },
];

/** The guest's CPU time changes only when the agent asks it (every 5 s). */
interface GuestCpu {
  readonly seconds: number;
  readonly atSeconds: number;
}

export class WorkloadPage {
  private id: string | undefined;
  private charts: TimeChart[] = [];
  private previous: TickEvent | undefined;
  private guestCpu: { last?: GuestCpu; percent?: number } = {};

  constructor(private readonly store: SeriesStore) {}

  /** The workload shown, if the page is open. */
  get workloadId(): string | undefined {
    return this.id;
  }

  open(id: string, latest: TickEvent | undefined): void {
    this.id = id;
    this.guestCpu = {};
    this.previous = undefined;
    if (this.charts.length === 0) {
      this.charts = CHARTS.map((c) => {
        const unit = SERIES_INFO[c.series[0] ?? 'cpuPercent'].unit;
        const canvas = byId(c.canvas, HTMLCanvasElement);
        return new TimeChart(c.name, canvas, c.title, unit);
      });
    }
    byId('workload-title', HTMLElement).textContent = id;
    if (latest !== undefined) this.update(latest);
  }

  close(): void {
    this.id = undefined;
  }

  update(event: TickEvent): void {
    const id = this.id;
    if (id === undefined) return;
    const w = event.workloads.find((x) => x.id === id);
    byId('workload-gone', HTMLElement).hidden = w !== undefined;
    if (w !== undefined) {
      this.showFacts(w);
      this.showMicroVm(w, event);
    }
    this.previous = event;
    this.draw(event.takenAtMs);
  }

  draw(nowMs: number = Date.now()): void {
    const id = this.id;
    if (id === undefined) return;
    const series = this.store.get(id);
    CHARTS.forEach((spec, i) => {
      const lines =
        series === undefined
          ? []
          : spec.series.map((name) => ({
              key: name,
              label: SERIES_INFO[name].label,
              points: points(series, name),
            }));
      this.charts[i]?.update(lines, this.store.window, nowMs);
    });
  }

  private showFacts(w: LiveWorkloadJson): void {
    byId('workload-title', HTMLElement).textContent = w.name;
    const labels = Object.entries(w.labels).map(([k, v]) => `${k}=${v}`);
    fillFacts(byId('workload-facts', HTMLElement), [
      ['ID', w.id],
      ['Kind', w.kind],
      ['Runtime', w.runtime],
      ['Engine', w.engine],
      ['Hypervisor', w.hypervisor],
      ['Image', w.image],
      ['State', w.state],
      ['Labels', labels.join(', ')],
      ['CPU', percent(w.rates.cpuPercent)],
      [
        'Memory',
        pair(
          binaryBytes(w.usage.memoryUsageBytes),
          binaryBytes(w.usage.memoryLimitBytes),
        ),
      ],
      ['Configured vCPUs', w.vcpus === undefined ? undefined : String(w.vcpus)],
      [
        'Configured memory',
        w.configuredMemoryBytes === undefined
          ? undefined
          : binaryBytes(w.configuredMemoryBytes),
      ],
      ['Memory summed as', w.memoryMethod?.toUpperCase()],
    ]);
  }

  private showMicroVm(w: LiveWorkloadJson, event: TickEvent): void {
    const section = byId('microvm', HTMLElement);
    section.hidden = w.kind !== 'microvm';
    if (w.kind !== 'microvm') return;
    const before = this.previous?.workloads.find((x) => x.id === w.id);

    const rows = (w.components ?? []).map((c) => {
      const old = before?.components?.find((x) => x.component === c.component);
      const share =
        old === undefined || this.previous === undefined
          ? undefined
          : cpuPercent(
              reading(this.previous, old.cpuSeconds),
              reading(event, c.cpuSeconds),
            );
      const memory =
        c.memoryBytes === undefined
          ? 'in hypervisor'
          : binaryBytes(c.memoryBytes);
      return tableRow(c.component, percent(share), memory);
    });
    byId('components', HTMLTableElement).tBodies[0]?.replaceChildren(...rows);

    this.trackGuestCpu(w, event);
    const guest = w.guest;
    const used =
      guest?.memoryTotalBytes === undefined ||
      guest.memoryAvailableBytes === undefined
        ? undefined
        : guest.memoryTotalBytes - guest.memoryAvailableBytes;
    const guestRows =
      guest === undefined
        ? [tableRow('Guest metrics', 'not available', '')]
        : [
            tableRow('Reachable', guest.up ? 'yes' : 'no', ''),
            tableRow('Memory total', binaryBytes(guest.memoryTotalBytes), ''),
            tableRow('Memory used', binaryBytes(used), 'total minus available'),
            tableRow(
              'Memory available',
              binaryBytes(guest.memoryAvailableBytes),
              '',
            ),
            tableRow('Memory free', binaryBytes(guest.memoryFreeBytes), ''),
            tableRow(
              'CPU busy',
              percent(this.guestCpu.percent),
              '% of one vCPU, over ~5 s',
            ),
          ];
    byId('guest', HTMLTableElement).tBodies[0]?.replaceChildren(...guestRows);
  }

  /** Guest CPU % between the last two distinct guest readings. */
  private trackGuestCpu(w: LiveWorkloadJson, event: TickEvent): void {
    const seconds = w.guest?.cpuSeconds;
    if (seconds === undefined) return;
    const last = this.guestCpu.last;
    if (last !== undefined && last.seconds === seconds) return;
    const now = { seconds, atSeconds: event.monotonicSeconds };
    const rate =
      last === undefined
        ? undefined
        : perSecond(last.seconds, seconds, now.atSeconds - last.atSeconds);
    this.guestCpu = {
      last: now,
      percent: rate === undefined ? this.guestCpu.percent : rate * 100,
    };
  }
}

function reading(
  event: TickEvent,
  cpuSeconds: number,
): Parameters<typeof cpuPercent>[0] {
  return {
    monotonicSeconds: event.monotonicSeconds,
    host: event.host,
    usage: { cpuSeconds },
  };
}

function tableRow(...cells: string[]): HTMLTableRowElement {
  const [head = '', ...rest] = cells;
  const th = el('th', { text: head });
  th.scope = 'row';
  return el('tr', {}, th, ...rest.map((text) => el('td', { text })));
}
