import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { repoRoot } from './paths.js';

/**
 * Reads the committed dashboards (grafana/dashboards/*.json) the way Grafana
 * would, and lists the PromQL they run: every panel target and every query
 * variable, with template variables still in place.
 */

export const DASHBOARD_DIR = join(repoRoot, 'grafana', 'dashboards');

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

export interface VariableQuery {
  readonly dashboard: string;
  readonly name: string;
  readonly query: string;
  readonly multi: boolean;
  readonly includeAll: boolean;
  readonly allValue: string | undefined;
}

export interface DashboardQueries {
  readonly uid: string;
  readonly panels: readonly PanelQuery[];
  readonly variables: readonly VariableQuery[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function dashboardQueries(
  file: string,
  json: unknown,
): DashboardQueries {
  if (!isRecord(json)) throw new Error(`${file}: not a JSON object`);
  const panels: PanelQuery[] = [];
  for (const panel of records(json['panels'])) {
    for (const target of records(panel['targets'])) {
      panels.push({
        dashboard: file,
        panel: text(panel['title']),
        refId: text(target['refId']),
        expr: text(target['expr']),
      });
    }
  }

  const templating = isRecord(json['templating']) ? json['templating'] : {};
  const variables = records(templating['list'])
    .filter((variable) => variable['type'] === 'query')
    .map((variable) => ({
      dashboard: file,
      name: text(variable['name']),
      query: text(variable['query']),
      multi: variable['multi'] === true,
      includeAll: variable['includeAll'] === true,
      allValue:
        typeof variable['allValue'] === 'string'
          ? variable['allValue']
          : undefined,
    }));
  return { uid: text(json['uid']), panels, variables };
}

export async function readDashboard(file: string): Promise<DashboardQueries> {
  const body = await readFile(join(DASHBOARD_DIR, file), 'utf8');
  return dashboardQueries(file, JSON.parse(body));
}

/** Replaces `$name` and `${name}` by the given values. */
export function substitute(
  expr: string,
  values: Readonly<Record<string, string>>,
): string {
  return expr.replace(
    /\$\{?(\w+)\}?/g,
    (whole, name: string) => values[name] ?? whole,
  );
}
