/* eslint-disable @typescript-eslint/no-deprecated --
 * The SDK marks the classic dashboard schema deprecated in favour of
 * dashboardv2, which only Grafana 12 reads; file provisioning in the Grafana
 * 11 of docker-compose.yml reads the classic JSON built here. */
import {
  DashboardBuilder,
  DashboardCursorSync,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
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

/**
 * One workload in detail: what it is, its CPU against its limit, memory,
 * for a microVM the split over its host processes and the guest's own view
 * beside the host's, then network and block I/O.
 */

export const WORKLOAD_UID = 'microstat-workload';

/** The selector of every query on this page. */
const SEL = `${ON_INSTANCE}, id="$workload"`;

function workloadVariable(): QueryVariableBuilder {
  const definition = `label_values(microstat_workload_info{${ON_INSTANCE}}, id)`;
  return new QueryVariableBuilder('workload')
    .label('Workload id')
    .datasource(DATASOURCE)
    .query(definition)
    .definition(definition)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
}

function infoTable(): TableBuilder {
  return new TableBuilder()
    .title('Workload')
    .datasource(DATASOURCE)
    .withTarget(
      instantQuery(`microstat_workload_info{${SEL}}`).format(
        PromQueryFormat.Table,
      ),
    )
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true, Value: true, __name__: true, job: true },
      },
    })
    .height(4)
    .span(24);
}

function cpuPanels(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'CPU against its limit',
      'short',
      'Host CPU cores the workload keeps busy, and the most it can use: ' +
        "its CPU quota (a microVM's vCPUs), or the host CPUs without one.",
    )
      .axisLabel('cores')
      .withTarget(
        query(`workload:microstat_workload_cpu_seconds:rate1m{${SEL}}`, 'used'),
      )
      .withTarget(
        query(
          `workload:microstat_workload_cpu_limit:cores{${SEL}}`,
          'limit',
          'B',
        ),
      )
      .span(12),
    timeseries(
      'CPU by component',
      'short',
      'For a microVM: CPU cores of its hypervisor, vCPU threads, virtiofsd ' +
        'and shim on the host.',
    )
      .axisLabel('cores')
      .stacking(stacked())
      .withTarget(
        query(
          'microvm_component:microstat_microvm_component_cpu_seconds:rate1m' +
            `{${SEL}}`,
          '{{component}}',
        ),
      )
      .span(12),
  ];
}

function memoryPanels(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'Memory',
      'bytes',
      'Usage as docker stats shows it, its anonymous and page cache parts, ' +
        'and the limit.',
    )
      .withTarget(
        query(`microstat_workload_memory_usage_bytes{${SEL}}`, 'usage'),
      )
      .withTarget(
        query(`microstat_workload_memory_rss_bytes{${SEL}}`, 'rss', 'B'),
      )
      .withTarget(
        query(`microstat_workload_memory_cache_bytes{${SEL}}`, 'cache', 'C'),
      )
      .withTarget(
        query(`microstat_workload_memory_limit_bytes{${SEL}}`, 'limit', 'D'),
      )
      .span(12),
    timeseries(
      'Memory by component',
      'bytes',
      'For a microVM: PSS of each of its host processes, so guest RAM ' +
        'mapped by both QEMU and virtiofsd counts once.',
    )
      .stacking(stacked())
      .withTarget(
        query(
          `microstat_microvm_component_memory_bytes{${SEL}}`,
          '{{component}}',
        ),
      )
      .span(12),
  ];
}

function guestPanels(): ReturnType<typeof timeseries>[] {
  return [
    timeseries(
      'Guest memory and host footprint',
      'bytes',
      "The guest's own view (used, total) beside what the microVM holds on " +
        'the host, and the difference: the host overhead.',
    )
      .withTarget(
        query(
          `microstat_workload_memory_usage_bytes{${SEL}}`,
          'host footprint',
        ),
      )
      .withTarget(
        query(
          `microstat_microvm_guest_memory_used_bytes{${SEL}}`,
          'guest used',
          'B',
        ),
      )
      .withTarget(
        query(
          `microstat_microvm_guest_memory_total_bytes{${SEL}}`,
          'guest total',
          'C',
        ),
      )
      .withTarget(
        query(
          'microvm:microstat_microvm_memory_overhead_bytes:host_minus_guest_used' +
            `{${SEL}}`,
          'host overhead',
          'D',
        ),
      )
      .span(12),
    timeseries(
      'Guest CPU and host CPU',
      'short',
      'CPU busy inside the guest beside what the whole microVM costs the ' +
        'host; the gap is the VMM, virtiofsd and the shim.',
    )
      .axisLabel('cores')
      .withTarget(
        query(
          `rate(microstat_microvm_guest_cpu_seconds_total{${SEL}}` +
            '[$__rate_interval])',
          'guest busy',
        ),
      )
      .withTarget(
        query(
          `workload:microstat_workload_cpu_seconds:rate1m{${SEL}}`,
          'host footprint',
          'B',
        ),
      )
      .span(12),
    timeseries(
      'Guest reachable',
      'short',
      '1 while the guest answers through the shim monitoring socket.',
    )
      .max(1)
      .withTarget(query(`microstat_microvm_guest_up{${SEL}}`, 'guest up'))
      .height(5)
      .span(24),
  ];
}

function ioPanels(): ReturnType<typeof timeseries>[] {
  const rate = (metric: string): string =>
    `rate(${metric}{${SEL}}[$__rate_interval])`;
  return [
    timeseries(
      'Network',
      'Bps',
      'Bytes per second on its network interfaces, loopback left out.',
    )
      .withTarget(
        query(
          rate('microstat_workload_network_receive_bytes_total'),
          'receive',
        ),
      )
      .withTarget(
        query(
          rate('microstat_workload_network_transmit_bytes_total'),
          'transmit',
          'B',
        ),
      )
      .span(8),
    timeseries('Block I/O', 'Bps', 'Bytes per second read and written.')
      .withTarget(
        query(rate('microstat_workload_block_read_bytes_total'), 'read'),
      )
      .withTarget(
        query(rate('microstat_workload_block_write_bytes_total'), 'write', 'B'),
      )
      .span(8),
    timeseries('PIDs', 'short', 'Processes and threads, and the pids limit.')
      .withTarget(query(`microstat_workload_pids{${SEL}}`, 'pids'))
      .withTarget(query(`microstat_workload_pids_limit{${SEL}}`, 'limit', 'B'))
      .span(8),
  ];
}

export function workloadDashboard(): Dashboard {
  const builder = new DashboardBuilder('microstat / Workload')
    .uid(WORKLOAD_UID)
    .description('One container or Kata microVM in detail.')
    .tags(['microstat'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .withVariable(datasourceVariable())
    .withVariable(instanceVariable())
    .withVariable(workloadVariable());

  builder.withRow(new RowBuilder('Workload'));
  builder.withPanel(infoTable());
  builder.withRow(new RowBuilder('CPU'));
  for (const panel of cpuPanels()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('Memory'));
  for (const panel of memoryPanels()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('Guest view (microVMs)'));
  for (const panel of guestPanels()) builder.withPanel(panel);
  builder.withRow(new RowBuilder('Network and block I/O'));
  for (const panel of ioPanels()) builder.withPanel(panel);
  return builder.build();
}
