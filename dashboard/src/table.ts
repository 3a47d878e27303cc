import type { LiveWorkloadJson } from './api.js';
import { el } from './dom.js';
import { binaryBytes, decimalBytes, pair, percent } from './format.js';

/**
 * The workload table: docker stats' columns plus kind, runtime, hypervisor
 * and image, sortable by any column, filtered by text and kind, with a
 * sparkline of the last minute's CPU % per row. Rows are kept per workload
 * and updated in place, so focus and scroll survive every tick.
 */

const SPARK_POINTS = 60;

type Column = {
  readonly key: string;
  readonly title: string;
  readonly numeric: boolean;
  /** The cell's text. */
  readonly text: (w: LiveWorkloadJson) => string;
  /** What the column sorts by; undefined sorts last. */
  readonly sortValue: (w: LiveWorkloadJson) => number | string | undefined;
};

const COLUMNS: readonly Column[] = [
  {
    key: 'name',
    title: 'NAME',
    numeric: false,
    text: (w) => w.name,
    sortValue: (w) => w.name,
  },
  {
    key: 'kind',
    title: 'KIND',
    numeric: false,
    text: (w) => w.kind,
    sortValue: (w) => w.kind,
  },
  {
    key: 'runtime',
    title: 'RUNTIME',
    numeric: false,
    text: (w) => w.runtime,
    sortValue: (w) => w.runtime,
  },
  {
    key: 'hypervisor',
    title: 'HYPERVISOR',
    numeric: false,
    text: (w) => w.hypervisor || '-',
    sortValue: (w) => w.hypervisor,
  },
  {
    key: 'image',
    title: 'IMAGE',
    numeric: false,
    text: (w) => w.image,
    sortValue: (w) => w.image,
  },
  {
    key: 'cpu',
    title: 'CPU %',
    numeric: true,
    text: (w) => percent(w.rates.cpuPercent),
    sortValue: (w) => w.rates.cpuPercent,
  },
  {
    key: 'mem',
    title: 'MEM USAGE / LIMIT',
    numeric: true,
    text: (w) =>
      pair(
        binaryBytes(w.usage.memoryUsageBytes),
        binaryBytes(w.usage.memoryLimitBytes),
      ),
    sortValue: (w) => w.usage.memoryUsageBytes,
  },
  {
    key: 'memPercent',
    title: 'MEM %',
    numeric: true,
    text: (w) => percent(w.rates.memoryPercent),
    sortValue: (w) => w.rates.memoryPercent,
  },
  {
    key: 'net',
    title: 'NET I/O',
    numeric: true,
    text: (w) =>
      pair(
        decimalBytes(w.usage.networkReceiveBytes),
        decimalBytes(w.usage.networkTransmitBytes),
      ),
    sortValue: (w) =>
      sum(w.usage.networkReceiveBytes, w.usage.networkTransmitBytes),
  },
  {
    key: 'block',
    title: 'BLOCK I/O',
    numeric: true,
    text: (w) =>
      pair(
        decimalBytes(w.usage.blockReadBytes),
        decimalBytes(w.usage.blockWriteBytes),
      ),
    sortValue: (w) => sum(w.usage.blockReadBytes, w.usage.blockWriteBytes),
  },
  {
    key: 'pids',
    title: 'PIDS',
    numeric: true,
    text: (w) => (w.usage.pids === undefined ? '--' : String(w.usage.pids)),
    sortValue: (w) => w.usage.pids,
  },
];

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

interface RowView {
  readonly row: HTMLTableRowElement;
  readonly cells: HTMLTableCellElement[];
  readonly name: HTMLElement;
  readonly labels: HTMLElement;
  readonly spark: HTMLCanvasElement;
  readonly history: number[];
  workload: LiveWorkloadJson;
}

export interface TableOptions {
  readonly table: HTMLTableElement;
  readonly filterText: HTMLInputElement;
  readonly filterKind: HTMLSelectElement;
  readonly count: HTMLElement;
  readonly open: (id: string) => void;
}

export class WorkloadTable {
  private readonly rows = new Map<string, RowView>();
  private readonly body: HTMLTableSectionElement;
  private readonly headers = new Map<string, HTMLTableCellElement>();
  private sortKey = 'cpu';
  private descending = true;

  constructor(private readonly options: TableOptions) {
    this.body = options.table.createTBody();
    this.buildHeader();
    options.filterText.addEventListener('input', () => {
      this.render();
    });
    options.filterKind.addEventListener('change', () => {
      this.render();
    });
    this.body.addEventListener('keydown', (event) => {
      this.onKey(event);
    });
  }

  /** Takes a tick's workloads: adds, updates and removes rows. */
  update(workloads: readonly LiveWorkloadJson[]): void {
    const present = new Set<string>();
    for (const w of workloads) {
      present.add(w.id);
      const view = this.rows.get(w.id) ?? this.addRow(w);
      view.workload = w;
      view.history.push(w.rates.cpuPercent ?? Number.NaN);
      if (view.history.length > SPARK_POINTS) view.history.shift();
    }
    for (const [id, view] of this.rows) {
      if (present.has(id)) continue;
      view.row.remove();
      this.rows.delete(id);
    }
    this.render();
  }

  /** Redraws the sparklines, e.g. after a theme change. */
  redraw(): void {
    for (const view of this.rows.values()) drawSpark(view.spark, view.history);
  }

  private buildHeader(): void {
    const head = this.options.table.createTHead();
    const row = head.insertRow();
    for (const column of COLUMNS) {
      const button = el('button', { text: column.title });
      button.type = 'button';
      button.addEventListener('click', () => {
        this.sortBy(column.key);
      });
      const th = el('th', { className: column.numeric ? 'num' : '' }, button);
      th.scope = 'col';
      this.headers.set(column.key, th);
      row.append(th);
    }
    const spark = el('th', { text: 'CPU, last minute' });
    spark.scope = 'col';
    row.append(spark);
    this.markSort();
  }

  private sortBy(key: string): void {
    if (this.sortKey === key) this.descending = !this.descending;
    else {
      this.sortKey = key;
      this.descending = COLUMNS.find((c) => c.key === key)?.numeric ?? false;
    }
    this.markSort();
    this.render();
  }

  private markSort(): void {
    for (const [key, th] of this.headers) {
      if (key === this.sortKey) {
        th.setAttribute(
          'aria-sort',
          this.descending ? 'descending' : 'ascending',
        );
      } else th.removeAttribute('aria-sort');
    }
  }

  private addRow(w: LiveWorkloadJson): RowView {
    const row = el('tr');
    row.tabIndex = 0;
    row.dataset['id'] = w.id;
    row.addEventListener('click', () => {
      this.options.open(w.id);
    });
    const name = el('span', { className: 'name' });
    const labels = el('span', { className: 'labels' });
    const cells = COLUMNS.map((c) =>
      el('td', { className: c.numeric ? 'num' : '' }),
    );
    cells[0]?.append(name, labels);
    const spark = el('canvas', { className: 'spark' });
    spark.width = 96;
    spark.height = 24;
    spark.setAttribute('aria-hidden', 'true');
    row.append(...cells, el('td', {}, spark));
    const view: RowView = {
      row,
      cells,
      name,
      labels,
      spark,
      history: [],
      workload: w,
    };
    this.rows.set(w.id, view);
    return view;
  }

  private render(): void {
    const text = this.options.filterText.value.trim().toLowerCase();
    const kind = this.options.filterKind.value;
    const column = COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0];
    const views = [...this.rows.values()].sort((a, b) =>
      compare(column, a.workload, b.workload, this.descending),
    );

    let shown = 0;
    for (const view of views) {
      this.fill(view);
      const visible =
        (kind === '' || view.workload.kind === kind) &&
        (text === '' || searchable(view.workload).includes(text));
      view.row.hidden = !visible;
      if (visible) shown += 1;
    }
    this.reorder(views);
    this.options.count.textContent = `${shown} of ${views.length} workloads`;
  }

  private fill(view: RowView): void {
    const w = view.workload;
    COLUMNS.forEach((column, i) => {
      const cell = view.cells[i];
      if (cell === undefined) return;
      if (column.key === 'name') {
        view.name.textContent = w.name;
        view.labels.textContent = Object.entries(w.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        return;
      }
      const value = column.text(w);
      if (cell.textContent !== value) cell.textContent = value;
    });
    view.row.setAttribute('aria-label', `${w.name}, open workload page`);
    drawSpark(view.spark, view.history);
  }

  /** Puts rows in order, moving only when it changed, keeping focus. */
  private reorder(views: readonly RowView[]): void {
    const current = [...this.body.rows];
    if (views.every((v, i) => current[i] === v.row)) return;
    const focused = document.activeElement;
    this.body.append(...views.map((v) => v.row));
    if (focused instanceof HTMLElement && this.body.contains(focused)) {
      focused.focus();
    }
  }

  /** Arrow keys move between visible rows, Enter opens the focused one. */
  private onKey(event: KeyboardEvent): void {
    const row = event.target;
    if (!(row instanceof HTMLTableRowElement)) return;
    if (event.key === 'Enter') {
      const id = row.dataset['id'];
      if (id !== undefined) this.options.open(id);
      return;
    }
    const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const visible = [...this.body.rows].filter((r) => !r.hidden);
    visible[visible.indexOf(row) + step]?.focus();
  }
}

function searchable(w: LiveWorkloadJson): string {
  return [w.name, w.id, w.image, w.kind, w.runtime, w.hypervisor]
    .concat(Object.values(w.labels))
    .join(' ')
    .toLowerCase();
}

function compare(
  column: Column | undefined,
  a: LiveWorkloadJson,
  b: LiveWorkloadJson,
  descending: boolean,
): number {
  if (column === undefined) return 0;
  const x = column.sortValue(a);
  const y = column.sortValue(b);
  if (x === undefined || y === undefined) {
    return x === y ? a.name.localeCompare(b.name) : x === undefined ? 1 : -1;
  }
  const order =
    typeof x === 'number' && typeof y === 'number'
      ? x - y
      : String(x).localeCompare(String(y));
  if (order === 0) return a.name.localeCompare(b.name);
  return descending ? -order : order;
}

/** A line of CPU % over the last minute, scaled to its own maximum. */
function drawSpark(canvas: HTMLCanvasElement, values: readonly number[]): void {
  const context = canvas.getContext('2d');
  if (context === null) return;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const finite = values.filter((v) => Number.isFinite(v));
  const top = Math.max(1, ...finite);
  context.strokeStyle = getComputedStyle(canvas).color;
  context.lineWidth = 1.5;
  context.beginPath();
  let drawing = false;
  values.forEach((value, i) => {
    if (!Number.isFinite(value)) {
      drawing = false;
      return;
    }
    const x = (i / (SPARK_POINTS - 1)) * (width - 2) + 1;
    const y = height - 1 - (value / top) * (height - 2);
    if (drawing) context.lineTo(x, y);
    else context.moveTo(x, y);
    drawing = true;
  });
  context.stroke();
}
