import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';

import {
  buildConfig,
  ConfigError,
  DEFAULT_MAX_WORKLOADS,
} from '../../agent/src/config.js';
import type { WorkloadSource } from '../../agent/src/discover/source.js';
import { Exporter } from '../../agent/src/export/exporter.js';
import { ProcFs } from '../../agent/src/host/procfs.js';
import { createLogger } from '../../agent/src/log.js';
import type { Workload } from '../../agent/src/model.js';
import { Sampler } from '../../agent/src/sample/sampler.js';
import { parseMetrics } from '../rig/agent.js';
import { fixtureHost } from './fixture-path.js';

const HOST = fixtureHost('v2-systemd');
/** A container cgroup of the fixture host; every synthetic workload reads it. */
const CGROUP_DIR = join(
  HOST.cgroup,
  'system.slice',
  'docker-9e1d3c7a5b2f48061d9c3e7a2b5f8d04e6c1a9b37d2f5e80c4a6b1d9e3f7c052.scope',
);
const SEEN = 300;
const MAX = 100;

function workload(n: number): Workload {
  const id = `c${String(n).padStart(4, '0')}`;
  return {
    id,
    name: id,
    kind: 'container',
    runtime: 'runc',
    engine: 'docker',
    image: 'local/busybox',
    hypervisor: '',
    state: 'running',
    labels: {},
    composeProject: '',
    composeService: '',
    initPid: undefined,
    ownNetwork: false,
    cgroup: { version: 2, dir: CGROUP_DIR },
  };
}

/** A source of many workloads, listed in a new random order each time. */
function floodSource(count: number): WorkloadSource {
  const all = Array.from({ length: count }, (_, n) => workload(n));
  return {
    name: 'flood',
    start: () => undefined,
    stop: () => Promise.resolve(),
    ready: () => Promise.resolve(),
    healthy: () => true,
    lastError: () => undefined,
    workloads: () =>
      all
        .map((w) => [Math.random(), w] as const)
        .sort(([a], [b]) => a - b)
        .map(([, w]) => w),
  };
}

/** A JSON logger whose lines are kept for the test to read. */
function capturedLogger(): [ReturnType<typeof createLogger>, string[]] {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return [createLogger('info', 'json', out), lines];
}

describe('--max-workloads', () => {
  it('exports the lowest ids only, counts the rest and logs once', async () => {
    const [log, logLines] = capturedLogger();
    const sampler = new Sampler(
      new ProcFs(HOST.proc),
      [floodSource(SEEN)],
      log,
      {
        maxWorkloads: MAX,
      },
    );
    const exporter = new Exporter({
      labelAllowlist: [],
      selfMetrics: false,
      workloadBound: true,
    });
    const expected = Array.from({ length: MAX }, (_, n) => workload(n).id);

    let text = '';
    for (let scrape = 0; scrape < 3; scrape += 1) {
      const snapshot = await sampler.sample();
      assert.deepEqual(
        snapshot.workloads.map((r) => r.workload.id).sort(),
        expected,
      );
      text = await exporter.render(snapshot, 'prometheus');
    }

    const samples = parseMetrics(text);
    const value = (name: string): number | undefined =>
      samples.find((s) => s.name === name)?.value;
    const info = samples.filter((s) => s.name === 'microstat_workload_info');
    assert.equal(info.length, MAX);
    assert.equal(value('microstat_workloads_seen'), SEEN);
    assert.equal(value('microstat_workloads_dropped_total'), 3 * (SEEN - MAX));

    const warnings = logLines.filter((l) => l.includes('--max-workloads'));
    assert.equal(warnings.length, 1, logLines.join('\n'));
    assert.match(warnings[0] ?? '', /"firstDroppedId":"c0100"/);
  });

  it('drops nothing and exports the counts under the bound', async () => {
    const [log] = capturedLogger();
    const sampler = new Sampler(new ProcFs(HOST.proc), [floodSource(5)], log, {
      maxWorkloads: MAX,
    });
    const snapshot = await sampler.sample();
    assert.equal(snapshot.workloads.length, 5);
    assert.deepEqual(snapshot.bound, { seenWorkloads: 5, droppedTotal: 0 });
  });
});

describe('--max-workloads flag', () => {
  it('defaults to DEFAULT_MAX_WORKLOADS', () => {
    assert.equal(buildConfig(new Map()).maxWorkloads, DEFAULT_MAX_WORKLOADS);
  });

  for (const raw of ['0', '-1', '1.5', 'many', '', '1e3']) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(
        () => buildConfig(new Map([['max-workloads', raw]])),
        ConfigError,
      );
    });
  }
});
