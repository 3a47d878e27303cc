import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Exporter, negotiateFormat } from '../../agent/src/export/exporter.js';
import type {
  Snapshot,
  Workload,
  WorkloadUsage,
} from '../../agent/src/model.js';

const host = {
  cpus: 2,
  memoryTotalBytes: 8 * 2 ** 30,
  stealCpuSeconds: 0,
  monotonicSeconds: 0,
};

function workload(id: string, name: string): Workload {
  return {
    id,
    name,
    kind: 'container',
    runtime: 'runc',
    engine: 'docker',
    image: 'local/busybox',
    hypervisor: '',
    state: 'running',
    labels: { team: 'a"b\\c\nd é' },
    composeProject: '',
    composeService: '',
    initPid: 10,
    ownNetwork: true,
    cgroup: undefined,
  };
}

function snapshot(readings: [Workload, WorkloadUsage][]): Snapshot {
  return {
    takenAtMs: 0,
    monotonicSeconds: 0,
    host,
    workloads: readings.map(([w, usage]) => ({ workload: w, usage })),
    collectors: [
      { collector: 'docker', success: true, durationSeconds: 0.001 },
    ],
  };
}

function lines(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('Exporter', () => {
  const exporter = new Exporter({
    labelAllowlist: ['team'],
    selfMetrics: false,
  });

  it('emits no sample for an absent value, and host RAM for no limit', async () => {
    const text = await exporter.render(
      snapshot([
        [workload('a', 'web'), { cpuSeconds: 1.5, memoryLimit: 'unlimited' }],
      ]),
      'prometheus',
    );
    assert.deepEqual(lines(text, 'microstat_workload_cpu_seconds_total'), [
      'microstat_workload_cpu_seconds_total{id="a",name="web",kind="container"} 1.5',
    ]);
    assert.deepEqual(lines(text, 'microstat_workload_memory_usage_bytes'), []);
    assert.deepEqual(lines(text, 'microstat_workload_memory_limit_bytes'), [
      `microstat_workload_memory_limit_bytes{id="a",name="web",kind="container"} ${8 * 2 ** 30}`,
    ]);
    assert.deepEqual(lines(text, 'microstat_workload_memory_limited'), [
      'microstat_workload_memory_limited{id="a",name="web",kind="container"} 0',
    ]);
    assert.deepEqual(lines(text, 'microstat_host_cpus'), [
      'microstat_host_cpus 2',
    ]);
  });

  it('escapes label values and keeps unicode', async () => {
    const text = await exporter.render(
      snapshot([[workload('a', 'web'), {}]]),
      'prometheus',
    );
    const [info] = lines(text, 'microstat_workload_info');
    assert.ok(info?.includes('label_team="a\\"b\\\\c\\nd é"'), info);
  });

  it('drops the series of a workload that is gone', async () => {
    await exporter.render(
      snapshot([
        [workload('a', 'web'), { pids: 3 }],
        [workload('b', 'db'), { pids: 4 }],
      ]),
      'prometheus',
    );
    const text = await exporter.render(
      snapshot([[workload('a', 'web'), { pids: 3 }]]),
      'prometheus',
    );
    assert.equal(lines(text, 'microstat_workload_pids').length, 1);
    assert.ok(!text.includes('id="b"'));
  });

  it('renders OpenMetrics with counter families and # EOF, text without', async () => {
    const snap = snapshot([[workload('a', 'web'), { cpuSeconds: 2 }]]);
    const om = await exporter.render(snap, 'openmetrics');
    assert.match(om, /^# TYPE microstat_workload_cpu_seconds counter$/m);
    assert.match(
      om,
      /^microstat_workload_cpu_seconds_total\{id="a",name="web",kind="container"\} 2$/m,
    );
    assert.ok(om.endsWith('# EOF\n'));
    // Rendering OpenMetrics must not rename the text format's counters.
    const text = await exporter.render(snap, 'prometheus');
    assert.match(
      text,
      /^# TYPE microstat_workload_cpu_seconds_total counter$/m,
    );
    assert.equal(
      exporter.contentType('prometheus').split(';')[0],
      'text/plain',
    );
  });

  it('negotiates the format from Accept', () => {
    assert.equal(negotiateFormat(undefined), 'prometheus');
    assert.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
    assert.equal(
      negotiateFormat(
        'application/openmetrics-text;version=1.0.0,text/plain;q=0.5',
      ),
      'openmetrics',
    );
  });
});
