import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

import { binaryBytes, clock, decimalBytes } from './format.js';
import type { Unit } from './series.js';

Chart.register(
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  Legend,
  Tooltip,
);

/** One point; y is null where the workload had no value (a gap). */
export interface Point {
  readonly x: number;
  readonly y: number | null;
}

/** One plotted line: a workload's series, or one figure of a workload. */
export interface Line {
  /** What the line stands for (a workload id, or a series name). */
  readonly key: string;
  readonly label: string;
  readonly points: Point[];
}

/** Okabe and Ito's palette: told apart with most colour vision types. */
const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#56b4e9',
  '#d55e00',
];

const AXIS_UNITS: Readonly<Record<Unit, string>> = {
  percent: '% of one core',
  bytes: 'bytes',
  bytesPerSecond: 'bytes per second',
};

function tickLabel(unit: Unit, value: number): string {
  switch (unit) {
    case 'percent':
      return `${Number(value.toPrecision(3))}%`;
    case 'bytes':
      return binaryBytes(value);
    case 'bytesPerSecond':
      return `${decimalBytes(value)}/s`;
  }
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement)
    .getPropertyValue(name)
    .trim();
}

/** Every chart on the page, by name, for the theme and for tests. */
const charts = new Map<string, TimeChart>();

/**
 * A live line chart over a time window: a linear x axis in epoch
 * milliseconds (no date adapter needed), labelled as time of day, and a y
 * axis in one unit, named in its title.
 */
export class TimeChart {
  readonly chart: Chart<'line', Point[]>;
  private keys: string[] = [];

  constructor(
    readonly name: string,
    canvas: HTMLCanvasElement,
    title: string,
    unit: Unit,
    unitLabel: string = AXIS_UNITS[unit],
  ) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        spanGaps: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: (items) => clock(items[0]?.parsed.x ?? 0),
              label: (item) =>
                `${item.dataset.label ?? ''}: ${tickLabel(unit, item.parsed.y ?? 0)}`,
            },
          },
        },
        scales: {
          x: {
            type: 'linear',
            title: { display: true, text: 'Time (local)' },
            ticks: { maxTicksLimit: 6, callback: (v) => clock(Number(v)) },
          },
          y: {
            type: 'linear',
            beginAtZero: true,
            title: { display: true, text: `${title} (${unitLabel})` },
            ticks: { callback: (v) => tickLabel(unit, Number(v)) },
          },
        },
      },
    });
    charts.set(name, this);
    this.applyTheme();
  }

  /** Shows these lines over the window ending now. */
  update(lines: readonly Line[], windowSeconds: number, nowMs: number): void {
    const datasets = this.chart.data.datasets;
    datasets.length = lines.length;
    lines.forEach((line, i) => {
      const colour = PALETTE[i % PALETTE.length] ?? '#888';
      datasets[i] = {
        label: line.label,
        data: line.points,
        borderColor: colour,
        backgroundColor: colour,
      };
    });
    this.keys = lines.map((l) => l.key);
    const x = this.chart.options.scales?.['x'];
    if (x !== undefined) {
      x.min = nowMs - windowSeconds * 1000;
      x.max = nowMs;
    }
    this.chart.update('none');
  }

  /** What the chart holds, as plain data (tests read it from the page). */
  data(): { key: string; label: string; points: Point[] }[] {
    return this.chart.data.datasets.map((d, i) => ({
      key: this.keys[i] ?? '',
      label: d.label ?? '',
      points: [...d.data],
    }));
  }

  destroy(): void {
    charts.delete(this.name);
    this.chart.destroy();
  }

  applyTheme(): void {
    const text = cssVar('--fg');
    const grid = cssVar('--grid');
    const { options } = this.chart;
    for (const axis of Object.values(options.scales ?? {})) {
      if (axis === undefined) continue;
      axis.grid = { ...axis.grid, color: grid };
      axis.ticks = { ...axis.ticks, color: text };
      if ('title' in axis) axis.title = { ...axis.title, color: text };
    }
    const legend = options.plugins?.legend;
    if (legend?.labels !== undefined) legend.labels.color = text;
    this.chart.update('none');
  }
}

/** Re-colours every chart when the system theme changes. */
export function followTheme(onChange: () => void): void {
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    for (const chart of charts.values()) chart.applyTheme();
    onChange();
  });
}

/** Every chart's data by chart name, exposed on window for the e2e test. */
export function chartData(): Record<string, ReturnType<TimeChart['data']>> {
  return Object.fromEntries(
    [...charts].map(([name, chart]) => [name, chart.data()]),
  );
}
