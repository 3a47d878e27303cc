import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

import { Exporter } from '../../agent/src/export/exporter.js';
import type { Snapshot, Workload } from '../../agent/src/model.js';
import { parseMetrics } from '../rig/agent.js';

/**
 * Label values a container name or an allow-listed Docker label can hold,
 * through Exporter.render in both formats. The text format (0.0.4) and
 * OpenMetrics 1.0 escape the same three characters in a label value:
 * backslash, double quote and line feed; everything else, carriage
 * return and tab included, is written as UTF-8 as it is.
 * https://github.com/OpenObservability/OpenMetrics/blob/main/specification/
 * OpenMetrics.md#abnf (escaped-string, normal-char).
 */
const NASTY = [
  'plain',
  'quote"inside',
  'back\\slash',
  'ends with backslash\\',
  '\\"',
  'line\nfeed',
  'literal \\n, not a newline',
  'carriage\rreturn\ttab',
  'unicode é 日本 🚀',
  'braces} and, commas= "=x"',
  '',
];

function workload(index: number, value: string): Workload {
  return {
    id: `w${String(index).padStart(2, '0')}`,
    name: value,
    kind: 'container',
    runtime: 'runc',
    engine: 'docker',
    image: `img:${value}`,
    hypervisor: '',
    state: 'running',
    labels: { team: value },
    composeProject: '',
    composeService: '',
    initPid: undefined,
    ownNetwork: false,
    cgroup: undefined,
  };
}

const snapshot: Snapshot = {
  takenAtMs: 0,
  monotonicSeconds: 0,
  host: {
    cpus: 2,
    memoryTotalBytes: 2 ** 30,
    stealCpuSeconds: 0,
    monotonicSeconds: 0,
  },
  workloads: NASTY.map((value, i) => ({
    workload: workload(i, value),
    usage: { cpuSeconds: 1 },
  })),
  collectors: [],
};

/** The escaped form both formats must write for a label value. */
function escaped(value: string): string {
  return value
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('\n', '\\n');
}

/**
 * OpenMetrics' escaped-string, strictly: a raw `"`, `\` or line feed, or
 * any escape other than \\, \" and \n, is an error. Returns the labels of
 * a `name{...} value` line, unescaped.
 */
function openMetricsLabels(line: string): Map<string, string> {
  const labels = new Map<string, string>();
  let i = line.indexOf('{') + 1;
  while (line[i] !== '}') {
    const eq = line.indexOf('="', i);
    assert.ok(eq > i, `label name at ${i} of ${line}`);
    const name = line.slice(i, eq);
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/);
    let value = '';
    for (i = eq + 2; line[i] !== '"'; i += 1) {
      const c = line[i];
      assert.ok(c !== undefined && c !== '\n', `unterminated: ${line}`);
      if (c !== '\\') {
        value += c;
        continue;
      }
      const next = line[i + 1];
      assert.ok(next === '\\' || next === '"' || next === 'n', line);
      value += next === 'n' ? '\n' : next;
      i += 1;
    }
    labels.set(name, value);
    i += 1;
    if (line[i] === ',') i += 1;
  }
  return labels;
}

describe('label values in the exposition formats', () => {
  const exporter = new Exporter({
    labelAllowlist: ['team'],
    selfMetrics: false,
  });

  it('escapes \\, " and newline in the text format and keeps the rest', async () => {
    const text = await exporter.render(snapshot, 'prometheus');
    for (const value of NASTY) {
      assert.ok(text.includes(`name="${escaped(value)}"`), value);
    }
    const infos = parseMetrics(text).filter(
      (s) => s.name === 'microstat_workload_info',
    );
    assert.deepEqual(
      infos.map((s) => [s.labels['name'], s.labels['label_team']]),
      NASTY.map((v) => [v, v]),
    );
  });

  it('passes promtool check metrics', async (t) => {
    const text = await exporter.render(snapshot, 'prometheus');
    const check = spawnSync('promtool', ['check', 'metrics'], {
      input: text,
      encoding: 'utf8',
    });
    if (check.error !== undefined) {
      t.skip('promtool is not installed');
      return;
    }
    assert.equal(check.status, 0, check.stderr + check.stdout);
  });

  it('escapes by the OpenMetrics ABNF and round-trips every value', async () => {
    const text = await exporter.render(snapshot, 'openmetrics');
    assert.ok(text.endsWith('# EOF\n'));
    const samples = text
      .split('\n')
      .filter((l) => l.startsWith('microstat_workload_info{'));
    assert.equal(samples.length, NASTY.length);
    const decoded = samples.map(openMetricsLabels);
    assert.deepEqual(
      decoded.map((l) => [l.get('name'), l.get('label_team'), l.get('image')]),
      NASTY.map((v) => [v, v, `img:${v}`]),
    );
  });
});
