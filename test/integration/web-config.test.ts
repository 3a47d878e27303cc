import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  request,
  startAgent,
  type AgentAccess,
  type RunningAgent,
} from '../rig/agent.js';

/** bcrypt of "s3cret", cost 10. */
const HASH = '$2b$10$UioUhAu0tSSmpmdG8sTAm.6q4.DqP6wZ3We0R22TQJVh7XmHGzquO';
/** No collectors: these tests are about the HTTP surface, not the host. */
const LIGHT = [
  '--no-collector.docker',
  '--no-collector.kata',
  '--no-collector.containerd',
];
const PROTECTED = ['/metrics', '/api/v1/workloads', '/api/v1/events', '/'];

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A throwaway self-signed certificate and key; returns their paths. */
function selfSigned(dir: string, name: string, cn: string): [string, string] {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return [cert, key];
}

describe('--web.config.file against a running agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'microstat-web-'));
  const [certFile, keyFile] = selfSigned(dir, 'server', '127.0.0.1');
  const [clientCert, clientKey] = selfSigned(dir, 'client', 'scraper');
  const trust: AgentAccess = { ca: readFileSync(certFile, 'utf8') };
  const agents: RunningAgent[] = [];

  /** Writes a web config and starts an agent with it. */
  async function agentWith(
    name: string,
    tlsExtra: string,
    access: AgentAccess = trust,
  ): Promise<RunningAgent> {
    const file = join(dir, `${name}.yml`);
    writeFileSync(
      file,
      `tls_server_config:\n  cert_file: ${certFile}\n  key_file: ${keyFile}\n` +
        `${tlsExtra}basic_auth_users:\n  alice: ${HASH}\n`,
    );
    const agent = await startAgent(
      [...LIGHT, '--web.config.file', file],
      undefined,
      access,
    );
    agents.push(agent);
    return agent;
  }

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('TLS and basic auth', () => {
    let agent: RunningAgent;
    before(async () => {
      agent = await agentWith('auth', '');
    });

    for (const path of PROTECTED) {
      it(`answers ${path} with 401 without the right credentials`, async () => {
        for (const authorization of [
          undefined,
          basic('alice', 'wrong'),
          basic('mallory', 's3cret'),
        ]) {
          const answer = await request(`${agent.url}${path}`, {
            ...trust,
            ...(authorization === undefined ? {} : { authorization }),
          });
          assert.equal(answer.status, 401, `${path} ${authorization ?? ''}`);
          assert.match(String(answer.headers['www-authenticate']), /^Basic/);
          assert.doesNotMatch(answer.body, /microstat_|"workloads"|tick/);
        }
      });

      it(`answers ${path} with 200 with them`, async () => {
        const answer = await request(`${agent.url}${path}`, {
          ...trust,
          authorization: basic('alice', 's3cret'),
        });
        assert.equal(answer.status, 200);
      });
    }

    it('leaves /healthz open, and it says nothing but ok', async () => {
      const answer = await request(`${agent.url}/healthz`, trust);
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'ok\n');
    });

    it('refuses plain HTTP on the TLS port', async () => {
      const plain = agent.url.replace('https:', 'http:');
      await assert.rejects(request(`${plain}/healthz`));
    });

    it('serves a TLS 1.2 client by default', async () => {
      const answer = await request(`${agent.url}/healthz`, {
        ...trust,
        maxVersion: 'TLSv1.2',
      });
      assert.equal(answer.status, 200);
    });
  });

  it('refuses a TLS 1.2 client with min_version TLS13', async () => {
    const agent = await agentWith('tls13', '  min_version: TLS13\n');
    await assert.rejects(
      request(`${agent.url}/healthz`, { ...trust, maxVersion: 'TLSv1.2' }),
    );
    const answer = await request(`${agent.url}/healthz`, trust);
    assert.equal(answer.status, 200);
  });

  it('refuses a client without a certificate when a client CA is required', async () => {
    const withCert: AgentAccess = {
      ...trust,
      cert: readFileSync(clientCert, 'utf8'),
      key: readFileSync(clientKey, 'utf8'),
    };
    const agent = await agentWith(
      'mtls',
      `  client_ca_file: ${clientCert}\n` +
        '  client_auth_type: RequireAndVerifyClientCert\n',
      withCert,
    );
    await assert.rejects(request(`${agent.url}/healthz`, trust));
    const answer = await request(`${agent.url}/metrics`, {
      ...withCert,
      authorization: basic('alice', 's3cret'),
    });
    assert.equal(answer.status, 200);
  });

  it('exits 1 naming file, field and reason for a broken file', async () => {
    const file = join(dir, 'broken.yml');
    writeFileSync(file, 'tls_server_config:\n  cert_file: c.pem\n');
    await assert.rejects(
      startAgent([...LIGHT, '--web.config.file', file]),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /agent exited \(1\)/);
        assert.match(error.message, /invalid web config file/);
        assert.ok(error.message.includes(`file=${file}`));
        assert.match(error.message, /field=tls_server_config.key_file/);
        assert.match(error.message, /reason="is required"/);
        return true;
      },
    );
  });
});
