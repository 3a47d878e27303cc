/* eslint-disable @typescript-eslint/no-deprecated --
 * The SDK marks the classic dashboard schema deprecated in favour of
 * dashboardv2, which only Grafana 12 reads; file provisioning in the Grafana
 * 11 of docker-compose.yml reads the classic JSON built here. */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { format } from 'prettier';

import { overviewDashboard } from './overview.js';
import { workloadDashboard } from './workload.js';

/**
 * The one list of generated dashboards, and how each becomes the JSON file
 * committed under grafana/dashboards/ (formatted as prettier formats JSON,
 * so `prettier --check` and the generator agree byte for byte).
 */

export interface GeneratedDashboard {
  /** File name below grafana/dashboards/. */
  readonly file: string;
  readonly build: () => Dashboard;
}

export const DASHBOARDS: readonly GeneratedDashboard[] = [
  { file: 'microstat-overview.json', build: overviewDashboard },
  { file: 'microstat-workload.json', build: workloadDashboard },
];

export async function renderDashboard(dashboard: Dashboard): Promise<string> {
  return format(JSON.stringify(dashboard), { parser: 'json' });
}
