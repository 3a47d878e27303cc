import assert from 'node:assert/strict';
import { it } from 'node:test';

import { ParseError } from '../../agent/src/parse/errors.js';

/** One malformed input and why it is malformed. */
export interface BadCase {
  readonly name: string;
  readonly text: string;
}

/**
 * One test per case: the parser must throw ParseError, never a TypeError
 * or a RangeError from deep inside, and never return a made-up value.
 */
export function itRejects(
  parse: (text: string) => unknown,
  cases: readonly BadCase[],
): void {
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      assert.throws(() => parse(c.text), ParseError);
    });
  }
}
