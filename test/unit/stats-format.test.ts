import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildRows,
  rowFields,
  selectRows,
  sortRows,
  type StatsReading,
  type StatsRow,
  type StatsWorkload,
} from '../../agent/src/cli/stats/format.js';
import {
  bytesSize,
  goFixed,
  goGeneral,
  humanSize,
} from '../../agent/src/units.js';
import {
  HIDE_CURSOR,
  redraw,
  Screen,
  SHOW_CURSOR,
  type Output,
} from '../../agent/src/cli/stats/screen.js';
import {
  alignColumns,
  FIELD_NAMES,
  jsonObject,
  parseTemplate,
  renderRows,
  TemplateError,
  type StatsFields,
} from '../../agent/src/cli/stats/template.js';
import type { WorkloadUsage } from '../../agent/src/model.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** MemTotal of the machine the docker output below was taken on. */
const HOST_MEMORY = 24_683_664 * KiB;

// Taken from Docker 28.2.2 (engine 20.10.24) on this machine, with three
// busybox containers started as test/rig/docker.ts starts them: a busy
// loop, `sleep 3600`, and 64 MiB written to a tmpfs.
const DOCKER_TABLE = [
  'CONTAINER ID   NAME                 CPU %     MEM USAGE / LIMIT     MEM %     NET I/O   BLOCK I/O    PIDS',
  '74d8b0a5ac25   ms-stats-ex-holder   0.00%     64.73MiB / 23.54GiB   0.27%     0B / 0B   0B / 0B      1',
  '90f6c3656bf2   ms-stats-ex-idle     0.00%     424KiB / 23.54GiB     0.00%     0B / 0B   0B / 0B      1',
  'e2e3eee5f812   ms-stats-ex-burner   98.43%    404KiB / 23.54GiB     0.00%     0B / 0B   4.1kB / 0B   1',
  '',
].join('\n');

const DOCKER_JSON = [
  '{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"74d8b0a5ac25","ID":"74d8b0a5ac25","MemPerc":"0.27%","MemUsage":"64.73MiB / 23.54GiB","Name":"ms-stats-ex-holder","NetIO":"0B / 0B","PIDs":"1"}',
  '{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"90f6c3656bf2","ID":"90f6c3656bf2","MemPerc":"0.00%","MemUsage":"424KiB / 23.54GiB","Name":"ms-stats-ex-idle","NetIO":"0B / 0B","PIDs":"1"}',
  '{"BlockIO":"4.1kB / 0B","CPUPerc":"98.26%","Container":"e2e3eee5f812","ID":"e2e3eee5f812","MemPerc":"0.00%","MemUsage":"404KiB / 23.54GiB","Name":"ms-stats-ex-burner","NetIO":"0B / 0B","PIDs":"1"}',
];

/** `docker stats --no-stream --format 'table {{.Container}}\t{{.Name}}\t{{.PIDs}}' ms-stats-ex-idle` */
const DOCKER_CUSTOM_TABLE = [
  'CONTAINER          NAME               PIDS',
  'ms-stats-ex-idle   ms-stats-ex-idle   1',
  '',
].join('\n');

const DOCKER_DEFAULT_FORMAT =
  'table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}' +
  '\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}';

const EXTRA = { Kind: 'container', Runtime: 'runc', Hypervisor: '--' };

/** docker's JSON lines as our fields (plus the three keys docker lacks). */
function dockerFields(): StatsFields[] {
  return DOCKER_JSON.map(
    (line) => ({ ...(JSON.parse(line) as object), ...EXTRA }) as StatsFields,
  );
}

describe('sizes and percentages as docker prints them', () => {
  const cases: [string, () => string, string][] = [
    ['zero', () => bytesSize(0), '0B'],
    ['idle container', () => bytesSize(424 * KiB), '424KiB'],
    ['burner', () => bytesSize(404 * KiB), '404KiB'],
    ['holder', () => bytesSize(67_874_734), '64.73MiB'],
    ['host memory', () => bytesSize(HOST_MEMORY), '23.54GiB'],
    ['a whole MiB', () => bytesSize(MiB), '1MiB'],
    [
      'just below a MiB rounds up in place',
      () => bytesSize(MiB - 1),
      '1024KiB',
    ],
    ['halfway rounds to even', () => bytesSize(10.125 * MiB), '10.12MiB'],
    ['halfway, odd digit', () => bytesSize(10.375 * MiB), '10.38MiB'],
    ['one byte', () => bytesSize(1), '1B'],
    ['block read of one page', () => humanSize(4096), '4.1kB'],
    ['decimal zero', () => humanSize(0), '0B'],
    ['1.05MB', () => humanSize(1_048_576), '1.05MB'],
    ['three digits', () => humanSize(371_000), '371kB'],
    ['Go switches to %e', () => humanSize(999_700), '1e+03kB'],
    ['gigabytes', () => humanSize(16_777_216_000), '16.8GB'],
    ['percent', () => goFixed(98.4321, 2), '98.43'],
    ['percent tie to even', () => goFixed(0.125, 2), '0.12'],
    ['percent tie, odd', () => goFixed(0.375, 2), '0.38'],
    ['percent carry', () => goFixed(99.999, 2), '100.00'],
    ['small percent', () => goFixed(0.004, 2), '0.00'],
    ['%g small', () => goGeneral(0.00001234, 3), '1.23e-05'],
  ];
  for (const [what, actual, expected] of cases) {
    it(`${what}: ${expected}`, () => {
      assert.equal(actual(), expected);
    });
  }
});

describe('templates', () => {
  it('lays out docker default table byte for byte', () => {
    const template = parseTemplate(DOCKER_DEFAULT_FORMAT);
    // The table and the JSON come from two runs; the burner's CPU differs.
    const rows = dockerFields().map((row) =>
      row.Name === 'ms-stats-ex-burner' ? { ...row, CPUPerc: '98.43%' } : row,
    );
    assert.equal(renderRows(template, rows), DOCKER_TABLE);
  });

  it('lays out a custom table like docker', () => {
    const template = parseTemplate(
      'table {{.Container}}\\t{{.Name}}\\t{{.PIDs}}',
    );
    const [, idle] = dockerFields();
    assert.ok(idle !== undefined);
    const row = { ...idle, Container: 'ms-stats-ex-idle' };
    assert.equal(renderRows(template, [row]), DOCKER_CUSTOM_TABLE);
  });

  it('writes {{json .}} with docker keys in docker order', () => {
    for (const format of ['json', '{{json .}}', '{{ json . }}']) {
      const lines = renderRows(parseTemplate(format), dockerFields())
        .trimEnd()
        .split('\n');
      assert.equal(lines.length, DOCKER_JSON.length);
      lines.forEach((line, i) => {
        const parsed = JSON.parse(line) as Record<string, string>;
        assert.deepEqual(
          Object.keys(parsed),
          [...FIELD_NAMES].sort(),
          'all keys, sorted as Go sorts a map',
        );
        for (const key of Object.keys(EXTRA))
          Reflect.deleteProperty(parsed, key);
        assert.equal(JSON.stringify(parsed), DOCKER_JSON[i]);
      });
    }
  });

  it('keeps HTML characters and escapes line separators as Go does', () => {
    const [row] = dockerFields();
    assert.ok(row !== undefined);
    const json = jsonObject({ ...row, Name: 'a<b>&c\u2028' });
    assert.ok(json.includes('"Name":"a<b>&c\\u2028"'), json);
  });

  it('fills plain placeholders, one line per row, no header', () => {
    const template = parseTemplate('{{.Name}}: {{ .CPUPerc }} {{.Kind}}');
    assert.equal(
      renderRows(template, dockerFields().slice(0, 2)),
      'ms-stats-ex-holder: 0.00% container\n' +
        'ms-stats-ex-idle: 0.00% container\n',
    );
  });

  it('has headers for the microstat placeholders', () => {
    const template = parseTemplate(
      'table {{.Name}}\\t{{.Kind}}\\t{{.Runtime}}\\t{{.Hypervisor}}',
    );
    const header = renderRows(template, []).split('\n')[0];
    assert.equal(header, 'NAME      KIND      RUNTIME   HYPERVISOR');
  });

  it('rejects unknown placeholders with the ones it knows', () => {
    for (const format of [
      '{{.Foo}}',
      'table {{.Name}}\\t{{.MemLimit}}',
      '{{.Name | upper}}',
      '{{range .}}',
    ]) {
      assert.throws(
        () => parseTemplate(format),
        (error: unknown) =>
          error instanceof TemplateError &&
          error.message.includes('unknown placeholder') &&
          error.message.includes('{{.CPUPerc}}'),
        format,
      );
    }
    assert.throws(() => parseTemplate('{{.Name'), /unclosed action/);
  });

  it('aligns only the cells that end in a tab, ten columns at least', () => {
    assert.equal(
      alignColumns('a\tbb\tccc\nlonger name\tx\ty\n'),
      ['a             bb        ccc', 'longer name   x         y', ''].join(
        '\n',
      ),
    );
  });
});

function workload(
  name: string,
  extra: Partial<StatsWorkload> = {},
): StatsWorkload {
  return {
    id: `${name}-0123456789abcdef`,
    name,
    kind: 'container',
    runtime: 'runc',
    hypervisor: '',
    ...extra,
  };
}

/** A reading of a two-CPU host at `seconds` on the monotonic clock. */
function reading(
  seconds: number,
  entries: [StatsWorkload, WorkloadUsage][],
): StatsReading {
  return {
    monotonicSeconds: seconds,
    host: {
      cpus: 2,
      memoryTotalBytes: HOST_MEMORY,
      stealCpuSeconds: 0,
      monotonicSeconds: seconds,
    },
    workloads: entries.map(([w, usage]) => ({ workload: w, usage })),
  };
}

describe('rows from two readings', () => {
  const burner = workload('burner');
  const idle = workload('idle');
  const vm = workload('vm', {
    kind: 'microvm',
    runtime: 'kata',
    hypervisor: 'qemu',
  });
  const gone = workload('stopped');
  const io = {
    networkReceiveBytes: 1_048_576,
    networkTransmitBytes: 0,
    blockReadBytes: 4096,
    blockWriteBytes: 0,
  };
  const a = reading(500, [
    [burner, { cpuSeconds: 10, memoryUsageBytes: 404 * KiB, pids: 1 }],
    [idle, { cpuSeconds: 1, memoryUsageBytes: 424 * KiB, pids: 1, ...io }],
    [vm, { cpuSeconds: 50, memoryUsageBytes: 300 * MiB, pids: 9 }],
  ]);
  // One second later: 2 s of host CPU on 2 CPUs.
  const b = reading(501, [
    [
      burner,
      {
        cpuSeconds: 10.9843,
        memoryUsageBytes: 404 * KiB,
        memoryLimit: 'unlimited',
        pids: 1,
      },
    ],
    [idle, { cpuSeconds: 1, memoryUsageBytes: 424 * KiB, pids: 1, ...io }],
    [
      vm,
      {
        cpuSeconds: 50.5,
        memoryUsageBytes: 307.5 * MiB,
        memoryLimit: 512 * MiB,
        pids: 9,
      },
    ],
  ]);
  const rows = buildRows(a, b, [gone]);
  const byName = (name: string): StatsRow => {
    const row = rows.find((r) => r.name === name);
    assert.ok(row !== undefined, name);
    return row;
  };

  it('prints a container as docker does', () => {
    const fields = rowFields(byName('burner'), true);
    assert.deepEqual(fields, {
      Container: 'burner-01234',
      ID: 'burner-01234',
      Name: 'burner',
      CPUPerc: '98.43%',
      MemUsage: '404KiB / 23.54GiB',
      MemPerc: '0.00%',
      NetIO: '--',
      BlockIO: '--',
      PIDs: '1',
      Kind: 'container',
      Runtime: 'runc',
      Hypervisor: '--',
    });
    assert.equal(rowFields(byName('idle'), true).NetIO, '1.05MB / 0B');
    assert.equal(rowFields(byName('idle'), true).BlockIO, '4.1kB / 0B');
    assert.equal(rowFields(byName('idle'), true).CPUPerc, '0.00%');
  });

  it('shows a microVM against its configured memory', () => {
    const fields = rowFields(byName('vm'), false);
    assert.equal(fields.ID, vm.id);
    assert.equal(fields.CPUPerc, '50.00%');
    assert.equal(fields.MemUsage, '307.5MiB / 512MiB');
    assert.equal(fields.MemPerc, '60.06%');
    assert.equal(fields.Runtime, 'kata/qemu');
    assert.equal(fields.Hypervisor, 'qemu');
  });

  it('shows a known workload without a reading in docker shapes', () => {
    const fields = rowFields(byName('stopped'), true);
    assert.equal(fields.CPUPerc, '--');
    assert.equal(fields.MemUsage, '-- / --');
    assert.equal(fields.NetIO, '--');
    assert.equal(fields.PIDs, '--');
  });

  it('has no CPU % for a workload only the second reading has', () => {
    const only = buildRows(reading(500, []), b);
    assert.equal(only.find((r) => r.name === 'burner')?.cpuPercent, undefined);
    assert.equal(rowFields(only[0] as StatsRow, true).CPUPerc, '--');
  });

  it('sorts by cpu, mem and name', () => {
    const names = (key: 'cpu' | 'mem' | 'name'): string[] =>
      sortRows(rows, key).map((r) => r.name);
    assert.deepEqual(names('cpu'), ['burner', 'vm', 'idle', 'stopped']);
    assert.deepEqual(names('mem'), ['vm', 'idle', 'burner', 'stopped']);
    assert.deepEqual(names('name'), ['burner', 'idle', 'stopped', 'vm']);
  });

  it('selects by name or id prefix, and names what it did not find', () => {
    const picked = selectRows(rows, ['idle', 'vm-0123', 'nosuch']);
    assert.deepEqual(
      picked.rows.map((r) => [r.name, r.container]),
      [
        ['idle', 'idle'],
        ['vm', 'vm-0123'],
      ],
    );
    assert.deepEqual(picked.missing, ['nosuch']);
    assert.equal(
      rowFields(picked.rows[1] as StatsRow, true).Container,
      'vm-0123',
    );
  });

  it('filters by kind the way the command does', () => {
    const microvms = rows.filter((r) => r.kind === 'microvm');
    assert.deepEqual(
      microvms.map((r) => r.name),
      ['vm'],
    );
  });
});

describe('screen', () => {
  class Capture implements Output {
    text = '';
    constructor(
      readonly isTTY: boolean,
      readonly columns = 40,
      readonly rows = 5,
    ) {}
    write(chunk: string): boolean {
      this.text += chunk;
      return true;
    }
  }

  it('redraws in place: home, lines cleared to their end, rest cleared', () => {
    assert.equal(
      redraw('a\nb\n', { columns: 10, rows: 5 }),
      '\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J',
    );
  });

  it('keeps a frame inside the screen', () => {
    const frame = redraw('0123456789\n1\n2\n3\n4\n5\n', {
      columns: 5,
      rows: 3,
    });
    assert.equal(frame, '\x1b[H0123\x1b[K\n1\x1b[K\n\x1b[J');
  });

  it('writes no escape codes when not on a terminal', () => {
    const out = new Capture(false);
    const screen = new Screen(out, true);
    screen.frame('one\n');
    screen.frame('two\n');
    screen.restore();
    assert.equal(out.text, 'one\ntwo\n');
  });

  it('hides the cursor while live and shows it once at the end', () => {
    const out = new Capture(true);
    const screen = new Screen(out, true);
    screen.frame('one\n');
    screen.frame('two\n');
    screen.restore();
    screen.restore();
    assert.ok(out.text.startsWith(HIDE_CURSOR));
    assert.equal(out.text.split(HIDE_CURSOR).length, 2);
    assert.ok(out.text.endsWith(SHOW_CURSOR));
    assert.equal(out.text.split(SHOW_CURSOR).length, 2);
    assert.ok(!out.text.includes('\x1b[2J'), 'never clears the whole screen');
  });

  it('prints --no-stream plainly even on a terminal', () => {
    const out = new Capture(true);
    const screen = new Screen(out, false);
    screen.frame('one\n');
    screen.restore();
    assert.equal(out.text, 'one\n');
  });
});
