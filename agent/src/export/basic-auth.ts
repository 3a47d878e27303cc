import { createHash, timingSafeEqual } from 'node:crypto';

import bcrypt from 'bcryptjs';
import type { NextFunction, Request, Response } from 'express';

/**
 * HTTP basic auth against the bcrypt hashes of a web config file.
 *
 * bcrypt is slow on purpose (tens of milliseconds at cost 10), too slow to
 * pay on every scrape. As exporter-toolkit does, a successful check is
 * remembered: per user, the SHA-256 of the password that last passed,
 * compared in constant time. The cache holds at most one entry per
 * configured user, so it is bounded by the file; failed checks are never
 * cached and always cost a bcrypt comparison.
 */

/** The paths served without credentials: a liveness probe carries none. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz']);

/**
 * Compared against when the user is unknown, so that an unknown user takes
 * as long as a wrong password. The hash of a random string, cost 10.
 */
const UNKNOWN_USER_HASH =
  '$2b$10$dZ7lzx1Jz2fmifN.T..Tdu7AqvrlwwVbEwgZ3KQoZTAA7OW9Podwa';

export class BasicAuth {
  private readonly verified = new Map<string, Buffer>();

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  /** Whether an Authorization header names a user with its password. */
  async check(header: string | undefined): Promise<boolean> {
    const credentials = parseBasic(header);
    if (credentials === undefined) return false;
    const [user, password] = credentials;
    const digest = createHash('sha256').update(password).digest();

    const cached = this.verified.get(user);
    if (cached !== undefined && timingSafeEqual(cached, digest)) return true;

    const hash = this.users.get(user);
    const ok = await bcrypt.compare(password, hash ?? UNKNOWN_USER_HASH);
    if (!ok || hash === undefined) return false;
    this.verified.set(user, digest);
    return true;
  }

  /** Express middleware: 401 with a Basic challenge unless authorised. */
  readonly handle = async (
    req: Request,
    res: Response,
    next: NextFunction,
  ): Promise<void> => {
    if (
      OPEN_PATHS.has(req.path) ||
      (await this.check(req.get('authorization')))
    ) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="microstat", charset="UTF-8"')
      .type('text/plain')
      .send('unauthorized\n');
  };
}

/** `Basic base64(user:password)` as [user, password]; the first `:` splits. */
function parseBasic(header: string | undefined): [string, string] | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}
