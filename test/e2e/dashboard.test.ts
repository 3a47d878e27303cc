import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type Browser, type Page } from 'playwright-core';

import type {
  HistoryResponse,
  WorkloadsResponse,
} from '../../agent/src/export/api.js';
import { getJson, startAgent, type RunningAgent } from '../rig/agent.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  run,
  runContainer,
} from '../rig/docker.js';
import { startMicroVm, type MicroVm } from '../rig/microvm.js';
import { repoRoot } from '../rig/paths.js';
import { waitFor as poll } from '../rig/wait.js';

/**
 * The dashboard in real headless Chromium (Debian's, driven by
 * playwright-core; nothing is downloaded) against a real agent watching real
 * busybox containers and a real QEMU microVM laid out as a Kata sandbox.
 * Assertions wait for states rather than timing them: other tests share
 * this 2-core machine.
 */

const PREFIX = 'ms-dash-';
const ARTIFACTS = join(repoRoot, 'test-artifacts');
/** Markup in a label value: must show as text and never run. */
const XSS_LABEL = '<img src=x onerror=window.__xss=1>"\'&amp;';
/** As hostile as Docker allows: names and tags are [\w][\w.-]*. */
const HOSTILE_NAME = `${PREFIX}__proto__`;
const HOSTILE_IMAGE = 'local/ms-dash-busybox:__proto__';
const NAMES = ['idle', 'busy', 'late'].map((n) => `${PREFIX}${n}`);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const LONG = { timeout: 180_000 };
const WAIT_MS = 60_000;

/** A light load: some CPU every second, not a spinning core. */
const SOME_WORK =
  'while :; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; ' +
  'sleep 1; done';

/** Polls every 250 ms, for WAIT_MS unless told otherwise. */
function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = WAIT_MS,
): Promise<T> {
  return poll(what, probe, timeoutMs, 250);
}

interface ChartLine {
  readonly key: string;
  readonly label: string;
  readonly points: readonly { x: number; y: number | null }[];
}

function chartData(page: Page): Promise<Record<string, ChartLine[]>> {
  return page.evaluate<Record<string, ChartLine[]>>(
    'window.__microstat.chartData()',
  );
}

function rowSelector(id: string): string {
  return `#workloads tbody tr[data-id="${id}"]`;
}

/** The visible rows' workload ids, in table order. */
function visibleRows(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(
    `[...document.querySelectorAll('#workloads tbody tr')]
      .filter((r) => !r.hidden).map((r) => r.dataset.id)`,
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({
    path: join(ARTIFACTS, `dashboard-${name}.png`),
    fullPage: true,
  });
}

/** Nothing was injected: no script ran and no img element exists. */
async function assertNoInjection(page: Page): Promise<void> {
  assert.equal(await page.evaluate<string>('typeof window.__xss'), 'undefined');
  assert.equal(
    await page.evaluate<number>('document.querySelectorAll("img").length'),
    0,
  );
}

describe('the dashboard in Chromium', () => {
  const vmId = `${PREFIX}vm-${randomBytes(6).toString('hex')}`;
  const ids = new Map<string, string>();
  const pageErrors: string[] = [];
  let vm: MicroVm | undefined;
  let agent: RunningAgent | undefined;
  let browser: Browser | undefined;
  let page: Page;

  const url = (): string => {
    assert.ok(agent !== undefined);
    return agent.url;
  };

  before(
    async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      await ensureDocker();
      await removeContainers([...NAMES, HOSTILE_NAME]);
      await run(['tag', BUSYBOX_IMAGE, HOSTILE_IMAGE]);
      const none = ['--network', 'none'];
      const [idle, busy, hostile, started] = await Promise.all([
        runContainer(`${PREFIX}idle`, [
          ...none,
          BUSYBOX_IMAGE,
          ...['sleep', '3600'],
        ]),
        runContainer(`${PREFIX}busy`, [
          ...none,
          BUSYBOX_IMAGE,
          ...['sh', '-c', SOME_WORK],
        ]),
        runContainer(HOSTILE_NAME, [
          ...none,
          ...['--label', `team=${XSS_LABEL}`],
          HOSTILE_IMAGE,
          ...['sleep', '3600'],
        ]),
        startMicroVm({ id: vmId, memoryMiB: 512, vcpus: 1 }),
      ]);
      ids.set('idle', idle);
      ids.set('busy', busy);
      ids.set('hostile', hostile);
      vm = started;

      agent = await startAgent([
        ...['--docker.labels', 'team'],
        '--no-collector.containerd',
      ]);
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: CHROMIUM_ARGS,
      });
      page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${url()}/`);
      // Survives only as long as the page is not reloaded.
      await page.evaluate('window.__noReload = true');
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await browser?.close();
    await agent?.stop();
    await vm?.stop();
    await removeContainers([...NAMES, HOSTILE_NAME]);
    await run(['rmi', HOSTILE_IMAGE]).catch(() => undefined);
  });

  it('lists the containers and the microVM', LONG, async () => {
    for (const id of [...ids.values(), vmId]) {
      await page.locator(rowSelector(id)).waitFor({ timeout: WAIT_MS });
    }
    const vmRow = page.locator(rowSelector(vmId));
    const cells = await vmRow.locator('td').allTextContents();
    assert.ok(cells.includes('microvm'), cells.join('|'));
    assert.ok(cells.includes('qemu'), cells.join('|'));
    // The configured guest memory is the microVM's LIMIT, as the API says.
    const api = (await getJson(
      `${url()}/api/v1/workloads`,
    )) as WorkloadsResponse;
    const vmJson = api.workloads.find((w) => w.id === vmId);
    assert.equal(vmJson?.usage.memoryLimitBytes, 512 * 2 ** 20);
    assert.ok(
      cells.some((c) => c.endsWith(' / 512MiB')),
      `MEM USAGE / LIMIT of the microVM: ${cells.join('|')}`,
    );
    const idleJson = api.workloads.find((w) => w.id === ids.get('idle'));
    const idleCells = await page
      .locator(rowSelector(ids.get('idle') ?? ''))
      .locator('td')
      .allTextContents();
    assert.equal(idleCells[10], String(idleJson?.usage.pids));

    // The host facts are read on the first request for them (loading
    // systeminformation and running lscpu), so they may fill in after the
    // table does.
    const facts = page.locator('#host-facts');
    await facts.filter({ hasText: 'Kernel' }).waitFor({ timeout: WAIT_MS });
    const header = await facts.textContent();
    assert.match(header ?? '', /Kernel/);
    assert.match(header ?? '', /Docker \d+\.\d+/);
    await screenshot(page, 'overview');
  });

  it('plots chart points that match the history API', LONG, async () => {
    // Wait for a few ticks on both overview charts.
    const charts = await waitFor('chart points', async () => {
      const data = await chartData(page);
      const enough = ['cpu', 'memory'].every((name) =>
        (data[name] ?? []).some(
          (l) => l.points.filter((p) => p.y !== null).length >= 3,
        ),
      );
      return enough ? data : undefined;
    });
    for (const name of ['cpu', 'memory']) {
      const series = name === 'cpu' ? 'cpuPercent' : 'memoryBytes';
      let compared = 0;
      for (const line of charts[name] ?? []) {
        const history = (await getJson(
          `${url()}/api/v1/workloads/${encodeURIComponent(line.key)}` +
            '/history?window=300',
        )) as HistoryResponse;
        const byTime = new Map(
          history.timesMs.map((t, i) => [t, history.series[series][i]]),
        );
        for (const point of line.points) {
          const expected = byTime.get(point.x);
          if (expected === undefined) continue;
          assert.equal(point.y, expected, `${name} ${line.label} ${point.x}`);
          compared += 1;
        }
      }
      assert.ok(compared >= 3, `${name}: ${compared} points compared`);
    }
  });

  it('filters by text and kind and sorts by a header', LONG, async () => {
    await page.fill('#filter-text', `${PREFIX}idle`);
    assert.deepEqual(await visibleRows(page), [ids.get('idle')]);
    await page.fill('#filter-text', '');
    await page.selectOption('#filter-kind', 'microvm');
    assert.ok((await visibleRows(page)).includes(vmId));
    for (const id of ids.values()) {
      assert.ok(!(await visibleRows(page)).includes(id));
    }
    await page.selectOption('#filter-kind', '');

    await page.click('#workloads thead button:text-is("NAME")');
    const th = page.locator('#workloads thead th[aria-sort]');
    assert.equal(await th.getAttribute('aria-sort'), 'ascending');
    // Sorted as the browser's own collation orders them.
    const [names, sorted] = await page.evaluate<[string[], string[]]>(
      `(() => {
        const names = [...document.querySelectorAll('#workloads tbody .name')]
          .map((n) => n.textContent);
        return [names, [...names].sort((a, b) => a.localeCompare(b))];
      })()`,
    );
    assert.ok(names.length >= 4);
    assert.deepEqual(names, sorted);
  });

  it(
    'opens the microVM page from the keyboard, split by component',
    LONG,
    async () => {
      await page.focus(rowSelector(vmId));
      await page.keyboard.press('Enter');
      await page.waitForURL(`**/#/workload/${vmId}`);

      const components = await waitFor('components', async () => {
        const rows = await page
          .locator('#components tbody th')
          .allTextContents();
        return rows.includes('hypervisor') ? rows : undefined;
      });
      for (const c of ['hypervisor', 'virtiofsd', 'shim']) {
        assert.ok(components.includes(c), components.join(','));
      }
      const guest = await waitFor('the guest view', async () => {
        const text = (await page.locator('#guest tbody').textContent()) ?? '';
        return text.includes('Memory total') ? text : undefined;
      });
      // guest-metrics.prom: mem_total 492830720 bytes, 470 MiB.
      assert.match(guest, /Memory total470MiB/);
      const facts = (await page.locator('#workload-facts').textContent()) ?? '';
      assert.match(facts, /Configured vCPUs1/);
      assert.match(facts, /Configured memory512MiB/);

      await waitFor('workload charts', async () => {
        const data = await chartData(page);
        const cpu = data['workload-cpu']?.[0]?.points ?? [];
        return cpu.filter((p) => p.y !== null).length >= 2 ? true : undefined;
      });
      await screenshot(page, 'microvm');
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'microvm-dark');
      await page.emulateMedia({ colorScheme: 'light' });
    },
  );

  it('renders hostile names, labels and images as text', LONG, async () => {
    await page.goto(`${url()}/#/`);
    await page.evaluate('window.__noReload = true');
    const row = page.locator(rowSelector(ids.get('hostile') ?? ''));
    await row.waitFor({ timeout: WAIT_MS });
    assert.equal(await row.locator('.name').textContent(), HOSTILE_NAME);
    assert.equal(
      await row.locator('.labels').textContent(),
      `team=${XSS_LABEL}`,
    );
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[4], HOSTILE_IMAGE);
    await assertNoInjection(page);

    await row.focus();
    await page.keyboard.press('Enter');
    await waitFor('the hostile workload page', async () => {
      const title = await page.locator('#workload-title').textContent();
      return title === HOSTILE_NAME ? true : undefined;
    });
    const facts = (await page.locator('#workload-facts').textContent()) ?? '';
    assert.ok(facts.includes(`team=${XSS_LABEL}`), facts);
    await screenshot(page, 'hostile');
    await assertNoInjection(page);
    await page.goto(`${url()}/#/`);
  });

  it('follows containers that come and go without a reload', LONG, async () => {
    await page.evaluate('window.__noReload = true');
    const late = await runContainer(`${PREFIX}late`, [
      '--network',
      'none',
      BUSYBOX_IMAGE,
      ...['sleep', '3600'],
    ]);
    await page.locator(rowSelector(late)).waitFor({ timeout: WAIT_MS });
    await removeContainers([`${PREFIX}idle`]);
    await page
      .locator(rowSelector(ids.get('idle') ?? ''))
      .waitFor({ state: 'detached', timeout: WAIT_MS });
    assert.equal(await page.evaluate<boolean>('window.__noReload'), true);
    await screenshot(page, 'after-changes');
  });

  it('shows a banner when the agent goes away', LONG, async () => {
    assert.equal(await page.locator('#banner').isHidden(), true);
    await agent?.stop();
    await page.locator('#banner').waitFor({ state: 'visible' });
    await screenshot(page, 'disconnected');
    assert.deepEqual(pageErrors, []);
  });

  it('recovers by itself when the agent comes back', LONG, async () => {
    const port = Number(new URL(url()).port);
    const stale = await page.locator('#updated').textContent();
    agent = await startAgent(
      [...['--docker.labels', 'team'], '--no-collector.containerd'],
      port,
    );
    await page.locator('#banner').waitFor({ state: 'hidden', timeout: 60_000 });
    // Live again: ticks from the new agent move the clock on.
    await page.waitForFunction(
      `document.querySelector('#updated')?.textContent !== ${JSON.stringify(stale)}`,
      undefined,
      { timeout: 30_000 },
    );

    await page.locator(rowSelector(vmId)).waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate<boolean>('window.__noReload'), true);
    assert.deepEqual(pageErrors, []);
  });
});
