/**
 * The one error type the parsers throw. Parsers are pure functions over file
 * text; anything they cannot make sense of becomes a ParseError naming the
 * format and what was wrong, never a TypeError from deep inside.
 */
export class ParseError extends Error {
  override readonly name = 'ParseError';

  constructor(
    /** What was being parsed, e.g. "/proc/<pid>/stat". */
    readonly format: string,
    detail: string,
  ) {
    super(`${format}: ${detail}`);
  }
}

/** Parses a non-negative integer field; anything else is a ParseError. */
export function parseCount(format: string, field: string, raw: string): number {
  if (!/^\d+$/.test(raw)) {
    throw new ParseError(
      format,
      `${field} is not a count: ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** Parses an integer that may be negative (a few kernel fields are signed). */
export function parseSigned(
  format: string,
  field: string,
  raw: string,
): number {
  if (!/^-?\d+$/.test(raw)) {
    throw new ParseError(
      format,
      `${field} is not an integer: ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}
