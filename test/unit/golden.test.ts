import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { openHost, type HostView } from '../../agent/src/cli/host.js';
import { buildConfig } from '../../agent/src/config.js';
import { Exporter } from '../../agent/src/export/exporter.js';
import { silentLogger } from '../../agent/src/log.js';
import {
  startFixtureDaemon,
  type FixtureDaemon,
} from './docker-fixture-server.js';
import { fixtureHost } from './fixture-path.js';

/**
 * One whole scrape of a fixture host, compared with a committed file and
 * checked by `promtool check metrics`. Regenerate the files after a
 * deliberate change with UPDATE_GOLDEN=1 npm run test:unit.
 */
const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);
const RECORDING = fileURLToPath(new URL('docker/fixture-hosts.json', FIXTURES));
const run = promisify(execFile);

/** Durations differ from run to run; everything else is fixed. */
function stable(text: string): string {
  return text.replace(
    /^(microstat_collector_duration_seconds\{[^}]*\}) .*$/gm,
    '$1 <duration>',
  );
}

async function scrape(layout: string, socketPath: string): Promise<string> {
  const roots = fixtureHost(layout);
  const config = buildConfig(
    new Map<string, string | boolean>([
      ['path.procfs', roots.proc],
      ['path.cgroupfs', roots.cgroup],
      ['path.run', roots.run],
      ['docker.host', `unix://${socketPath}`],
      ['docker.labels', 'team,com.docker.compose.project'],
      ['collector.containerd', false],
      ['log.level', 'error'],
      ['log.format', 'logfmt'],
    ]),
  );
  const host: HostView = openHost(config, silentLogger());
  host.start();
  try {
    await host.ready();
    const exporter = new Exporter({
      labelAllowlist: config.dockerLabels,
      selfMetrics: false,
    });
    return await exporter.render(await host.sampler.sample(), 'prometheus');
  } finally {
    await host.stop();
  }
}

describe('golden /metrics of fixture hosts', () => {
  let dir = '';
  let daemon: FixtureDaemon;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'microstat-golden-'));
    daemon = await startFixtureDaemon(RECORDING, join(dir, 'docker.sock'));
  });

  after(async () => {
    await daemon.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const layout of ['v1-cgroupfs', 'v2-systemd', 'v2-kata']) {
    it(`${layout} scrapes to the committed exposition`, async () => {
      const text = await scrape(layout, daemon.socketPath);
      const goldenPath = fileURLToPath(
        new URL(`golden/${layout}.prom`, FIXTURES),
      );
      if (process.env['UPDATE_GOLDEN'] === '1')
        await writeFile(goldenPath, stable(text));
      assert.equal(stable(text), await readFile(goldenPath, 'utf8'));
      assert.deepEqual(daemon.unexpected, []);
    });

    it(`${layout} exposition passes promtool check metrics`, async () => {
      const text = await scrape(layout, daemon.socketPath);
      const file = join(dir, `${layout}.prom`);
      await writeFile(file, text);
      // promtool reads the exposition on stdin; a lint problem exits 1.
      const { stdout, stderr } = await run('sh', [
        '-c',
        `promtool check metrics < "${file}"`,
      ]);
      assert.equal(stdout + stderr, '');
    });
  }
});
