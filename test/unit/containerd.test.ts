import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import protobuf from 'protobufjs/light.js';

import {
  ContainerdClient,
  METHODS,
  criNames,
  decodeContainers,
  decodeNamespaces,
  socketPath,
} from '../../agent/src/sources/containerd.js';

/**
 * The upstream messages with more fields than the client defines, as
 * containerd sends them: the decoder must skip what it does not know.
 * Field numbers follow containerd's api/services/{containers,namespaces}/v1.
 */
const { Field, MapField } = protobuf;

function message(name: string, ...fields: protobuf.FieldBase[]): protobuf.Type {
  const type = new protobuf.Type(name);
  for (const field of fields) type.add(field);
  return type;
}

const upstream = new protobuf.Root()
  .add(
    message(
      'Any',
      new Field('typeUrl', 1, 'string'),
      new Field('value', 2, 'bytes'),
    ),
  )
  .add(
    message(
      'Timestamp',
      new Field('seconds', 1, 'int64'),
      new Field('nanos', 2, 'int32'),
    ),
  )
  .add(
    message(
      'Runtime',
      new Field('name', 1, 'string'),
      new Field('options', 2, 'Any'),
    ),
  )
  .add(
    message(
      'Container',
      new Field('id', 1, 'string'),
      new MapField('labels', 2, 'string', 'string'),
      new Field('image', 3, 'string'),
      new Field('runtime', 4, 'Runtime'),
      new Field('spec', 5, 'Any'),
      new Field('snapshotter', 6, 'string'),
      new Field('snapshotKey', 7, 'string'),
      new Field('createdAt', 8, 'Timestamp'),
      new MapField('extensions', 10, 'string', 'Any'),
      new Field('sandbox', 11, 'string'),
    ),
  )
  .add(
    message(
      'ListContainersResponse',
      new Field('containers', 1, 'Container', 'repeated'),
    ),
  )
  .add(
    message(
      'Namespace',
      new Field('name', 1, 'string'),
      new MapField('labels', 2, 'string', 'string'),
    ),
  )
  .add(
    message(
      'ListNamespacesResponse',
      new Field('namespaces', 1, 'Namespace', 'repeated'),
    ),
  );

function encode(type: string, value: Record<string, unknown>): Uint8Array {
  const message = upstream.lookupType(type);
  return message.encode(message.fromObject(value)).finish();
}

const spec = {
  typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
  value: Buffer.from('{"ociVersion":"1.0.2-dev"}'),
};

describe('containerd message decoding', () => {
  it('reads container records and skips fields it does not define', () => {
    const bytes = encode('ListContainersResponse', {
      containers: [
        {
          id: 'blast-sandbox',
          labels: {
            'io.cri-containerd.kind': 'sandbox',
            'io.kubernetes.pod.name': 'blast-0',
          },
          image: 'registry.k8s.io/pause:3.9',
          runtime: { name: 'io.containerd.kata.v2', options: spec },
          spec,
          snapshotter: 'overlayfs',
          snapshotKey: 'blast-sandbox',
          createdAt: { seconds: 1_700_000_000, nanos: 5 },
          extensions: { 'io.cri-containerd.sandbox.metadata': spec },
          sandbox: 'blast-sandbox',
        },
        { id: 'bare' },
      ],
    });

    assert.deepEqual(decodeContainers('k8s.io', bytes), [
      {
        namespace: 'k8s.io',
        id: 'blast-sandbox',
        image: 'registry.k8s.io/pause:3.9',
        runtime: 'io.containerd.kata.v2',
        labels: {
          'io.cri-containerd.kind': 'sandbox',
          'io.kubernetes.pod.name': 'blast-0',
        },
      },
      { namespace: 'k8s.io', id: 'bare', image: '', runtime: '', labels: {} },
    ]);
  });

  it('reads an empty list from an empty message', () => {
    assert.deepEqual(decodeContainers('default', new Uint8Array()), []);
    assert.deepEqual(decodeNamespaces(new Uint8Array()), []);
  });

  it('reads namespace names and skips their labels', () => {
    const bytes = encode('ListNamespacesResponse', {
      namespaces: [
        { name: 'default' },
        { name: 'k8s.io', labels: { 'containerd.io/gc.root': 'x' } },
        { name: 'moby' },
      ],
    });
    assert.deepEqual(decodeNamespaces(bytes), ['default', 'k8s.io', 'moby']);
  });

  it('rejects bytes that are not a message', () => {
    assert.throws(() => decodeNamespaces(Uint8Array.of(0x0a, 0x05, 0x0a)));
  });
});

describe('criNames', () => {
  it('names the pod of a sandbox', () => {
    const labels = {
      'io.cri-containerd.kind': 'sandbox',
      'io.kubernetes.pod.name': 'blast-0',
      'io.kubernetes.pod.namespace': 'bio',
      'io.kubernetes.pod.uid': '0b6f3c2e-8d7a-4d1e-9a52-3f1f0c1d2e3f',
      'io.containerd.image.config.stop-signal': 'SIGTERM',
    };
    assert.deepEqual(criNames(labels), {
      kind: 'sandbox',
      podName: 'blast-0',
      podNamespace: 'bio',
      podUid: '0b6f3c2e-8d7a-4d1e-9a52-3f1f0c1d2e3f',
    });
  });

  it('names the container of a pod', () => {
    const labels = {
      'io.cri-containerd.kind': 'container',
      'io.kubernetes.pod.name': 'blast-0',
      'io.kubernetes.container.name': 'blast',
    };
    assert.deepEqual(criNames(labels), {
      kind: 'container',
      podName: 'blast-0',
      containerName: 'blast',
    });
  });

  it('gives nothing for records not made by the CRI plugin', () => {
    assert.deepEqual(criNames({}), {});
    assert.deepEqual(criNames({ 'io.cri-containerd.kind': 'other' }), {});
    assert.deepEqual(criNames({ 'io.kubernetes.pod.name': '' }), {});
  });
});

describe('containerd addresses', () => {
  it('accepts a plain path and a unix URL', () => {
    const path = '/run/containerd/containerd.sock';
    assert.equal(socketPath(path), path);
    assert.equal(socketPath(`unix://${path}`), path);
  });

  it('refuses relative paths and other schemes', () => {
    assert.throws(() => socketPath('containerd.sock'), /unsupported/);
    assert.throws(() => socketPath('tcp://10.0.0.2:1234'), /unsupported/);
  });

  it('calls list methods only', () => {
    for (const method of Object.values(METHODS)) {
      assert.match(method, /^\/containerd\.services\.\w+\.v1\.\w+\/List$/);
    }
  });
});

describe('connecting to no containerd', () => {
  let dir = '';
  let silent: Server | undefined;
  const peers = new Set<Socket>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-containerd-'));
  });

  after(async () => {
    for (const peer of peers) peer.destroy();
    await new Promise<void>((resolve) => {
      if (silent === undefined) resolve();
      else
        silent.close(() => {
          resolve();
        });
    });
    await rm(dir, { recursive: true, force: true });
  });

  it('fails at once when the socket does not exist', async () => {
    const started = Date.now();
    await assert.rejects(
      ContainerdClient.connect(join(dir, 'absent.sock'), 2000),
      /containerd socket .*absent\.sock does not exist/,
    );
    assert.ok(Date.now() - started < 500);
  });

  it('refuses a path that is not a socket', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, '');
    await assert.rejects(ContainerdClient.connect(file), /is not a socket/);
  });

  it('gives up at the deadline when nobody answers', async () => {
    // Accepts connections and never speaks HTTP/2.
    const path = join(dir, 'silent.sock');
    silent = createServer((peer) => peers.add(peer));
    const server = silent;
    await new Promise<void>((resolve) => server.listen(path, resolve));

    const started = Date.now();
    await assert.rejects(
      ContainerdClient.connect(`unix://${path}`, 300),
      /did not answer within 300 ms/,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 2000, `took ${elapsed} ms`);
  });
});
