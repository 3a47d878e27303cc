/* eslint-disable @typescript-eslint/no-deprecated --
 * The SDK marks the classic dashboard schema deprecated in favour of
 * dashboardv2, which only Grafana 12 reads; file provisioning in the Grafana
 * 11 of docker-compose.yml reads the classic JSON built here. */
import {
  BigValueColorMode,
  BigValueGraphMode,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  RowBuilder,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';

import {
  DATASOURCE,
  ON_INSTANCE,
  datasourceVariable,
  instanceVariable,
  instantQuery,
  query,
  stacked,
  timeseries,
} from './common.js';
import { WORKLOAD_UID } from './workload.js';

/**
 * The host overview: every workload of the selected hosts, containers
 * beside microVMs, the heaviest ones by CPU and memory, and the agents'
 * own health. Built on the recording rules of
 * prometheus/rules/microstat.rules.yml.
 */

export const OVERVIEW_UID = 'microstat-overview';

const LEGEND_WORKLOAD = '{{name}} ({{kind}}) on {{instance}}';

function stat(
  title: string,
  unit: string,
  expr: string,
  legend = '',
): StatBuilder {
  return new StatBuilder()
    .title(title)
    .datasource(DATASOURCE)
    .unit(unit)
    .graphMode(BigValueGraphMode.Area)
    .colorMode(BigValueColorMode.None)
    .withTarget(query(expr, legend))
    .height(4)
    .span(4);
}

function summaryStats(): StatBuilder[] {
  const hostCpus = `sum(microstat_host_cpus{${ON_INSTANCE}})`;
  const hostMemory = `sum(microstat_host_memory_bytes{${ON_INSTANCE}})`;
  return [
    stat('Hosts', 'short', `count(microstat_host_cpus{${ON_INSTANCE}})`),
    stat(
      'Workloads by kind',
      'short',
      `count by (kind) (microstat_workload_info{${ON_INSTANCE}})`,
      '{{kind}}',
    ),
    stat('Host CPUs', 'short', hostCpus),
    stat(
      'Workload CPU of host CPUs',
      'percentunit',
      `sum(instance_kind:microstat_workload_cpu_seconds:sum_rate1m` +
        `{${ON_INSTANCE}}) / ${hostCpus}`,
    ),
    stat(
      'Workload memory of host memory',
      'percentunit',
      `sum(instance_kind:microstat_workload_memory_usage_bytes:sum` +
        `{${ON_INSTANCE}}) / ${hostMemory}`,
    ),
    stat(
      'Failing collectors',
      'short',
      `count(microstat_collector_success{${ON_INSTANCE}} == 0) or vector(0)`,
    ),
  ];
}

function byKind(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'CPU by kind',
      'short',
      'CPU cores kept busy on the hosts, containers beside microVMs ' +
        '(a microVM counts its VMM, vCPUs, virtiofsd and shim).',
    )
      .axisLabel('cores')
      .stacking(stacked())
      .withTarget(
        query(
          'sum by (kind) (instance_kind:microstat_workload_cpu_seconds' +
            `:sum_rate1m{${ON_INSTANCE}})`,
          '{{kind}}',
        ),
      )
      .span(12),
    timeseries(
      'Memory by kind',
      'bytes',
      'Host memory of containers (as docker stats counts it) and microVMs ' +
        '(PSS of all their processes).',
    )
      .stacking(stacked())
      .withTarget(
        query(
          'sum by (kind) (instance_kind:microstat_workload_memory_usage_bytes' +
            `:sum{${ON_INSTANCE}})`,
          '{{kind}}',
        ),
      )
      .span(12),
  ];
}

function topWorkloads(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'Top 10 by CPU',
      'short',
      'The ten workloads keeping the most CPU cores busy.',
    )
      .axisLabel('cores')
      .withTarget(
        query(
          `topk(10, workload:microstat_workload_cpu_seconds:rate1m` +
            `{${ON_INSTANCE}})`,
          LEGEND_WORKLOAD,
        ),
      )
      .span(8),
    timeseries(
      'Top 10 by memory',
      'bytes',
      'The ten workloads using the most host memory.',
    )
      .withTarget(
        query(
          `topk(10, microstat_workload_memory_usage_bytes{${ON_INSTANCE}})`,
          LEGEND_WORKLOAD,
        ),
      )
      .span(8),
    timeseries(
      'Top 10 by memory of limit',
      'percentunit',
      'Memory usage over the limit docker stats shows (guest memory for a ' +
        'microVM, host memory when unlimited).',
    )
      .max(1)
      .withTarget(
        query(
          `topk(10, workload:microstat_workload_memory_usage_per_limit:ratio` +
            `{${ON_INSTANCE}})`,
          LEGEND_WORKLOAD,
        ),
      )
      .span(8),
  ];
}

/** The columns of the workload table: query, header and unit. */
const TABLE_COLUMNS = [
  ['workload:microstat_workload_cpu_seconds:rate1m', 'CPU cores', 'short'],
  ['microstat_workload_memory_usage_bytes', 'Memory', 'bytes'],
  [
    'workload:microstat_workload_memory_usage_per_limit:ratio',
    'Memory of limit',
    'percentunit',
  ],
  ['microstat_workload_pids', 'PIDs', 'short'],
] as const;

function workloadTable(): TableBuilder {
  const refIds = ['A', 'B', 'C', 'D'];
  const table = new TableBuilder()
    .title('All workloads')
    .description('Latest figures of every workload; the id opens its page.')
    .datasource(DATASOURCE)
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, job: true, __name__: true },
        indexByName: { name: 0, kind: 1, instance: 2, id: 3 },
      },
    })
    .overrideByName('id', [
      {
        id: 'links',
        value: [
          {
            title: 'Open workload',
            url:
              `/d/${WORKLOAD_UID}/microstat-workload?var-workload=` +
              '${__value.raw}&var-instance=${__data.fields.instance}&${__url_time_range}',
          },
        ],
      },
    ])
    .height(10)
    .span(24);
  TABLE_COLUMNS.forEach(([metric, header, unit], index) => {
    const refId = refIds[index] ?? 'A';
    table
      .withTarget(
        instantQuery(`${metric}{${ON_INSTANCE}}`, refId).format(
          PromQueryFormat.Table,
        ),
      )
      .overrideByName(`Value #${refId}`, [
        { id: 'displayName', value: header },
        { id: 'unit', value: unit },
      ]);
  });
  return table;
}

function agentHealth(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'Workload CPU per host',
      'short',
      'CPU cores busy in workloads, per host.',
    )
      .axisLabel('cores')
      .withTarget(
        query(
          'sum by (instance) (instance_kind:microstat_workload_cpu_seconds' +
            `:sum_rate1m{${ON_INSTANCE}})`,
          '{{instance}}',
        ),
      )
      .span(12),
    timeseries(
      'Collector duration',
      's',
      'How long each collector of each agent took in its last collection.',
    )
      .withTarget(
        query(
          `microstat_collector_duration_seconds{${ON_INSTANCE}}`,
          '{{collector}} on {{instance}}',
        ),
      )
      .span(12),
  ];
}

export function overviewDashboard(): Dashboard {
  const builder = new DashboardBuilder('microstat / Hosts')
    .uid(OVERVIEW_UID)
    .description('Every container and Kata microVM on the selected hosts.')
    .tags(['microstat'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(instanceVariable())
    .link(
      new DashboardLinkBuilder('microstat')
        .type(DashboardLinkType.Dashboards)
        .tags(['microstat'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    );

  builder.withRow(new RowBuilder('Hosts'));
  for (const panel of summaryStats()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('Containers beside microVMs'));
  for (const panel of byKind()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('Top workloads'));
  for (const panel of topWorkloads()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('All workloads'));
  builder.withPanel(workloadTable());
  builder.withRow(new RowBuilder('Agents'));
  for (const panel of agentHealth()) builder.withPanel(panel);
  return builder.build();
}
