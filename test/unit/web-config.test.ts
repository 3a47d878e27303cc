import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { BasicAuth } from '../../agent/src/export/basic-auth.js';
import {
  loadWebConfig,
  parseWebConfig,
  WebConfigError,
} from '../../agent/src/export/web-config.js';

/** bcrypt of "s3cret", cost 10. */
const HASH = '$2b$10$UioUhAu0tSSmpmdG8sTAm.6q4.DqP6wZ3We0R22TQJVh7XmHGzquO';

const TLS = `tls_server_config:
  cert_file: c.pem
  key_file: k.pem
`;

describe('parseWebConfig', () => {
  it('reads TLS with exporter-toolkit defaults and users', () => {
    const config = parseWebConfig(
      'w.yml',
      `${TLS}basic_auth_users:\n  alice: ${HASH}\n`,
    );
    assert.deepEqual(config.tls, {
      certFile: 'c.pem',
      keyFile: 'k.pem',
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      clientAuthType: 'NoClientCert',
      clientCaFile: undefined,
    });
    assert.deepEqual([...config.users], [['alice', HASH]]);
  });

  it('takes an empty file as no TLS and no users', () => {
    const config = parseWebConfig('w.yml', '');
    assert.equal(config.tls, undefined);
    assert.equal(config.users.size, 0);
  });

  it('reads min_version and a verified client CA', () => {
    const config = parseWebConfig(
      'w.yml',
      `${TLS}  min_version: TLS13\n  client_ca_file: ca.pem\n` +
        `  client_auth_type: RequireAndVerifyClientCert\n`,
    );
    assert.ok(config.tls !== undefined);
    assert.equal(config.tls.minVersion, 'TLSv1.3');
    assert.equal(config.tls.clientCaFile, 'ca.pem');
  });

  // [file text, field named in the error, part of the reason]
  const invalid: [string, string, RegExp][] = [
    ['tls_server_config: [\n', '', /./],
    ['- a\n', '', /mapping/],
    ['web: 1\n', 'web', /unknown/],
    [
      'tls_server_config:\n  key_file: k\n',
      'tls_server_config.cert_file',
      /required/,
    ],
    [
      'tls_server_config:\n  cert_file: c\n',
      'tls_server_config.key_file',
      /required/,
    ],
    [`${TLS}  min_version: TLS14\n`, 'tls_server_config.min_version', /TLS12/],
    [`${TLS}  min_version: 1.2\n`, 'tls_server_config.min_version', /one of/],
    [
      `${TLS}  min_version: TLS13\n  max_version: TLS12\n`,
      'tls_server_config.max_version',
      /below/,
    ],
    [
      `${TLS}  cipher_suites: [a]\n`,
      'tls_server_config.cipher_suites',
      /unsupported/,
    ],
    [
      `${TLS}  client_auth_type: Yes\n`,
      'tls_server_config.client_auth_type',
      /one of/,
    ],
    [
      `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`,
      'tls_server_config.client_ca_file',
      /required/,
    ],
    [
      `${TLS}  client_ca_file: ca.pem\n`,
      'tls_server_config.client_auth_type',
      /must be set/,
    ],
    [
      'tls_server_config:\n  cert_file: 3\n  key_file: k\n',
      'tls_server_config.cert_file',
      /string/,
    ],
    [`${TLS}  cert_file: d.pem\n`, '', /unique/],
    [
      'basic_auth_users:\n  alice: s3cret\n',
      'basic_auth_users.alice',
      /bcrypt/,
    ],
    ['basic_auth_users:\n  alice:\n', 'basic_auth_users.alice', /bcrypt/],
    [`basic_auth_users:\n  "a:b": ${HASH}\n`, 'basic_auth_users.a:b', /":"/],
    ['basic_auth_users: [alice]\n', 'basic_auth_users', /mapping/],
  ];
  for (const [text, field, reason] of invalid) {
    it(`rejects ${JSON.stringify(text)} naming ${field || 'the file'}`, () => {
      assert.throws(
        () => parseWebConfig('w.yml', text),
        (error: unknown) =>
          error instanceof WebConfigError &&
          error.file === 'w.yml' &&
          error.field === field &&
          reason.test(error.reason) &&
          error.message.startsWith('w.yml: '),
      );
    });
  }
});

describe('loadWebConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'microstat-web-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names a missing file', () => {
    assert.throws(() => loadWebConfig(join(dir, 'none.yml')), /ENOENT/);
  });

  it('names the field whose key file is missing or not a key', () => {
    const file = join(dir, 'web.yml');
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, 'not a certificate\n');
    const key = join(dir, 'key.pem');
    writeFileSync(
      file,
      `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`,
    );
    assert.throws(
      () => loadWebConfig(file),
      (e: unknown) =>
        e instanceof WebConfigError && e.field === 'tls_server_config.key_file',
    );
    writeFileSync(key, 'not a key either\n');
    assert.throws(
      () => loadWebConfig(file),
      (e: unknown) =>
        e instanceof WebConfigError &&
        e.field === 'tls_server_config' &&
        /key material/.test(e.reason),
    );
  });
});

describe('BasicAuth', () => {
  const basic = (user: string, password: string): string =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('accepts the right password and nothing else', async () => {
    const auth = new BasicAuth(new Map([['alice', HASH]]));
    assert.equal(await auth.check(basic('alice', 's3cret')), true);
    // Now from the cache, which must not let a wrong password through.
    assert.equal(await auth.check(basic('alice', 's3cret')), true);
    assert.equal(await auth.check(basic('alice', 's3cret ')), false);
    assert.equal(await auth.check(basic('bob', 's3cret')), false);
    assert.equal(await auth.check(undefined), false);
    assert.equal(await auth.check('Bearer x'), false);
    assert.equal(await auth.check('Basic !!!'), false);
    assert.equal(await auth.check(`Basic ${btoa('alice')}`), false);
  });

  it('answers a cached password without bcrypt', async () => {
    const auth = new BasicAuth(new Map([['alice', HASH]]));
    await auth.check(basic('alice', 's3cret'));
    const start = performance.now();
    for (let i = 0; i < 50; i += 1) await auth.check(basic('alice', 's3cret'));
    // 50 bcrypt checks at cost 10 take seconds; cached, milliseconds.
    assert.ok(performance.now() - start < 500);
  });
});
