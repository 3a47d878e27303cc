import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseMetrics } from '../rig/agent.js';

describe('parseMetrics (test rig)', () => {
  it('reads samples with and without labels, skipping comments', () => {
    const text = [
      '# HELP microstat_host_cpus Online CPUs.',
      '# TYPE microstat_host_cpus gauge',
      'microstat_host_cpus 2',
      '',
      'microstat_workload_pids{id="abc",name="web",kind="container"} 3',
      'x_seconds_total{a="1",} 1.5e+03 1700000000000',
      'y{} -Inf',
      'z NaN',
      'prom_client_style Nan',
    ].join('\n');
    const samples = parseMetrics(text);
    assert.deepEqual(samples.slice(0, 4), [
      { name: 'microstat_host_cpus', labels: {}, value: 2 },
      {
        name: 'microstat_workload_pids',
        labels: { id: 'abc', name: 'web', kind: 'container' },
        value: 3,
      },
      { name: 'x_seconds_total', labels: { a: '1' }, value: 1500 },
      { name: 'y', labels: {}, value: Number.NEGATIVE_INFINITY },
    ]);
    assert.ok(Number.isNaN(samples[4]?.value));
    assert.ok(Number.isNaN(samples[5]?.value));
  });

  it('unescapes quotes, backslashes and newlines in label values', () => {
    const line = String.raw`m{v="say \"hi\"",p="C:\\dir",n="a\nb"} 1`;
    assert.deepEqual(parseMetrics(line), [
      {
        name: 'm',
        labels: { v: 'say "hi"', p: 'C:\\dir', n: 'a\nb' },
        value: 1,
      },
    ]);
  });

  it('rejects malformed lines', () => {
    assert.throws(() => parseMetrics('m{v="x} 1'), /unterminated/);
    assert.throws(() => parseMetrics('m{v="\\q"} 1'), /escape/);
    assert.throws(() => parseMetrics('m{v=x} 1'), /bad label/);
    assert.throws(() => parseMetrics('m one'), /value/);
    assert.throws(() => parseMetrics('m'), /value/);
  });
});
