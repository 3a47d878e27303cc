import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { CgroupResolver } from '../../agent/src/discover/cgroups.js';
import { KataDiscovery } from '../../agent/src/discover/kata.js';
import { ProcFs } from '../../agent/src/host/procfs.js';
import { silentLogger } from '../../agent/src/log.js';
import type { Workload } from '../../agent/src/model.js';
import {
  buildHost,
  listingHost,
  parseListing,
  readListing,
  type FixtureProcess,
  type HostSpec,
  type KataHost,
} from './kata-tree.js';

// Kata discovery against fixture hosts built from real `ps` listings
// (test/fixtures/kata-ps) and from synthetic processes shaped like them.

/** pid, component, role of one host process of a sandbox. */
type Row = readonly [number, string, string];

/** What a test checks of one discovered sandbox. */
interface Sandbox {
  readonly id: string;
  readonly hypervisor: string;
  readonly state: string;
  readonly initPid: number | undefined;
  readonly processes: readonly Row[];
  readonly vcpus?: number;
  readonly memoryBytes?: number;
  readonly guestSocket?: string;
}

const GIB = 2 ** 30;
const MIB = 2 ** 20;

const hosts: KataHost[] = [];

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.remove()));
});

async function host(spec: HostSpec): Promise<KataHost> {
  const built = await buildHost(spec);
  hosts.push(built);
  return built;
}

async function listing(
  name: string,
  extra?: Partial<HostSpec>,
): Promise<KataHost> {
  const built = await listingHost(name, extra);
  hosts.push(built);
  return built;
}

function discovery(on: KataHost): KataDiscovery {
  const procfs = new ProcFs(on.proc);
  return new KataDiscovery({
    procfs,
    runDir: on.run,
    resolver: new CgroupResolver(procfs, on.cgroup),
    names: [],
    log: silentLogger(),
  });
}

async function scan(on: KataHost): Promise<Sandbox[]> {
  return (await discovery(on).scan()).map(summary);
}

function summary(w: Workload): Sandbox {
  const vm = w.microvm;
  return {
    id: w.id,
    hypervisor: w.hypervisor,
    state: w.state,
    initPid: w.initPid,
    processes: (vm?.processes ?? []).map((p) => [p.pid, p.component, p.role]),
    ...(vm?.vcpus === undefined ? {} : { vcpus: vm.vcpus }),
    ...(vm?.memoryBytes === undefined ? {} : { memoryBytes: vm.memoryBytes }),
    ...(vm?.guestSocket === undefined ? {} : { guestSocket: vm.guestSocket }),
  };
}

/** A process line as a test writes it: argv split on spaces. */
function proc(
  pid: number,
  ppid: number,
  cmd: string,
  extra: Partial<FixtureProcess> = {},
): FixtureProcess {
  return { pid, ppid, argv: cmd.split(' '), ...extra };
}

const ID01 = 'f696fbe1040067c976aebdb53365d79cb4d5e075b98dc28155f44c6a9320d415';
const ID04 = '39083257ece670d208aa2010c1d25d74490942858af1854c99c6f95c33b9d8d6';
const ID06 = 'ae2fb3b222175f7c5b64b05251c08998e0f08fe41d0c5d78982b25156e0c24aa';
const ID09 = '31910e6c6b8947d61ec5e60a4bcb64a4b08d26e258babe3f361fc2f0cfe26ec8';
const ID12 = '8564224395a4fbf7f2792baa22ee16dfc8f8e862e20342d3b2bcc211a3939af6';

/** Every listing with processes, and the sandboxes in it. */
const LISTINGS: readonly {
  readonly file: string;
  readonly what: string;
  readonly sandboxes: readonly Sandbox[];
}[] = [
  {
    file: '01.txt',
    what: 'Go shim, virtiofsd child of the shim, daemonized QEMU',
    sandboxes: [
      {
        id: ID01,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 381807,
        processes: [
          [381790, 'shim', 'shim'],
          [381801, 'virtiofsd', 'virtiofsd'],
          [381807, 'hypervisor', 'hypervisor'],
        ],
        memoryBytes: 2048 * MIB,
      },
    ],
  },
  {
    file: '04.txt',
    what: 'kata-deploy virtiofsd and QEMU, shim not in the excerpt',
    sandboxes: [
      {
        id: ID04,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 1856,
        processes: [
          [1848, 'virtiofsd', 'virtiofsd'],
          [1856, 'hypervisor', 'hypervisor'],
        ],
        memoryBytes: 2048 * MIB,
      },
    ],
  },
  {
    // ps aux shows no parents, and virtiofsd's argv is cut before the
    // shared directory: nothing ties it to the sandbox (see below).
    file: '06.txt',
    what: 'Go shim and Cloud Hypervisor with only its API socket',
    sandboxes: [
      {
        id: ID06,
        hypervisor: 'cloud-hypervisor',
        state: 'running',
        initPid: 154052,
        processes: [
          [154036, 'shim', 'shim'],
          [154052, 'hypervisor', 'hypervisor'],
        ],
      },
    ],
  },
  {
    file: '09.txt',
    what: 'Kata 1.x shim v2 with -debug after the id, QEMU',
    sandboxes: [
      {
        id: ID09,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 23811,
        processes: [
          [23771, 'shim', 'shim'],
          [23811, 'hypervisor', 'hypervisor'],
        ],
        memoryBytes: 10240 * MIB,
      },
    ],
  },
  {
    // The shim's argv is cut inside the id; its cgroup holds the full id
    // and a second process, which nothing else names.
    file: '12.txt',
    what: 'runtime-rs shim in kata_overhead/<id> (systemd-cgls)',
    sandboxes: [
      {
        id: ID12,
        hypervisor: '',
        state: 'no-hypervisor',
        initPid: undefined,
        processes: [
          [29743, 'shim', 'shim'],
          [29780, 'other', 'other'],
        ],
      },
    ],
  },
];

describe('fixture listings', () => {
  it('reads every process line and nothing else', async () => {
    const counts: Record<string, number> = {};
    for (const file of ['01', '04', '06', '09', '12', '17', '20']) {
      counts[file] = parseListing(await readListing(`${file}.txt`)).length;
    }
    assert.deepEqual(counts, {
      '01': 3,
      '04': 2,
      '06': 3,
      '09': 2,
      '12': 2,
      '17': 0,
      '20': 0,
    });
  });

  it('keeps the parents of ps -ef and argv cut where the excerpt was', async () => {
    const [shim, virtiofsd, qemu] = parseListing(await readListing('01.txt'));
    assert.deepEqual([shim?.ppid, virtiofsd?.ppid, qemu?.ppid], [1, 381790, 1]);
    assert.equal(
      qemu?.argv.at(-1),
      'virtconsole,chardev=charconsole0,id=conso',
    );
  });

  it('takes cgroups from systemd-cgls and drops its ">" mark', async () => {
    const [shim, other] = parseListing(await readListing('12.txt'));
    assert.equal(shim?.cgroup, `/kata_overhead/${ID12}`);
    assert.equal(other?.cgroup, `/kata_overhead/${ID12}`);
    assert.deepEqual(shim.argv.slice(1), ['-id', '8564224395a4fbf7f2792ba']);
    assert.deepEqual(other.argv, ['/home/vagrant/kata-stati']);
  });
});

describe('KataDiscovery on real listings', () => {
  for (const { file, what, sandboxes } of LISTINGS) {
    it(`${file}: ${what}`, async () => {
      assert.deepEqual(await scan(await listing(file)), sandboxes);
    });
  }

  it('gives the same answer on the next scan', async () => {
    for (const { file, sandboxes } of LISTINGS) {
      const kata = discovery(await listing(file));
      await kata.scan();
      const again = (await kata.scan()).map(summary);
      assert.deepEqual(again, sandboxes, file);
    }
  });

  it('finds all of them on one host, beside runc shims and plain VMs', async () => {
    const all: FixtureProcess[] = [...NOT_KATA];
    for (const { file } of LISTINGS) {
      all.push(...parseListing(await readListing(file)));
    }
    const found = await scan(await host({ processes: all }));
    const expected = LISTINGS.flatMap((l) => l.sandboxes);
    assert.deepEqual(
      found,
      [...expected].sort((a, b) => a.id.localeCompare(b.id)),
    );
  });

  it('12.txt: resolves the sandbox cgroup of the full id', async () => {
    const on = await listing('12.txt');
    const [found] = await discovery(on).scan();
    assert.deepEqual(found?.microvm?.cgroups, [
      { version: 2, dir: join(on.cgroup, 'kata_overhead', ID12) },
    ]);
  });

  it('06.txt: places virtiofsd once its parent, the shim, is known', async () => {
    const processes = parseListing(await readListing('06.txt')).map((p) =>
      p.pid === 154051 ? { ...p, ppid: 154036 } : p,
    );
    const [found] = await scan(await host({ processes }));
    assert.deepEqual(found?.processes, [
      [154036, 'shim', 'shim'],
      [154051, 'virtiofsd', 'virtiofsd'],
      [154052, 'hypervisor', 'hypervisor'],
    ]);
  });
});

const RUNC_ID =
  '0d3c8ba4b8e1f2c5a6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901234567';

/** Processes that look close to Kata's but are not. */
const NOT_KATA: readonly FixtureProcess[] = [
  proc(
    4100,
    1,
    `/usr/bin/containerd-shim-runc-v2 -namespace moby -id ${RUNC_ID} ` +
      '-address /run/containerd/containerd.sock',
  ),
  proc(4200, 1, 'qemu-system-x86_64 -m 1G -hda disk.img'),
  proc(
    4300,
    1,
    '/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -S ' +
      '-object {"qom-type":"secret","id":"masterKey0"} -machine pc-q35-8.2',
  ),
];

/** A Go runtime shim as containerd starts it. */
function goShim(pid: number, id: string): FixtureProcess {
  return proc(
    pid,
    1,
    '/opt/kata/bin/containerd-shim-kata-v2 -namespace k8s.io ' +
      '-address /run/containerd/containerd.sock ' +
      `-publish-binary /usr/bin/containerd -id ${id}`,
  );
}

/** A runtime-rs shim: `-id` comes first. */
function rustShim(
  pid: number,
  id: string,
  extra: Partial<FixtureProcess> = {},
): FixtureProcess {
  return proc(
    pid,
    1,
    `/opt/kata/runtime-rs/bin/containerd-shim-kata-v2 -id ${id} ` +
      '-namespace k8s.io -address /run/containerd/containerd.sock',
    extra,
  );
}

/** A Go runtime QEMU up to Kata 3.0: daemonized, QMP on a unix socket. */
function qemuProc(
  pid: number,
  ppid: number,
  id: string,
  run = '/run',
): FixtureProcess {
  return proc(
    pid,
    ppid,
    `/opt/kata/bin/qemu-system-x86_64 -name sandbox-${id},debug-threads=on ` +
      '-uuid 8b1c4e1a-3f0e-4c55-9d8e-2a7c5c2e4f10 -machine q35,accel=kvm ' +
      `-qmp unix:${run}/vc/vm/${id}/qmp.sock,server=on,wait=off ` +
      '-m 1024M,slots=10,maxmem=8G ' +
      '-smp 1,cores=1,threads=1,sockets=4,maxcpus=4 ' +
      `-pidfile ${run}/vc/vm/${id}/pid -daemonize`,
  );
}

function virtiofsd(
  pid: number,
  ppid: number,
  id: string,
  run = '/run',
): FixtureProcess {
  return proc(
    pid,
    ppid,
    '/opt/kata/libexec/virtiofsd --syslog -o cache=auto ' +
      `-o source=${run}/kata-containers/shared/sandboxes/${id}/shared ` +
      '--fd=3 -f --thread-pool-size=1',
  );
}

describe('KataDiscovery on synthetic hosts', () => {
  it('does not take runc shims, plain or libvirt QEMU for Kata', async () => {
    assert.deepEqual(await scan(await host({ processes: NOT_KATA })), []);
  });

  it('ignores argv cut before the id, without failing', async () => {
    const processes = [
      proc(5000, 1, 'qemu-system-x86_64 -name sand'),
      proc(
        5001,
        1,
        'containerd-shim-kata-v2 -namespace k8s.io ' +
          '-address /run/containerd/containerd.sock -id',
      ),
    ];
    assert.deepEqual(await scan(await host({ processes })), []);
  });

  it('finds a sandbox whose shim died: QEMU and virtiofsd alone', async () => {
    const id =
      'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
    const processes = [qemuProc(5100, 1, id), virtiofsd(5101, 1, id)];
    assert.deepEqual(await scan(await host({ processes })), [
      {
        id,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 5100,
        processes: [
          [5100, 'hypervisor', 'hypervisor'],
          [5101, 'virtiofsd', 'virtiofsd'],
        ],
        vcpus: 1,
        memoryBytes: GIB,
      },
    ]);
  });

  it('reads Kata 1.x: kata-proxy is other, kata-shim is shim', async () => {
    const id =
      'b2b5a8f1d7c94e3a9f0e1d2c3b4a59687f6e5d4c3b2a1908f7e6d5c4b3a29180';
    const cid =
      'e9d8c7b6a5f40312e9d8c7b6a5f40312e9d8c7b6a5f40312e9d8c7b6a5f40312';
    const agent = `unix:///run/vc/sbs/${id}/proxy.sock`;
    const processes = [
      proc(
        5200,
        1,
        `/usr/bin/qemu-lite-system-x86_64 -name sandbox-${id} ` +
          `-qmp unix:/run/vc/vm/${id}/qmp.sock,server,nowait ` +
          '-m 2048M,slots=10,maxmem=16G -smp 1,cores=1,maxcpus=4',
      ),
      proc(
        5210,
        1,
        `/usr/libexec/kata-containers/kata-proxy -listen-socket ${agent} ` +
          `-mux-socket /run/vc/sbs/${id}/proxy.sock -sandbox ${id}`,
      ),
      proc(
        5220,
        1,
        `/usr/libexec/kata-containers/kata-shim -agent ${agent} ` +
          `-container ${id} -exec-id ${id}`,
      ),
      proc(
        5221,
        1,
        `/usr/libexec/kata-containers/kata-shim -agent ${agent} ` +
          `-container ${cid} -exec-id ${cid}`,
      ),
    ];
    assert.deepEqual(await scan(await host({ processes })), [
      {
        id,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 5200,
        processes: [
          [5200, 'hypervisor', 'hypervisor'],
          [5210, 'other', 'kata-proxy'],
          [5220, 'shim', 'kata-shim'],
          [5221, 'shim', 'kata-shim'],
        ],
        vcpus: 1,
        memoryBytes: 2 * GIB,
      },
    ]);
  });

  it('finds rootless sandboxes below user/<uid>/run', async () => {
    const id =
      'a1b2c3d4e5f60718a1b2c3d4e5f60718a1b2c3d4e5f60718a1b2c3d4e5f60718';
    const xdg = '/run/user/1002/run';
    const uid = { uid: 1002 };
    const processes = [
      { ...goShim(5300, id), ...uid },
      { ...qemuProc(5310, 1, id, xdg), ...uid },
      { ...virtiofsd(5320, 5300, id, xdg), ...uid },
    ];
    const on = await host({
      processes,
      runFiles: {
        [`user/1002/run/vc/sbs/${id}/persist.json`]: JSON.stringify({
          HypervisorState: { Pid: 5310, Type: 'qemu' },
        }),
        [`user/1002/run/vc/vm/${id}/pid`]: '5310\n',
      },
    });
    assert.deepEqual(await scan(on), [
      {
        id,
        hypervisor: 'qemu',
        state: 'running',
        initPid: 5310,
        processes: [
          [5300, 'shim', 'shim'],
          [5310, 'hypervisor', 'hypervisor'],
          [5320, 'virtiofsd', 'virtiofsd'],
        ],
        vcpus: 1,
        memoryBytes: GIB,
        guestSocket: join(
          on.run,
          'user/1002/run/vc/sbs',
          id,
          'shim-monitor.sock',
        ),
      },
    ]);
  });
});

describe('KataDiscovery with Firecracker (paths from 17.txt)', () => {
  /** Sockets, full ids and jails named in the log excerpts. */
  async function notes(): Promise<{
    sockets: string[];
    fullIds: string[];
    jails: string[];
  }> {
    const text = await readListing('17.txt');
    const all = (pattern: RegExp): string[] =>
      [...text.matchAll(pattern)].map((m) => m[1] ?? '');
    return {
      sockets: all(/dial unix (\S+\/root\/run\/firecracker\.socket)/g),
      fullIds: all(/(?:ID|sandbox)=([0-9a-f]{64})\b/g),
      jails: all(/cleaningJail=(\S+)/g),
    };
  }

  it('does not take a Firecracker with nothing of Kata for a sandbox', async () => {
    // firecracker-containerd and plain Firecracker VMs use --id too.
    const on = await host({
      processes: [
        proc(
          9100,
          1,
          `/usr/bin/firecracker --id ${ID01.slice(0, 32)} --api-sock /tmp/fc.sock`,
        ),
      ],
    });
    assert.deepEqual(await scan(on), []);
  });

  it('folds an unjailed Firecracker (id cut to 32) into its shim', async () => {
    const { sockets, fullIds } = await notes();
    const id = fullIds[0] ?? '';
    const id32 = id.slice(0, 32);
    const socket = sockets.find((s) => s.includes(`/${id32}/`)) ?? '';
    assert.match(socket, /^\/run\/vc\/firecracker\/[0-9a-f]{32}\/root\//);
    const processes = [
      goShim(6000, id),
      proc(
        6010,
        6000,
        `/opt/kata/bin/firecracker --api-sock ${socket} --id ${id32}`,
      ),
    ];
    assert.deepEqual(await scan(await host({ processes })), [
      {
        id,
        hypervisor: 'firecracker',
        state: 'running',
        initPid: 6010,
        processes: [
          [6000, 'shim', 'shim'],
          [6010, 'hypervisor', 'hypervisor'],
        ],
      },
    ]);
  });

  it('reads a short sandbox id from a versioned binary name', async () => {
    const { sockets } = await notes();
    const socket = sockets.find((s) => s.includes('/ubuntu/')) ?? '';
    const binary = socket.split('/')[3] ?? '';
    assert.equal(binary, 'firecracker-v1.4.0-x86_64');
    const processes = [
      goShim(6100, 'ubuntu'),
      proc(6110, 6100, `/opt/kata/bin/${binary} --api-sock ${socket}`),
    ];
    const found = await scan(await host({ processes }));
    assert.deepEqual(
      found.map((s) => [s.id, s.hypervisor, s.initPid]),
      [['ubuntu', 'firecracker', 6110]],
    );
  });

  it('counts a jailer and its Firecracker child as the hypervisor', async () => {
    const { fullIds, jails } = await notes();
    const id = fullIds[1] ?? '';
    const id32 = id.slice(0, 32);
    const jail = jails[0] ?? '';
    assert.equal(jail, `/run/vc/firecracker/${id32}`);
    const base = jail.split('/').slice(0, -2).join('/');
    const processes = [
      goShim(6200, id),
      proc(
        6210,
        6200,
        `/opt/kata/bin/jailer --id ${id32} --exec-file /opt/kata/bin/firecracker ` +
          `--uid 0 --gid 0 --chroot-base-dir ${base} --daemonize`,
      ),
      proc(
        6211,
        6210,
        `/firecracker --id ${id32} --start-time-us 1722 ` +
          '--start-time-cpu-us 95 --api-sock /run/firecracker.socket',
      ),
    ];
    assert.deepEqual(await scan(await host({ processes })), [
      {
        id,
        hypervisor: 'firecracker',
        state: 'running',
        initPid: 6211,
        processes: [
          [6200, 'shim', 'shim'],
          [6210, 'hypervisor', 'jailer'],
          [6211, 'hypervisor', 'hypervisor'],
        ],
      },
    ]);
  });
});

describe('KataDiscovery with runtime-rs and state directories', () => {
  const ID = 'd4a7c1e9b2f8a3c6d5e4f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8';
  const DRAGONBALL = [
    { tid: 7001, comm: 'vmm_master' },
    { tid: 7002, comm: 'db_vcpu0' },
    { tid: 7003, comm: 'db_vcpu1' },
  ];

  it('takes a shim with Dragonball threads for the VMM itself', async () => {
    const processes = [rustShim(7000, ID, { threads: DRAGONBALL })];
    assert.deepEqual(await scan(await host({ processes })), [
      {
        id: ID,
        hypervisor: 'dragonball',
        state: 'running',
        initPid: 7000,
        processes: [[7000, 'shim', 'shim']],
      },
    ]);
  });

  it('does not take a Rust shim without those threads for Dragonball', async () => {
    const threads = [{ tid: 7001, comm: 'tokio-runtime-w' }];
    const processes = [rustShim(7000, ID, { threads })];
    const found = await scan(await host({ processes }));
    assert.deepEqual(
      found.map((s) => [s.hypervisor, s.state, s.initPid]),
      [['', 'no-hypervisor', undefined]],
    );
  });

  it('Dragonball: state.json adds virtiofsd, the socket is safe', async () => {
    const processes = [
      rustShim(7000, ID, { threads: DRAGONBALL }),
      proc(7100, 1, '/opt/kata/libexec/virtiofsd --fd=3 --thread-pool-size=1'),
    ];
    const on = await host({
      processes,
      runFiles: {
        [`kata/${ID}/state.json`]: JSON.stringify({
          pid: 7000,
          virtiofs_daemon_pid: 7100,
          hypervisor_type: 'dragonball',
        }),
      },
    });
    assert.deepEqual(await scan(on), [
      {
        id: ID,
        hypervisor: 'dragonball',
        state: 'running',
        initPid: 7000,
        processes: [
          [7000, 'shim', 'shim'],
          [7100, 'virtiofsd', 'virtiofsd'],
        ],
        guestSocket: join(on.run, 'kata', ID, 'shim-monitor.sock'),
      },
    ]);
  });

  it('Cloud Hypervisor: found by its ch-api.sock, the socket is safe', async () => {
    const processes = [
      rustShim(7200, ID),
      proc(
        7210,
        7200,
        `/opt/kata/bin/cloud-hypervisor --api-socket /run/kata/${ID}/ch-api.sock`,
      ),
      proc(
        7220,
        7200,
        `/opt/kata/libexec/virtiofsd --socket-path=/run/kata/${ID}/vhost-fs.sock ` +
          `--shared-dir=/run/kata-containers/shared/sandboxes/${ID}/ro`,
      ),
    ];
    const on = await host({
      processes,
      runFiles: {
        [`kata/${ID}/state.json`]: JSON.stringify({
          pid: 7210,
          virtiofs_daemon_pid: 7220,
          hypervisor_type: 'cloud-hypervisor',
        }),
      },
    });
    assert.deepEqual(await scan(on), [
      {
        id: ID,
        hypervisor: 'cloud-hypervisor',
        state: 'running',
        initPid: 7210,
        processes: [
          [7200, 'shim', 'shim'],
          [7210, 'hypervisor', 'hypervisor'],
          [7220, 'virtiofsd', 'virtiofsd'],
        ],
        guestSocket: join(on.run, 'kata', ID, 'shim-monitor.sock'),
      },
    ]);
  });

  // A GET /metrics panics runtime-rs's shim with QEMU or Firecracker and
  // takes the sandbox down (kata-containers#13708): no socket for those.
  it('QEMU: no guest socket', async () => {
    const processes = [rustShim(7300, ID), qemuProc(7310, 7300, ID)];
    const on = await host({
      processes,
      runFiles: {
        [`kata/${ID}/state.json`]: JSON.stringify({
          pid: 7310,
          hypervisor_type: 'qemu',
        }),
      },
    });
    const [found] = await scan(on);
    assert.equal(found?.hypervisor, 'qemu');
    assert.equal(found.initPid, 7310);
    assert.equal(found.guestSocket, undefined);
  });

  it('Firecracker: no guest socket', async () => {
    const id32 = ID.slice(0, 32);
    const processes = [
      rustShim(7400, ID),
      proc(
        7410,
        7400,
        `/opt/kata/bin/firecracker --id ${id32} ` +
          `--api-sock /run/kata/${ID}/root/run/firecracker.socket`,
      ),
    ];
    const on = await host({
      processes,
      runFiles: {
        [`kata/${ID}/state.json`]: JSON.stringify({
          pid: 7410,
          hypervisor_type: 'firecracker',
        }),
      },
    });
    assert.deepEqual(await scan(on), [
      {
        id: ID,
        hypervisor: 'firecracker',
        state: 'running',
        initPid: 7410,
        processes: [
          [7400, 'shim', 'shim'],
          [7410, 'hypervisor', 'hypervisor'],
        ],
      },
    ]);
  });
});

describe('KataDiscovery with Go runtime state directories', () => {
  const ID = 'f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a69788';
  const PERSIST = {
    HypervisorState: { Pid: 8010, Type: 'qemu' },
    Config: { HypervisorConfig: { NumVCPUs: 2, MemorySize: 2048 } },
  };

  it('Go QEMU: the shim monitor socket below vc/sbs/<id>', async () => {
    const on = await listing('01.txt', {
      runFiles: { [`vc/sbs/${ID01}/persist.json`]: '{}' },
    });
    const [found] = await scan(on);
    assert.equal(
      found?.guestSocket,
      join(on.run, 'vc', 'sbs', ID01, 'shim-monitor.sock'),
    );
  });

  it('Cloud Hypervisor: vCPUs and memory from persist.json', async () => {
    const processes = [
      goShim(8000, ID),
      proc(
        8010,
        8000,
        `/opt/kata/bin/cloud-hypervisor --api-socket /run/vc/vm/${ID}/clh-api.sock`,
      ),
    ];
    const on = await host({
      processes,
      runFiles: {
        [`vc/sbs/${ID}/persist.json`]: JSON.stringify(PERSIST),
        [`vc/vm/${ID}/pid`]: '8010\n',
      },
    });
    // The process's own argv outranks a hypervisor type in the state.
    assert.deepEqual(await scan(on), [
      {
        id: ID,
        hypervisor: 'cloud-hypervisor',
        state: 'running',
        initPid: 8010,
        processes: [
          [8000, 'shim', 'shim'],
          [8010, 'hypervisor', 'hypervisor'],
        ],
        vcpus: 2,
        memoryBytes: 2 * GIB,
        guestSocket: join(on.run, 'vc', 'sbs', ID, 'shim-monitor.sock'),
      },
    ]);
  });

  it('finds a hypervisor by vc/vm/<id>/pid alone', async () => {
    const persist = {
      ...PERSIST,
      HypervisorState: { Pid: 1, Type: 'clh' },
    };
    const processes = [
      proc(8010, 1, '/opt/kata/bin/cloud-hypervisor --api-socket fd=3'),
    ];
    const on = await host({
      processes,
      runFiles: {
        [`vc/sbs/${ID}/persist.json`]: JSON.stringify(persist),
        [`vc/vm/${ID}/pid`]: '8010\n',
      },
    });
    assert.deepEqual(await scan(on), [
      {
        id: ID,
        hypervisor: 'cloud-hypervisor',
        state: 'running',
        initPid: 8010,
        processes: [[8010, 'hypervisor', 'hypervisor']],
        vcpus: 2,
        memoryBytes: 2 * GIB,
        guestSocket: join(on.run, 'vc', 'sbs', ID, 'shim-monitor.sock'),
      },
    ]);
  });

  it('does not adopt an unrelated process that reused a state pid', async () => {
    const on = await host({
      processes: [proc(8010, 1, '/usr/sbin/nginx -g daemon off;')],
      runFiles: {
        [`vc/sbs/${ID}/persist.json`]: JSON.stringify(PERSIST),
        [`vc/vm/${ID}/pid`]: '8010\n',
      },
    });
    assert.deepEqual(await scan(on), []);
  });

  it('reports nothing for a state directory whose processes are gone', async () => {
    const on = await host({
      processes: [],
      runFiles: {
        [`vc/sbs/${ID}/persist.json`]: JSON.stringify(PERSIST),
        [`vc/vm/${ID}/pid`]: '8010\n',
        [`kata/${ID}/state.json`]: '{"pid": 8010}',
      },
    });
    assert.deepEqual(await scan(on), []);
  });

  it('reads persist.json written after the directory was first seen', async () => {
    const processes = [
      goShim(8000, ID),
      proc(
        8010,
        8000,
        `/opt/kata/bin/cloud-hypervisor --api-socket /run/vc/vm/${ID}/clh-api.sock`,
      ),
    ];
    const on = await host({ processes, runDirs: [`vc/sbs/${ID}`] });
    const kata = discovery(on);
    const [early] = (await kata.scan()).map(summary);
    assert.equal(early?.vcpus, undefined);

    await writeFile(
      join(on.run, 'vc', 'sbs', ID, 'persist.json'),
      JSON.stringify(PERSIST),
    );
    const [later] = (await kata.scan()).map(summary);
    assert.equal(later?.vcpus, 2);
    assert.equal(later.memoryBytes, 2 * GIB);
  });

  it('survives a broken persist.json', async () => {
    const processes = [goShim(8000, ID), qemuProc(8010, 1, ID)];
    const on = await host({
      processes,
      runFiles: { [`vc/sbs/${ID}/persist.json`]: '{"HypervisorState": {' },
    });
    const [found] = await scan(on);
    assert.equal(found?.id, ID);
    assert.equal(found.initPid, 8010);
  });
});
