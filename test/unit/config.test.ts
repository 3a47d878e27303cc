import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ConfigError,
  buildConfig,
  parseListenAddress,
} from '../../agent/src/config.js';

describe('parseListenAddress', () => {
  const cases: [string, { host: string; port: number }][] = [
    ['127.0.0.1:8095', { host: '127.0.0.1', port: 8095 }],
    [':9000', { host: '0.0.0.0', port: 9000 }],
    ['[::1]:8095', { host: '::1', port: 8095 }],
    ['localhost:1', { host: 'localhost', port: 1 }],
  ];
  for (const [raw, expected] of cases) {
    it(`parses ${raw}`, () => {
      assert.deepEqual(parseListenAddress(raw), expected);
    });
  }

  for (const raw of ['8095', 'host:', 'host:99999', 'host:port', '']) {
    it(`rejects ${JSON.stringify(raw)} with a ConfigError`, () => {
      assert.throws(() => parseListenAddress(raw), ConfigError);
    });
  }
});

describe('buildConfig', () => {
  const base = new Map<string, string | boolean>([
    ['web.listen-address', '127.0.0.1:8095'],
    ['path.procfs', '/host/proc'],
    ['path.cgroupfs', '/host/sys/fs/cgroup'],
    ['path.run', '/host/run'],
    ['docker.host', 'unix:///var/run/docker.sock'],
    ['docker.labels', ' team, com.example.tier ,,'],
    ['log.level', 'debug'],
    ['log.format', 'json'],
  ]);

  it('keeps every path as given and splits the label allow-list', () => {
    const config = buildConfig(base);
    assert.equal(config.procfs, '/host/proc');
    assert.equal(config.cgroupfs, '/host/sys/fs/cgroup');
    assert.deepEqual(config.dockerLabels, ['team', 'com.example.tier']);
    assert.equal(config.dockerEnabled, true);
  });

  it('turns the Docker collector off only when the switch says false', () => {
    const off = new Map(base).set('collector.docker', false);
    assert.equal(buildConfig(off).dockerEnabled, false);
  });

  it('takes the documented default for a flag not given', () => {
    const missing = new Map(base);
    missing.delete('path.procfs');
    missing.delete('web.listen-address');
    const config = buildConfig(missing);
    assert.equal(config.procfs, '/proc');
    assert.deepEqual(config.listenAddress, { host: '127.0.0.1', port: 8095 });
    assert.equal(config.containerdAddress, '/run/containerd/containerd.sock');
  });
});
