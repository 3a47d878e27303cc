import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  HeldFiles,
  heldFileBudget,
  MAX_HELD_FILES,
} from '../../agent/src/host/held-files.js';
import { isGone, readTextSync } from '../../agent/src/host/read.js';
import { parsePidIo } from '../../agent/src/parse/pid-io.js';

/** /proc/self/limits as the kernel writes it, with a given soft limit. */
function limits(soft: string): string {
  return [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             63704                63704                processes ',
    `Max open files            ${soft.padEnd(21)}1048576              files     `,
    '',
  ].join('\n');
}

/** The error a call throws, or fails the test when it throws none. */
function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error: unknown) {
    return error;
  }
  assert.fail('expected an error');
}

describe('HeldFiles', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'microstat-held-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a held file again from its start and sees what it holds now', async () => {
    const path = join(dir, 'cpu.stat');
    await writeFile(path, 'usage_usec 1\n');
    const files = new HeldFiles(10);
    assert.equal(files.read(path), 'usage_usec 1\n');
    assert.equal(files.size, 1);
    await writeFile(path, 'usage_usec 12345\n');
    assert.equal(files.read(path), 'usage_usec 12345\n');
    assert.equal(files.size, 1);
    files.close();
    assert.equal(files.size, 0);
  });

  it('reads a stored file written in place of a held one, and says gone once deleted', async () => {
    const path = join(dir, 'memory.current');
    await writeFile(path, '4096\n');
    const files = new HeldFiles(10);
    assert.equal(files.read(path), '4096\n');
    // Replaced the way atomic writers do: a new file renamed over the old.
    await writeFile(`${path}.new`, '8192\n');
    await rename(`${path}.new`, path);
    assert.equal(files.read(path), '8192\n');
    await unlink(path);
    assert.ok(isGone(thrown(() => files.read(path))));
    assert.equal(files.size, 0);
  });

  it('closes at a sweep every file not read since the last one', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await writeFile(a, 'a\n');
    await writeFile(b, 'b\n');
    const files = new HeldFiles(10);
    files.read(a);
    files.read(b);
    files.sweep();
    assert.equal(files.size, 2);
    files.read(a);
    files.sweep();
    assert.equal(files.size, 1);
    files.sweep();
    assert.equal(files.size, 0);
  });

  it('reads past its budget the ordinary way, holding nothing more', async () => {
    const paths = ['x', 'y', 'z'].map((n) => join(dir, n));
    for (const p of paths) await writeFile(p, `${p}\n`);
    const files = new HeldFiles(2);
    assert.deepEqual(
      paths.map((p) => files.read(p)),
      paths.map((p) => `${p}\n`),
    );
    assert.equal(files.size, 2);
    const none = new HeldFiles(0);
    assert.equal(none.read(paths[0] ?? ''), `${paths[0] ?? ''}\n`);
    assert.equal(none.size, 0);
  });

  it('passes on a missing file as gone, holding nothing', () => {
    const files = new HeldFiles(10);
    assert.ok(isGone(thrown(() => files.read(join(dir, 'missing')))));
    assert.equal(files.size, 0);
  });

  it('counts a process held open while it runs, and says it is gone once reaped', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const path = `/proc/${String(child.pid)}/stat`;
    const files = new HeldFiles(10);
    assert.match(files.read(path), /^\d+ \(sleep\) /);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const error = thrown(() => files.read(path));
    assert.ok(isGone(error), String(error));
    assert.equal(files.size, 0);
  });

  it('sees a held /proc file change between reads', () => {
    const files = new HeldFiles(10);
    const chars = (): number =>
      parsePidIo(files.read('/proc/self/io')).rcharBytes;
    const first = chars();
    readFileSync('/proc/self/mountinfo');
    readFileSync('/proc/self/status');
    assert.ok(chars() > first);
    assert.equal(files.size, 1);
    files.close();
  });

  it('says a held cgroup file is gone once its cgroup is removed', (t) => {
    const mount = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].find((m) => {
      try {
        readFileSync(join(m, 'cgroup.procs'));
        return true;
      } catch {
        return false;
      }
    });
    const cgroup = join(
      mount ?? '/nonexistent',
      `microstat-held-${process.pid}`,
    );
    try {
      mkdirSync(cgroup);
    } catch (error: unknown) {
      t.skip(`cannot make a cgroup here: ${String(error)}`);
      return;
    }
    const files = new HeldFiles(10);
    const path = join(cgroup, 'cgroup.procs');
    try {
      assert.equal(files.read(path), '');
    } finally {
      rmdirSync(cgroup);
    }
    const error = thrown(() => files.read(path));
    assert.ok(isGone(error), String(error));
    assert.equal(files.size, 0);
  });
});

describe('heldFileBudget', () => {
  it('leaves a reserve below the soft descriptor limit, up to a maximum', () => {
    assert.equal(heldFileBudget(limits('4096')), 3072);
    assert.equal(heldFileBudget(limits('5120')), MAX_HELD_FILES);
    assert.equal(heldFileBudget(limits('1048576')), MAX_HELD_FILES);
    assert.equal(heldFileBudget(limits('unlimited')), MAX_HELD_FILES);
    assert.equal(heldFileBudget(limits('1024')), 0);
    assert.equal(heldFileBudget(limits('512')), 0);
  });

  it('holds nothing when the limit is unknown', () => {
    assert.equal(heldFileBudget(''), 0);
    assert.equal(heldFileBudget(limits('lots')), 0);
  });
});

describe('readTextSync on kernel files', () => {
  it('reads a file of more than one page whole, though reads come back short', () => {
    // zoneinfo is a seq_file of several pages: each read returns at most
    // one kernel buffer, so the reader must keep going past short reads.
    const direct = readFileSync('/proc/zoneinfo', 'utf8');
    const ours = readTextSync('/proc/zoneinfo');
    assert.ok(direct.length > 4096, 'zoneinfo is shorter than a page here');
    assert.equal(ours.split('\n').length, direct.split('\n').length);
    assert.ok(ours.endsWith('\n'));
  });
});
