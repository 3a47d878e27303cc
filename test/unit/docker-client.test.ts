import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runtimeName } from '../../agent/src/discover/docker.js';
import {
  dockerOptions,
  lowerVersion,
  parseEvent,
} from '../../agent/src/sources/docker.js';

describe('Docker Engine API helpers', () => {
  it('negotiates the lower API version', () => {
    assert.equal(lowerVersion('1.41', '1.47'), '1.41');
    assert.equal(lowerVersion('1.51', '1.47'), '1.47');
    assert.equal(lowerVersion('1.9', '1.10'), '1.9');
  });

  it('reads unix and tcp hosts', () => {
    assert.deepEqual(dockerOptions('unix:///run/user/1000/docker.sock'), {
      socketPath: '/run/user/1000/docker.sock',
    });
    assert.deepEqual(dockerOptions('tcp://10.0.0.2:2376'), {
      host: '10.0.0.2',
      port: '2376',
      protocol: 'http',
    });
    assert.throws(() => dockerOptions('ssh://host'), /unsupported Docker host/);
  });

  it('parses container events and ignores the rest', () => {
    const start = JSON.stringify({
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'abc', Attributes: { name: 'web' } },
    });
    assert.deepEqual(parseEvent(start), { id: 'abc', action: 'start' });
    const exec = JSON.stringify({
      Type: 'container',
      Action: 'exec_start: sh -c echo: hi',
      Actor: { ID: 'abc' },
    });
    assert.deepEqual(parseEvent(exec), { id: 'abc', action: 'exec_start' });
    const network = JSON.stringify({ Type: 'network', Action: 'connect' });
    assert.equal(parseEvent(network), undefined);
    assert.equal(parseEvent(''), undefined);
  });

  it('names runtimes the short way', () => {
    assert.equal(runtimeName('runc'), 'runc');
    assert.equal(runtimeName('io.containerd.runc.v2'), 'runc');
    assert.equal(runtimeName('io.containerd.kata.v2'), 'kata');
    assert.equal(runtimeName('io.containerd.kata-fc.v2'), 'kata');
    assert.equal(runtimeName('crun'), 'crun');
  });
});
