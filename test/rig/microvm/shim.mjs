// A stand-in for containerd-shim-kata-v2 (Go runtime, QEMU, Kata 2.x-3.0):
// it lays out the sandbox's state directories, runs virtiofsd as its child
// and QEMU daemonized, writes persist.json and serves the shim's monitoring
// socket. test/rig/microvm.ts starts it; nothing here talks to containerd.
//
// argv is Kata's: `-namespace <ns> -address <a> -publish-binary <b> -id <sid>`,
// with `start` appended for the launcher that detaches the daemon, as the real
// shim's `start` does. What the Go runtime would read from its configuration
// comes from MSRIG_* variables (see readConfig).

import { execFile, spawn } from 'node:child_process';
import console from 'node:console';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const SOCKET_TIMEOUT_MS = 10_000;
const QEMU_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;
const WATCH_MS = 1_000;
/** Kata's persist format version (virtcontainers/persist). */
const PERSIST_VERSION = 2;

/** The value following `flag` in argv, as Go's flag package reads it. */
function flagValue(args, flag) {
  const index = args.indexOf(flag);
  return index >= 0 ? args[index + 1] : undefined;
}

function required(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function readConfig(args) {
  const id = flagValue(args, '-id');
  if (id === undefined || id === '' || id.includes('/')) {
    throw new Error(`missing or invalid -id in ${args.join(' ')}`);
  }
  const runDir = required('MSRIG_RUN_DIR');
  return {
    id,
    kernel: required('MSRIG_KERNEL'),
    initrd: required('MSRIG_INITRD'),
    metricsFile: required('MSRIG_METRICS_FILE'),
    memoryMiB: Number(required('MSRIG_MEMORY_MIB')),
    vcpus: Number(required('MSRIG_VCPUS')),
    qemu: process.env.MSRIG_QEMU ?? 'qemu-system-x86_64',
    virtiofsd: process.env.MSRIG_VIRTIOFSD ?? '/usr/lib/qemu/virtiofsd',
    vmDir: join(runDir, 'vc', 'vm', id),
    sbsDir: join(runDir, 'vc', 'sbs', id),
    sandboxDir: join(runDir, 'kata-containers', 'shared', 'sandboxes', id),
  };
}

/** True while `pid` exists and is not a zombie (/proc/<pid>/stat state). */
async function isRunning(pid) {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may hold ") "; the state letter follows the last one.
    const state = text[text.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function isSocket(path) {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

async function startVirtiofsd(config) {
  const socket = join(config.vmDir, 'vhost-fs.sock');
  const child = spawn(
    config.virtiofsd,
    [
      `--socket-path=${socket}`,
      '-o',
      `source=${join(config.sandboxDir, 'shared')}`,
      '-o',
      'cache=auto',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  let spawnError;
  child.once('error', (error) => (spawnError = error));
  const deadline = Date.now() + SOCKET_TIMEOUT_MS;
  while (!(await isSocket(socket))) {
    if (spawnError !== undefined) {
      throw new Error(`cannot run ${config.virtiofsd}`, { cause: spawnError });
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `virtiofsd exited (${child.exitCode ?? child.signalCode})`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `virtiofsd made no socket within ${SOCKET_TIMEOUT_MS} ms`,
      );
    }
    await delay(POLL_MS);
  }
  return child;
}

function qemuArgs(config, uuid) {
  const { id, vmDir, memoryMiB, vcpus } = config;
  const hostMiB = Math.floor(totalmem() / (1024 * 1024));
  return [
    ['-name', `sandbox-${id}`],
    ['-uuid', uuid],
    ['-machine', 'q35,accel=tcg'],
    ['-m', `${memoryMiB}M,slots=10,maxmem=${Math.max(hostMiB, memoryMiB)}M`],
    ['-smp', `${vcpus},cores=${vcpus},threads=1,sockets=1,maxcpus=${vcpus}`],
    ['-qmp', `unix:${join(vmDir, 'qmp.sock')},server=on,wait=off`],
    // Guest RAM as a shared file, so virtiofsd can map it: what makes the
    // VMM's and virtiofsd's RSS overlap on a real Kata host.
    [
      '-object',
      `memory-backend-file,id=dimm1,size=${memoryMiB}M,` +
        'mem-path=/dev/shm,share=on',
    ],
    ['-numa', 'node,memdev=dimm1'],
    ['-chardev', `socket,id=char-vfs,path=${join(vmDir, 'vhost-fs.sock')}`],
    ['-device', 'vhost-user-fs-pci,chardev=char-vfs,tag=kataShared'],
    ['-kernel', config.kernel],
    ['-initrd', config.initrd],
    ['-append', 'console=ttyS0 quiet panic=1'],
    ['-serial', `unix:${join(vmDir, 'console.sock')},server=on,wait=off`],
    ['-nodefaults', '-no-user-config', '-no-reboot'],
    ['-display', 'none'],
    ['-daemonize'],
    ['-pidfile', join(vmDir, 'pid')],
  ].flat();
}

/** Runs QEMU until it daemonizes and resolves with the daemon's pid. */
async function startQemu(config, uuid) {
  await new Promise((resolve, reject) => {
    execFile(
      config.qemu,
      qemuArgs(config, uuid),
      { timeout: QEMU_TIMEOUT_MS },
      (error, _stdout, stderr) => {
        if (error === null) resolve(undefined);
        else
          reject(
            new Error(`${config.qemu} failed: ${stderr}`, { cause: error }),
          );
      },
    );
  });
  const text = await readFile(join(config.vmDir, 'pid'), 'utf8');
  const pid = Number.parseInt(text, 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new Error(`QEMU wrote no pid: ${JSON.stringify(text)}`);
  }
  return pid;
}

/**
 * The part of virtcontainers' persist.json (persist/api, SandboxState) that a
 * host tool reads, with Go's field names.
 */
function persistState(config, uuid, qemuPid, virtiofsdPid) {
  return {
    PersistVersion: PERSIST_VERSION,
    State: 'running',
    GuestMemoryBlockSizeMB: 128,
    GuestMemoryHotplugProbe: false,
    SandboxContainer: config.id,
    SandboxCgroupPath: '',
    OverheadCgroupPath: '',
    Devices: [],
    HypervisorState: {
      Type: 'qemu',
      UUID: uuid,
      APISocket: '',
      HotpluggedVCPUs: [],
      HotpluggedMemory: 0,
      VirtiofsDaemonPid: virtiofsdPid,
      Pid: qemuPid,
      PCIeRootPort: 0,
      PCIeSwitchPort: 0,
    },
    AgentState: { URL: '' },
    Config: {
      HypervisorType: 'qemu',
      HypervisorConfig: {
        KernelPath: config.kernel,
        InitrdPath: config.initrd,
        HypervisorPath: config.qemu,
        MemorySize: config.memoryMiB,
        NumVCPUs: config.vcpus,
      },
    },
  };
}

async function writePersist(config, state) {
  const path = join(config.sbsDir, 'persist.json');
  await writeFile(`${path}.tmp`, JSON.stringify(state), { mode: 0o640 });
  await rename(`${path}.tmp`, path);
}

/** HTTP/1.1 on shim-monitor.sock; GET /metrics serves the fixed exposition. */
async function serveMonitor(config) {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    readFile(config.metricsFile, 'utf8').then(
      (text) => {
        response.writeHead(200, {
          'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
        });
        response.end(text);
      },
      () => response.writeHead(500).end(),
    );
  });
  server.listen(join(config.sbsDir, 'shim-monitor.sock'));
  await once(server, 'listening');
  return server;
}

async function waitGone(pid) {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while ((await isRunning(pid)) && Date.now() < deadline) {
    await delay(POLL_MS);
  }
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function stopSandbox(config, sandbox) {
  sandbox.server?.close();
  if (sandbox.qemuPid !== undefined) {
    signal(sandbox.qemuPid, 'SIGTERM');
    await waitGone(sandbox.qemuPid);
    signal(sandbox.qemuPid, 'SIGKILL');
  }
  const virtiofsd = sandbox.virtiofsd;
  if (virtiofsd !== undefined && virtiofsd.exitCode === null) {
    const exited = once(virtiofsd, 'exit');
    virtiofsd.kill('SIGTERM');
    const timer = delay(STOP_TIMEOUT_MS).then(() => virtiofsd.kill('SIGKILL'));
    await Promise.race([exited, timer]);
  }
  await Promise.all(
    [config.vmDir, config.sbsDir, config.sandboxDir].map((dir) =>
      rm(dir, { recursive: true, force: true }),
    ),
  );
}

/** Stops the sandbox once QEMU or virtiofsd dies, as the real shim does. */
async function watch(sandbox, stopping) {
  while (!stopping.done) {
    await delay(WATCH_MS);
    const vmmAlive = await isRunning(sandbox.qemuPid);
    if (!vmmAlive || sandbox.virtiofsd.exitCode !== null) return;
  }
}

async function daemon(args) {
  const config = readConfig(args);
  const sandbox = {};
  const stopping = { done: false };
  let started = false;
  let signalled;
  const stop = async (reason) => {
    if (stopping.done) return;
    stopping.done = true;
    console.error(`shim ${config.id}: stopping (${reason})`);
    await stopSandbox(config, sandbox);
    process.exit(0);
  };
  // A signal during start waits for it, so no half-started QEMU is left.
  const onSignal = (name) => {
    if (started) void stop(name);
    else signalled = name;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await mkdir(config.vmDir, { recursive: true });
    await mkdir(config.sbsDir, { recursive: true });
    await mkdir(join(config.sandboxDir, 'shared'), { recursive: true });

    const uuid = randomUUID();
    sandbox.virtiofsd = await startVirtiofsd(config);
    sandbox.qemuPid = await startQemu(config, uuid);
    sandbox.server = await serveMonitor(config);
    const state = persistState(
      config,
      uuid,
      sandbox.qemuPid,
      sandbox.virtiofsd.pid,
    );
    await writePersist(config, state);
  } catch (error) {
    console.error(`shim ${config.id}: start failed:`, error);
    stopping.done = true;
    await stopSandbox(config, sandbox);
    process.exit(1);
  }

  started = true;
  if (signalled !== undefined) await stop(signalled);
  await watch(sandbox, stopping);
  await stop('QEMU or virtiofsd exited');
}

/** Detaches the daemon (its parent becomes PID 1) and prints its pid. */
function launch(args) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), ...args],
    {
      argv0: process.argv0,
      detached: true,
      // The caller reads the pid from stdout; the daemon logs to stderr only.
      stdio: ['ignore', 2, 2],
    },
  );
  child.unref();
  console.log(String(child.pid));
}

const args = process.argv.slice(2);
if (args.at(-1) === 'start') {
  launch(args.slice(0, -1));
} else {
  await daemon(args);
}
