import {
  LegendDisplayMode,
  LegendPlacement,
  SortOrder,
  StackingMode,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
  StackingConfigBuilder,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/**
 * Pieces both dashboards share: the datasource and instance variables, the
 * query builder and a time series panel with the settings we use everywhere.
 * Every query selects `instance=~"$instance"`, so one dashboard serves one
 * host or a whole fleet.
 */

/** Every panel queries the Prometheus picked in the datasource variable. */
export const DATASOURCE: DataSourceRef = {
  type: 'prometheus',
  uid: '${datasource}',
};

/** The matcher every query carries. */
export const ON_INSTANCE = 'instance=~"$instance"';

export function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus');
}

/**
 * Hosts that run an agent, many at once; "All" becomes `.*` rather than a
 * list of every instance, which keeps the queries short on a large fleet.
 */
export function instanceVariable(): QueryVariableBuilder {
  return new QueryVariableBuilder('instance')
    .label('Host')
    .datasource(DATASOURCE)
    .query('label_values(microstat_host_cpus, instance)')
    .definition('label_values(microstat_host_cpus, instance)')
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*');
}

/** A range query; refId follows the order in which a panel adds them. */
export function query(
  expr: string,
  legend: string,
  refId = 'A',
): DataqueryBuilder {
  return new DataqueryBuilder()
    .datasource(DATASOURCE)
    .expr(expr)
    .legendFormat(legend)
    .refId(refId)
    .range();
}

/** An instant query for tables and stats that show the latest value. */
export function instantQuery(expr: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder()
    .datasource(DATASOURCE)
    .expr(expr)
    .refId(refId)
    .instant();
}

/**
 * A time series panel: lines without points, a table legend with mean and
 * max (the figures one compares workloads by), tooltips listing every
 * series from the highest down.
 */
export function timeseries(
  title: string,
  unit: string,
  description: string,
): TimeseriesBuilder {
  return new TimeseriesBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .min(0)
    .fillOpacity(10)
    .lineWidth(1)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Right)
        .showLegend(true)
        .calcs(['mean', 'max']),
    )
    .tooltip(
      new VizTooltipOptionsBuilder()
        .mode(TooltipDisplayMode.Multi)
        .sort(SortOrder.Descending),
    );
}

/** Stacks a panel's series, for parts that add up to a whole. */
export function stacked(): StackingConfigBuilder {
  return new StackingConfigBuilder().mode(StackingMode.Normal);
}
