import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { toLogfmt } from '../../agent/src/log.js';

describe('toLogfmt', () => {
  it('quotes values with spaces, quotes or equals signs', () => {
    assert.equal(
      toLogfmt({ level: 'info', msg: 'Docker discovery connected', n: 3 }),
      'level=info msg="Docker discovery connected" n=3',
    );
    assert.equal(toLogfmt({ err: 'a="b"' }), 'err="a=\\"b\\""');
    assert.equal(toLogfmt({ empty: '' }), 'empty=""');
  });
});
