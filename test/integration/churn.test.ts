import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { startAgent, type RunningAgent } from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  runContainer,
} from '../rig/docker.js';

/**
 * Processes and containers that come and go while the agent reads them
 * are normal on a busy host: thousands of short processes and a stream of
 * short-lived containers, scraped without pause. Nothing may fail, nothing
 * may be logged above debug, and nothing gone may linger in /metrics.
 */

const PREFIX = 'ms-churn-';
const CHURN_SECONDS = 15;
const CONTAINERS = 12;

/** Spawns batches of short processes for `seconds`; resolves when done. */
function processChurn(seconds: number): Promise<number> {
  const script =
    `end=$((SECONDS+${seconds})); n=0; ` +
    'while [ $SECONDS -lt $end ]; do ' +
    'for i in $(seq 40); do /bin/true & done; wait; n=$((n+40)); done; ' +
    'echo $n';
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      resolve(Number(out.trim()));
    });
  });
}

describe('churn while scraping', () => {
  let agent: RunningAgent;
  const names = Array.from({ length: CONTAINERS }, (_, i) => `${PREFIX}${i}`);

  before(async () => {
    await ensureDocker();
    await removeContainers(names);
    agent = await startAgent(['--no-collector.containerd']);
  });

  after(async () => {
    await agent.stop();
    await removeContainers(names);
  });

  it(
    'survives thousands of short processes and short-lived containers',
    { timeout: 180_000 },
    async () => {
      const state = { scraping: true };
      const failures: string[] = [];
      let scrapes = 0;
      const scraper = (async () => {
        while (state.scraping) {
          const response = await fetch(`${agent.url}/metrics`);
          await response.text();
          if (response.status !== 200) failures.push(String(response.status));
          scrapes++;
          await delay(50);
        }
      })();

      const churned = processChurn(CHURN_SECONDS);
      const ids: string[] = [];
      for (const name of names) {
        // Each lives for about a second, then exits on its own.
        ids.push(
          await runContainer(name, [
            ...['--network', 'none', BUSYBOX_IMAGE],
            ...['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do :; done; sleep 1'],
          ]),
        );
      }
      const processes = await churned;
      // Let the last containers exit and the agent see it.
      await delay(4000);
      state.scraping = false;
      await scraper;

      assert.ok(processes > 1000, `${processes} short processes`);
      assert.ok(scrapes > 50, `${scrapes} scrapes`);
      assert.deepEqual(failures, []);

      const text = await (await fetch(`${agent.url}/metrics`)).text();
      for (const id of ids) {
        assert.ok(!text.includes(id), `exited container ${id} lingers`);
      }
      const noisy = agent
        .logs()
        .split('\n')
        .filter((line) => /level=(warn|error)/.test(line));
      assert.deepEqual(noisy, []);
    },
  );
});
