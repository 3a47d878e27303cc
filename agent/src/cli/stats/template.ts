/**
 * The `--format` of `microstat stats`: the subset of Go templates that
 * docker stats users write (`{{.Name}}`, `{{json .}}`, a `table ` prefix,
 * `\t` between columns), rendered the way docker/cli's formatter does,
 * header names and tabwriter layout included. Anything else is an error,
 * not a guess.
 */

/** Each placeholder and the header docker (or microstat) gives it. */
const HEADERS = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
  Kind: 'KIND',
  Runtime: 'RUNTIME',
  Hypervisor: 'HYPERVISOR',
} as const;

export type StatsField = keyof typeof HEADERS;
/** One row as text, one string per placeholder. */
export type StatsFields = Readonly<Record<StatsField, string>>;

export const FIELD_NAMES = Object.keys(HEADERS) as StatsField[];

/** docker's default columns, then the kind and runtime of the workload. */
export const DEFAULT_TABLE_FORMAT =
  'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}' +
  '\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}\t{{.Kind}}\t{{.Runtime}}';

type Part =
  | { readonly text: string }
  | { readonly field: StatsField }
  | { readonly json: true };

export interface StatsTemplate {
  /** A header row first, columns aligned at tabs. */
  readonly table: boolean;
  readonly parts: readonly Part[];
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const ACTION = /\{\{(.*?)\}\}/gs;
const FIELD_ACTION = /^\s*\.([A-Za-z_]\w*)\s*$/;
const JSON_ACTION = /^\s*json\s+\.\s*$/;

/**
 * Parses a --format value: `table` alone is the default table, `json` is
 * one `{{json .}}` per line, `table <template>` a table of that template.
 * As in docker, a literal `\t` or `\n` in the text stands for a tab or a
 * newline, and spaces around the template are dropped.
 */
export function parseTemplate(format: string): StatsTemplate {
  let source = format === 'table' ? DEFAULT_TABLE_FORMAT : format;
  const table = source.startsWith('table');
  if (table) source = source.slice('table'.length);
  if (format === 'json') source = '{{json .}}';
  source = source
    .replace(/^ +| +$/g, '')
    .replaceAll('\\t', '\t')
    .replaceAll('\\n', '\n');

  const parts: Part[] = [];
  let last = 0;
  for (const match of source.matchAll(ACTION)) {
    if (match.index > last)
      parts.push({ text: source.slice(last, match.index) });
    parts.push(action(match[0], match[1] ?? ''));
    last = match.index + match[0].length;
  }
  const rest = source.slice(last);
  if (rest.includes('{{')) {
    throw new TemplateError(`unclosed action in --format: ${rest}`);
  }
  if (rest !== '') parts.push({ text: rest });
  return { table, parts };
}

function action(whole: string, inner: string): Part {
  if (JSON_ACTION.test(inner)) return { json: true };
  const name = FIELD_ACTION.exec(inner)?.[1];
  if (name !== undefined && name in HEADERS) {
    return { field: name as StatsField };
  }
  const known = FIELD_NAMES.map((f) => `{{.${f}}}`).join(', ');
  throw new TemplateError(
    `unknown placeholder ${whole} in --format; known: ${known}, {{json .}}`,
  );
}

/**
 * One frame: each row through the template, one per line; for a table a
 * header row first and the columns aligned like docker's tabwriter.
 */
export function renderRows(
  template: StatsTemplate,
  rows: readonly StatsFields[],
): string {
  const lines = rows.map((row) => fill(template, row));
  if (!template.table) return lines.map((line) => `${line}\n`).join('');
  const header = template.parts
    .map((p) => ('text' in p ? p.text : 'field' in p ? HEADERS[p.field] : ''))
    .join('');
  return alignColumns([header, ...lines].map((line) => `${line}\n`).join(''));
}

function fill(template: StatsTemplate, row: StatsFields): string {
  return template.parts
    .map((p) =>
      'text' in p ? p.text : 'field' in p ? row[p.field] : jsonObject(row),
    )
    .join('');
}

/**
 * `{{json .}}`: the object with its keys sorted, as Go's encoding/json
 * writes a map; docker's json function does not escape HTML characters,
 * and Go always escapes U+2028 and U+2029.
 */
export function jsonObject(row: StatsFields): string {
  const sorted = Object.fromEntries(
    [...FIELD_NAMES].sort().map((key) => [key, row[key]]),
  );
  return JSON.stringify(sorted)
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

// docker/cli formats tables with tabwriter.NewWriter(out, 10, 1, 3, ' ', 0).
const MIN_WIDTH = 10;
const PADDING = 3;

/**
 * Go's text/tabwriter as docker configures it: a cell is text ended by a
 * tab; a column of consecutive lines is as wide as its widest cell plus
 * three, and at least ten; the text after a line's last tab is not aligned.
 */
export function alignColumns(text: string): string {
  const lines = text.split('\n').map((line) => line.split('\t'));
  const widths = lines.map((cells) => cells.map(() => 0));
  layout(lines, widths, 0, 0, lines.length);
  return lines
    .map((cells, i) =>
      cells
        .map((cell, j) =>
          j === cells.length - 1
            ? cell
            : cell + ' '.repeat((widths[i]?.[j] ?? 0) - width(cell)),
        )
        .join(''),
    )
    .join('\n');
}

/** Sets the width of `column` in each block of lines that has that cell. */
function layout(
  lines: readonly string[][],
  widths: number[][],
  column: number,
  from: number,
  to: number,
): void {
  let line = from;
  while (line < to) {
    if ((lines[line]?.length ?? 0) - 1 <= column) {
      line += 1;
      continue;
    }
    const start = line;
    let columnWidth = MIN_WIDTH;
    for (; line < to && (lines[line]?.length ?? 0) - 1 > column; line += 1) {
      const cell = lines[line]?.[column] ?? '';
      columnWidth = Math.max(columnWidth, width(cell) + PADDING);
    }
    for (let i = start; i < line; i += 1) {
      const row = widths[i];
      if (row !== undefined) row[column] = columnWidth;
    }
    layout(lines, widths, column + 1, start, line);
  }
}

/** Characters, not UTF-16 units, as tabwriter counts runes. */
function width(text: string): number {
  return Array.from(text).length;
}
