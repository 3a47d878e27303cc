import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

import { parseAllDocuments, parse } from 'yaml';

import {
  getText,
  parseMetrics,
  startAgent,
  type RunningAgent,
} from '../rig/agent.js';
import {
  dockerRunOptions,
  execForm,
  readAgentService,
  readDockerfile,
} from '../rig/compose.js';
import {
  BUSYBOX_IMAGE,
  ensureDocker,
  removeContainers,
  run,
  runContainer,
} from '../rig/docker.js';
import {
  readDashboard,
  substitute,
  type PanelQuery,
} from '../rig/grafana-queries.js';
import { validateManifest } from '../rig/kubernetes.js';
import { startMicroVm, type MicroVm } from '../rig/microvm.js';
import { repoRoot } from '../rig/paths.js';
import { startPrometheus, type RunningPrometheus } from '../rig/prometheus.js';

/**
 * The stack around the agent: the Prometheus config, rules and their unit
 * tests through promtool; the dashboards and rules against a real
 * Prometheus scraping real agents (live containers and a QEMU microVM, plus
 * two fixture hosts for a fleet); the compose file, the Dockerfile and the
 * agent running in a container the way compose runs it; the Kubernetes
 * manifests against the API schemas.
 */

const exec = promisify(execFile);
const PREFIX = 'ms-stack-';
const RULES = join(repoRoot, 'prometheus', 'rules', 'microstat.rules.yml');
const LONG = { timeout: 300_000 };
/** How long a query may take to return data while scrapes accumulate. */
const DATA_WAIT_MS = 90_000;

function failure(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const parts = ['stdout', 'stderr'].map((key) =>
      key in error ? String((error as Record<string, unknown>)[key]) : '',
    );
    const message = error instanceof Error ? error.message : '';
    return `${message}\n${parts.join('\n')}`;
  }
  return String(error);
}

/** Runs a tool; on a non-zero exit the assertion carries its output. */
async function tool(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await exec(command, args, {
      cwd: repoRoot,
      timeout: 120_000,
    });
    return stdout + stderr;
  } catch (error: unknown) {
    assert.fail(`${command} ${args.join(' ')} failed:\n${failure(error)}`);
  }
}

describe('promtool on the Prometheus files', () => {
  it('check config', async () => {
    await tool('promtool', ['check', 'config', 'prometheus/prometheus.yml']);
  });

  it('check rules', async () => {
    const out = await tool('promtool', ['check', 'rules', RULES]);
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  it('test rules: every alert fires in one case and not in another', async () => {
    const tests = join(repoRoot, 'prometheus', 'tests');
    const file = join(tests, 'microstat.rules.test.yml');
    const out = await tool('promtool', ['test', 'rules', file]);
    assert.match(out, /SUCCESS/);

    const cases = alertCases(parse(await readFile(file, 'utf8')));
    for (const alert of await alertNames()) {
      const seen = cases.get(alert) ?? new Set();
      assert.ok(seen.has('fires'), `${alert} has a firing case`);
      assert.ok(seen.has('quiet'), `${alert} has a quiet case`);
    }
  });
});

/** For each alert of a promtool test file: whether it fires, stays quiet. */
function alertCases(suite: unknown): Map<string, Set<'fires' | 'quiet'>> {
  const cases = new Map<string, Set<'fires' | 'quiet'>>();
  const tests = (suite as { tests?: { alert_rule_test?: unknown[] }[] }).tests;
  for (const test of tests ?? []) {
    for (const entry of test.alert_rule_test ?? []) {
      const { alertname, exp_alerts: expected } = entry as {
        alertname?: string;
        exp_alerts?: unknown[];
      };
      if (alertname === undefined) continue;
      const seen = cases.get(alertname) ?? new Set();
      seen.add((expected ?? []).length > 0 ? 'fires' : 'quiet');
      cases.set(alertname, seen);
    }
  }
  return cases;
}

interface RuleEntry {
  readonly kind: 'record' | 'alert';
  readonly name: string;
  readonly expr: string;
}

async function ruleEntries(): Promise<RuleEntry[]> {
  const doc: unknown = parse(await readFile(RULES, 'utf8'));
  const groups = (doc as { groups?: { rules?: Record<string, unknown>[] }[] })
    .groups;
  const entries: RuleEntry[] = [];
  for (const group of groups ?? []) {
    for (const rule of group.rules ?? []) {
      const expr = String(rule['expr']);
      if (typeof rule['record'] === 'string') {
        entries.push({ kind: 'record', name: rule['record'], expr });
      } else if (typeof rule['alert'] === 'string') {
        entries.push({ kind: 'alert', name: rule['alert'], expr });
      }
    }
  }
  return entries;
}

async function alertNames(): Promise<string[]> {
  return (await ruleEntries())
    .filter((e) => e.kind === 'alert')
    .map((e) => e.name);
}

/**
 * The series selectors an expression reads: metric names with their
 * matchers. Function names, keywords and label names inside by()/on() are
 * not followed by `{` or part of a metric family we export, so they stay
 * out.
 */
function selectors(expr: string): string[] {
  const name =
    String.raw`(?:microstat_\w+|up|` +
    String.raw`(?:workload|microvm|microvm_component|instance_kind):[\w:]+)`;
  const found = expr.match(
    new RegExp(String.raw`\b${name}(?:\{[^}]*\})?`, 'g'),
  );
  return [...new Set(found ?? [])];
}

async function eventually(
  prometheus: RunningPrometheus,
  expr: string,
): Promise<number> {
  const deadline = Date.now() + DATA_WAIT_MS;
  for (;;) {
    const result = await prometheus.query(expr);
    if (result.length > 0) return result.length;
    if (Date.now() > deadline) return 0;
    await delay(1000);
  }
}

describe('a real Prometheus over live agents', () => {
  const vmId = randomBytes(32).toString('hex');
  const names = {
    burner: `${PREFIX}burner`,
    holder: `${PREFIX}holder`,
  };
  const agents: RunningAgent[] = [];
  let live: RunningAgent;
  let prometheus: RunningPrometheus;
  let vm: MicroVm | undefined;
  let holderId = '';
  let emptyRun = '';

  before(async () => {
    await ensureDocker();
    await removeContainers(Object.values(names));
    await runContainer(names.burner, [
      ...['--network', 'none', '--cpus', '0.5'],
      ...[BUSYBOX_IMAGE, 'sh', '-c', 'while :; do :; done'],
    ]);
    holderId = await runContainer(names.holder, [
      ...['--network', 'none', '--memory', '128m', '--pids-limit', '50'],
      ...['--tmpfs', '/mem:size=64m', BUSYBOX_IMAGE],
      ...['sh', '-c', 'head -c 33554432 /dev/zero > /mem/blob; sleep 3600'],
    ]);
    vm = await startMicroVm({ id: vmId, memoryMiB: 256, vcpus: 1 });

    emptyRun = await mkdtemp(join(tmpdir(), 'ms-stack-run-'));
    const fixture = (name: string): string[] => {
      const base = join(repoRoot, 'test', 'fixtures', 'hosts', name);
      return [
        ...['--path.procfs', join(base, 'proc')],
        ...['--path.cgroupfs', join(base, 'cgroup')],
        '--no-collector.docker',
        '--no-collector.containerd',
      ];
    };
    live = await startAgent(['--no-collector.containerd']);
    agents.push(live);
    agents.push(
      await startAgent([...fixture('v1-cgroupfs'), '--path.run', emptyRun]),
    );
    const kataRun = join(repoRoot, 'test', 'fixtures', 'hosts', 'v2-kata');
    agents.push(
      await startAgent([
        ...fixture('v2-kata'),
        ...['--path.run', join(kataRun, 'run')],
      ]),
    );
    prometheus = await startPrometheus(
      agents.map((a) => a.url.replace('http://', '')),
      [RULES],
    );
  }, LONG);

  after(async () => {
    // Undefined when before() failed early.
    await (prometheus as RunningPrometheus | undefined)?.stop();
    for (const agent of agents) await agent.stop();
    await vm?.stop();
    await removeContainers(Object.values(names));
    if (emptyRun !== '') await rm(emptyRun, { recursive: true, force: true });
  });

  it('scrapes all three agents', LONG, async () => {
    const all = 'count(up{job="microstat"} == 1) == 3';
    assert.equal(await eventually(prometheus, all), 1, prometheus.logs());
  });

  /**
   * Every panel of a dashboard returns data for at least one of the
   * workloads. Panels are polled in rounds against one deadline, so a
   * panel that only one workload can fill (a microVM's guest, a
   * container's pids limit) costs no wait of its own on the others.
   */
  async function checkPanels(
    file: string,
    workloads: readonly string[],
  ): Promise<void> {
    const dashboard = await readDashboard(file);
    let missing = [...dashboard.panels];
    const deadline = Date.now() + DATA_WAIT_MS;
    for (;;) {
      const still: PanelQuery[] = [];
      for (const panel of missing) {
        let found = false;
        for (const workload of workloads) {
          const expr = substitute(panel.expr, {
            instance: '.*',
            workload,
            __rate_interval: '1m',
          });
          if ((await prometheus.query(expr)).length > 0) {
            found = true;
            break;
          }
        }
        if (!found) still.push(panel);
      }
      missing = still;
      if (missing.length === 0 || Date.now() > deadline) break;
      await delay(1000);
    }
    assert.deepEqual(
      missing.map((p) => `${p.panel} ${p.refId}: ${p.expr}`),
      [],
      `${file}: panels without data`,
    );
  }

  it('every overview panel query returns data', LONG, async () => {
    await checkPanels('microstat-overview.json', ['']);
  });

  it('every drill-down panel query returns data', LONG, async () => {
    // The guest and component panels are for microVMs; pids_limit and a
    // memory limit of its own come with the holder.
    await checkPanels('microstat-workload.json', [vmId, holderId]);
  });

  it('every recording rule returns data', LONG, async () => {
    for (const rule of await ruleEntries()) {
      if (rule.kind !== 'record') continue;
      assert.ok(
        (await eventually(prometheus, rule.name)) > 0,
        `${rule.name} has no data`,
      );
    }
  });

  it(
    'every alert expression parses and reads series that exist',
    LONG,
    async () => {
      for (const rule of await ruleEntries()) {
        if (rule.kind !== 'alert') continue;
        // A parse error is a 400 answer, which query() turns into a throw.
        const firing = await prometheus.query(rule.expr);
        if (firing.length > 0) continue;
        for (const selector of selectors(rule.expr)) {
          assert.ok(
            (await eventually(prometheus, selector)) > 0,
            `${rule.name}: ${selector} has no data`,
          );
        }
      }
    },
  );

  it('the fleet: three hosts under one Prometheus', LONG, async () => {
    const instances = agents.map((a) => a.url.replace('http://', '')).sort();
    await eventually(prometheus, 'count(microstat_host_cpus) == 3');
    const overview = await readDashboard('microstat-overview.json');
    const variable = overview.variables.find((v) => v.name === 'instance');
    assert.equal(
      variable?.query,
      'label_values(microstat_host_cpus, instance)',
    );
    const values = await prometheus.labelValues(
      'instance',
      'microstat_host_cpus',
    );
    assert.deepEqual([...values].sort(), instances);

    // The host panels of the overview add up all three hosts.
    let cpus = 0;
    for (const agent of agents) {
      const samples = parseMetrics(await getText(`${agent.url}/metrics`));
      cpus += samples.find((s) => s.name === 'microstat_host_cpus')?.value ?? 0;
    }
    const panel = (title: string): string => {
      const found = overview.panels.find((p) => p.panel === title);
      assert.ok(found, `overview has ${title}`);
      return substitute(found.expr, { instance: '.*' });
    };
    assert.equal((await prometheus.query(panel('Hosts')))[0]?.value, 3);
    assert.equal((await prometheus.query(panel('Host CPUs')))[0]?.value, cpus);

    // Per-host workload CPU covers every host that has workloads: the live
    // one and the Kata fixture (the v1 fixture has no Docker to ask).
    const perHost = await prometheus.query(panel('Workload CPU per host'));
    const hosts = perHost.map((s) => s.metric['instance']);
    for (const agent of [agents[0], agents[2]]) {
      const instance = agent?.url.replace('http://', '');
      assert.ok(hosts.includes(instance), `${instance} in ${hosts.join()}`);
    }
  });
});

describe('docker-compose.yml and the Dockerfile', () => {
  it('validates with docker-compose (v1)', LONG, async () => {
    const out = await tool('docker-compose', [
      ...['-f', join(repoRoot, 'docker-compose.yml')],
      ...['--project-directory', repoRoot],
      'config',
    ]);
    const config: unknown = parse(out);
    const services = (config as { services?: Record<string, unknown> })
      .services;
    assert.deepEqual(Object.keys(services ?? {}).sort(), [
      'agent',
      'alertmanager',
      'grafana',
      'prometheus',
    ]);
  });

  it('the Dockerfile parses and runs what compose runs', async () => {
    const instructions = await readDockerfile();
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const from of froms) {
      assert.match(from.args, /^node:20-bookworm-slim\b/);
    }
    const stages = froms.flatMap((f) => /\bAS (\S+)/i.exec(f.args)?.[1] ?? []);
    for (const copy of instructions.filter((i) => i.keyword === 'COPY')) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      if (from !== undefined) assert.ok(stages.includes(from), copy.args);
    }
    assert.ok(
      instructions.some(
        (i) =>
          i.keyword === 'RUN' && i.args.includes('npm ci && npm run build'),
      ),
    );
    const last = (keyword: string): string =>
      instructions.filter((i) => i.keyword === keyword).at(-1)?.args ?? '';
    assert.deepEqual(execForm(last('ENTRYPOINT')), [
      'node',
      'dist/agent/src/cli/main.js',
    ]);
    const service = await readAgentService();
    assert.deepEqual(execForm(last('CMD')), service.command);
    assert.equal(last('USER'), 'root');
  });
});

/**
 * The files the agent needs at run time, mounted read-only into the local
 * busybox image. The test does not build the Dockerfile: its base image
 * (node:20-bookworm-slim) cannot be pulled here, as no registry is
 * reachable. The host's node, its shared libraries (from ldd) and the
 * repository's dist/ and node_modules/ stand in for the image's /app.
 */
async function runtimeMounts(): Promise<string[]> {
  const node = await realpath(process.execPath);
  const { stdout } = await exec('ldd', [node]);
  const libraries = [...stdout.matchAll(/(\/\S+)\s+\(0x/g)].flatMap((m) =>
    m[1] === undefined ? [] : [m[1]],
  );
  const mounts = [`${node}:/usr/bin/node:ro`];
  for (const library of libraries) {
    mounts.push(`${await realpath(library)}:${library}:ro`);
  }
  for (const entry of ['dist', 'node_modules', 'package.json']) {
    mounts.push(`${join(repoRoot, entry)}:/app/${entry}:ro`);
  }
  return mounts.flatMap((mount) => ['-v', mount]);
}

describe('the agent in a container, as compose runs it', () => {
  const agentName = `${PREFIX}agent`;
  const workloadName = `${PREFIX}sleeper`;

  before(async () => {
    await ensureDocker();
    await removeContainers([agentName, workloadName]);
  });

  after(async () => {
    await removeContainers([agentName, workloadName]);
  });

  it('reports the host workloads', LONG, async () => {
    const sleeperId = await runContainer(workloadName, [
      ...['--network', 'none', BUSYBOX_IMAGE, 'sleep', '3600'],
    ]);
    const service = await readAgentService();
    const entrypoint = execForm(
      (await readDockerfile()).filter((i) => i.keyword === 'ENTRYPOINT').at(-1)
        ?.args ?? '[]',
    );
    // No network: the test reads /metrics from inside the container.
    await runContainer(agentName, [
      ...['--network', 'none', '-w', '/app', '-e', 'PATH=/usr/bin:/bin'],
      ...dockerRunOptions(service),
      // As Docker does by default on cgroup v2 hosts (this one is v1): the
      // agent must resolve cgroup paths seen from its own namespace.
      ...['--cgroupns', 'private'],
      ...(await runtimeMounts()),
      ...['--entrypoint', entrypoint[0] ?? 'node', BUSYBOX_IMAGE],
      ...entrypoint.slice(1),
      ...service.command,
    ]);

    const fetchMetrics = [
      'exec',
      agentName,
      'node',
      '-e',
      "fetch('http://127.0.0.1:8095/metrics')" +
        '.then((r) => r.text()).then((t) => process.stdout.write(t))',
    ];
    const deadline = Date.now() + 60_000;
    let text = '';
    for (;;) {
      text = await run(fetchMetrics).catch(() => '');
      if (text.includes(sleeperId)) break;
      if (Date.now() > deadline) {
        const logs = await run(['logs', agentName]).catch(String);
        assert.fail(`${workloadName} not in the agent's metrics:\n${logs}`);
      }
      await delay(1000);
    }
    const samples = parseMetrics(text);
    const info = samples.find(
      (s) =>
        s.name === 'microstat_workload_info' && s.labels['id'] === sleeperId,
    );
    assert.equal(info?.labels['name'], workloadName);
    const success = samples.find(
      (s) =>
        s.name === 'microstat_collector_success' &&
        s.labels['collector'] === 'docker',
    );
    assert.equal(success?.value, 1);
    const cpu = samples.find(
      (s) =>
        s.name === 'microstat_workload_cpu_seconds_total' &&
        s.labels['id'] === sleeperId,
    );
    assert.ok(cpu !== undefined, 'CPU read through /host/sys/fs/cgroup');
  });
});

describe('Kubernetes manifests', () => {
  const dir = join(repoRoot, 'deploy', 'kubernetes');

  async function documents(file: string): Promise<unknown[]> {
    const text = await readFile(join(dir, file), 'utf8');
    return parseAllDocuments(text).map((doc) => {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      return doc.toJS() as unknown;
    });
  }

  it('validate against the Kubernetes and operator schemas', async () => {
    const kustomization = (await documents('kustomization.yaml'))[0] as {
      resources?: string[];
    };
    const files = [...(kustomization.resources ?? []), 'kata-example.yaml'];
    assert.ok(files.length >= 5);
    const kinds: string[] = [];
    for (const file of files) {
      for (const doc of await documents(file)) {
        try {
          validateManifest(doc);
        } catch (error: unknown) {
          assert.fail(`${file}: ${String(error)}`);
        }
        kinds.push((doc as { kind: string }).kind);
      }
    }
    assert.deepEqual(kinds.sort(), [
      'DaemonSet',
      'Namespace',
      'Pod',
      'PodMonitor',
      'RuntimeClass',
      'Service',
    ]);
  });

  it('the schema check catches a broken manifest', () => {
    assert.throws(() => {
      validateManifest({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'x' },
        spec: { selector: {}, template: { spec: { hostPID: 'yes' } } },
      });
    }, /hostPID must be boolean|containers/);
  });

  it('the DaemonSet reads the host read-only with two capabilities', async () => {
    const [daemonSet] = (await documents('daemonset.yaml')) as {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: {
            hostPID: boolean;
            tolerations: { operator: string }[];
            containers: {
              ports: { name: string }[];
              resources: { requests?: object; limits?: object };
              securityContext: {
                readOnlyRootFilesystem: boolean;
                capabilities: { drop: string[]; add: string[] };
              };
              volumeMounts: { readOnly?: boolean }[];
            }[];
          };
        };
      };
    }[];
    const pod = daemonSet?.spec.template.spec;
    assert.ok(pod);
    assert.equal(pod.hostPID, true);
    assert.ok(pod.tolerations.some((t) => t.operator === 'Exists'));
    const [container] = pod.containers;
    assert.ok(container);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.deepEqual(container.securityContext.capabilities.add.sort(), [
      'DAC_READ_SEARCH',
      'SYS_PTRACE',
    ]);
    assert.ok(container.volumeMounts.every((m) => m.readOnly === true));
    assert.ok(container.resources.requests, 'resource requests');
    assert.ok(container.resources.limits, 'resource limits');

    const [monitor] = (await documents('podmonitor.yaml')) as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string }[];
      };
    }[];
    const labels = daemonSet.spec.template.metadata.labels;
    for (const [key, value] of Object.entries(
      monitor?.spec.selector.matchLabels ?? {},
    )) {
      assert.equal(labels[key], value, `PodMonitor selects the pods (${key})`);
    }
    assert.deepEqual(
      monitor?.spec.podMetricsEndpoints.map((e) => e.port),
      container.ports.map((p) => p.name),
    );
  });
});
