import './style.css';

import {
  fetchHost,
  followTicks,
  type HistoryWindowSeconds,
  type HostResponse,
  type TickEvent,
} from './api.js';
import { chartData, followTheme } from './charts.js';
import { byId, fillFacts } from './dom.js';
import { binaryBytes } from './format.js';
import { TopCharts } from './overview.js';
import { SeriesStore } from './series.js';
import { WorkloadTable } from './table.js';
import { WorkloadPage } from './workload-page.js';

/**
 * The dashboard: a host header, the workload table and live charts on the
 * overview (#/), one workload's page at #/workload/<id>. Everything live
 * comes from /api/v1/events; history from /api/v1/workloads/:id/history.
 */

const ROUTE = /^#\/workload\/(.+)$/;

let latest: TickEvent | undefined;

const store = new SeriesStore(() => {
  charts.draw();
  page.draw(latest?.takenAtMs);
});
const page = new WorkloadPage(store);
const charts = new TopCharts(
  byId('chart-cpu', HTMLCanvasElement),
  byId('chart-memory', HTMLCanvasElement),
  store,
  () => (page.workloadId === undefined ? [] : [page.workloadId]),
);
const table = new WorkloadTable({
  table: byId('workloads', HTMLTableElement),
  filterText: byId('filter-text', HTMLInputElement),
  filterKind: byId('filter-kind', HTMLSelectElement),
  count: byId('workload-count', HTMLElement),
  open: (id) => {
    location.hash = `#/workload/${encodeURIComponent(id)}`;
  },
});

function route(): void {
  const match = ROUTE.exec(location.hash);
  const id =
    match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  byId('overview', HTMLElement).hidden = id !== undefined;
  byId('workload', HTMLElement).hidden = id === undefined;
  if (id === undefined) {
    page.close();
    charts.retrack();
    return;
  }
  page.open(id, latest);
  charts.retrack();
  byId('workload', HTMLElement).focus();
}

function onTick(event: TickEvent): void {
  latest = event;
  store.append(event);
  table.update(event.workloads);
  charts.update(event);
  page.update(event);
  byId('updated', HTMLElement).textContent =
    `Updated ${new Date(event.takenAtMs).toLocaleTimeString()}`;
}

function showHost(host: HostResponse): void {
  const versions = [
    host.dockerVersion === undefined
      ? undefined
      : `Docker ${host.dockerVersion}`,
    host.kataVersion === undefined ? undefined : `Kata ${host.kataVersion}`,
  ].filter((v) => v !== undefined);
  fillFacts(byId('host-facts', HTMLElement), [
    ['Host', host.hostname],
    ['CPU', cpuText(host)],
    [
      'Memory',
      host.memoryTotalBytes === undefined
        ? undefined
        : binaryBytes(host.memoryTotalBytes),
    ],
    ['OS', host.os],
    ['Kernel', host.kernel],
    [
      'Runtimes',
      versions.length === 0
        ? 'Docker and Kata versions not known'
        : versions.join(', '),
    ],
    ['Agent', host.agentVersion],
  ]);
}

function cpuText(host: HostResponse): string | undefined {
  const count = host.cpus === undefined ? '' : `${host.cpus} x `;
  return host.cpuModel === undefined ? undefined : `${count}${host.cpuModel}`;
}

function loadHost(): void {
  fetchHost().then(showHost, () => undefined);
}

function setConnected(connected: boolean): void {
  const banner = byId('banner', HTMLElement);
  const wasLost = !banner.hidden;
  banner.hidden = connected;
  if (connected && wasLost) loadHost();
}

const windowSelect = byId('window', HTMLSelectElement);
windowSelect.addEventListener('change', () => {
  store.setWindow(Number(windowSelect.value) as HistoryWindowSeconds);
  charts.draw();
  page.draw(latest?.takenAtMs);
});

followTheme(() => {
  table.redraw();
});
window.addEventListener('hashchange', route);
route();
loadHost();
followTicks({ onTick, onConnectionChange: setConnected });

/** For the end-to-end test: what the charts hold, read from the page. */
declare global {
  interface Window {
    __microstat?: { chartData: typeof chartData };
  }
}
window.__microstat = { chartData };
