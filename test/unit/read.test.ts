import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { isGone, readText, readTextSync } from '../../agent/src/host/read.js';

describe('readText', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'microstat-read-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a small file whole, twice in a row, through one buffer', async () => {
    await writeFile(join(dir, 'a'), 'usage_usec 42\n');
    await writeFile(join(dir, 'b'), 'max\n');
    assert.equal(await readText(join(dir, 'a')), 'usage_usec 42\n');
    assert.equal(await readText(join(dir, 'b')), 'max\n');
    assert.equal(readTextSync(join(dir, 'a')), 'usage_usec 42\n');
  });

  it('reads past one 64 KiB chunk, and stops at the cap', async () => {
    const text = 'x'.repeat(200_000);
    await writeFile(join(dir, 'big'), text);
    assert.equal(await readText(join(dir, 'big')), text);
    assert.equal(readTextSync(join(dir, 'big'), 70_000).length, 70_000);
    assert.equal(readTextSync(join(dir, 'big'), 100).length, 100);
  });

  it('rejects, never throws, when the file is gone', async () => {
    const missing = readText(join(dir, 'missing'));
    await assert.rejects(missing, (error: unknown) => isGone(error));
  });
});
