import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import {
  ContainerdClient,
  criNames,
  type ContainerRecord,
} from '../../agent/src/sources/containerd.js';
import {
  CONTAINERD_SOCKET,
  ctr,
  ensureContainerd,
  ensureImage,
  stopContainerd,
} from '../rig/containerd.js';

/**
 * The client against a real containerd. ctr creates container records
 * without tasks (nothing runs, no Kata is needed): one as ctr or nerdctl
 * would in `default`, one shaped like a Kubernetes pod sandbox in `k8s.io`.
 * The client must find both by id and name the pod from its CRI labels.
 */

const KATA = 'io.containerd.kata.v2';
const SUFFIX = randomBytes(4).toString('hex');
const PLAIN_ID = `ms-it-kata-${SUFFIX}`;
const POD_ID = `ms-it-kata-pod-${SUFFIX}`;
const POD_LABELS = {
  'io.kubernetes.pod.name': 'blast-0',
  'io.kubernetes.pod.namespace': 'bio',
  'io.kubernetes.container.name': 'blast',
  'io.cri-containerd.kind': 'sandbox',
};
const LONG = { timeout: 120_000 };

interface Created {
  readonly namespace: string;
  readonly id: string;
  readonly image: string;
}

/** Creates a Kata container record (no task) and remembers it for cleanup. */
async function createRecord(
  namespace: string,
  id: string,
  labels: Readonly<Record<string, string>>,
  created: Created[],
): Promise<Created> {
  const image = await ensureImage(namespace);
  const labelArgs = Object.entries(labels).flatMap(([key, value]) => [
    '--label',
    `${key}=${value}`,
  ]);
  await ctr([
    ...['-n', namespace, 'containers', 'create', '--runtime', KATA],
    ...labelArgs,
    image,
    id,
  ]);
  const record = { namespace, id, image };
  created.push(record);
  return record;
}

/** The record of `id` in whichever namespace holds it, as naming looks. */
async function findById(
  client: ContainerdClient,
  id: string,
): Promise<ContainerRecord | undefined> {
  for (const namespace of await client.namespaces()) {
    const found = (await client.containers(namespace)).find((c) => c.id === id);
    if (found) return found;
  }
  return undefined;
}

describe('containerd client against containerd', LONG, () => {
  let started: ChildProcess | undefined;
  let client: ContainerdClient | undefined;
  const created: Created[] = [];
  let plain: Created | undefined;
  let pod: Created | undefined;

  before(async () => {
    started = await ensureContainerd();
    plain = await createRecord('default', PLAIN_ID, {}, created);
    pod = await createRecord('k8s.io', POD_ID, POD_LABELS, created);
    client = await ContainerdClient.connect(CONTAINERD_SOCKET);
  });

  after(async () => {
    client?.close();
    for (const { namespace, id } of created) {
      await ctr(['-n', namespace, 'containers', 'rm', id]).catch(
        (error: unknown) => {
          console.error(`cleanup of ${namespace}/${id} failed`, error);
        },
      );
    }
    if (started) await stopContainerd(started);
  });

  function connected(): ContainerdClient {
    assert.ok(client, 'the client connected in before()');
    return client;
  }

  it('lists the namespaces of both records', async () => {
    const namespaces = await connected().namespaces();
    assert.ok(namespaces.includes('default'), namespaces.join(','));
    assert.ok(namespaces.includes('k8s.io'), namespaces.join(','));
  });

  it('returns the record ctr created in default', async () => {
    assert.ok(plain);
    const records = await connected().containers('default');
    const record = records.find((c) => c.id === PLAIN_ID);
    assert.ok(record, `no ${PLAIN_ID} among ${records.length} records`);
    assert.equal(record.namespace, 'default');
    assert.equal(record.image, plain.image);
    assert.equal(record.runtime, KATA);
    assert.deepEqual(criNames(record.labels), {});
  });

  it('names a pod sandbox found by its id alone', async () => {
    assert.ok(pod);
    const record = await findById(connected(), POD_ID);
    assert.ok(record, `no ${POD_ID} in any namespace`);
    assert.equal(record.namespace, 'k8s.io');
    assert.equal(record.image, pod.image);
    assert.equal(record.runtime, KATA);
    for (const [key, value] of Object.entries(POD_LABELS)) {
      assert.equal(record.labels[key], value, key);
    }
    assert.deepEqual(criNames(record.labels), {
      podName: 'blast-0',
      podNamespace: 'bio',
      containerName: 'blast',
      kind: 'sandbox',
    });
  });

  it('keeps namespaces apart', async () => {
    const records = await connected().containers('k8s.io');
    assert.ok(records.every((c) => c.namespace === 'k8s.io'));
    assert.ok(!records.some((c) => c.id === PLAIN_ID));
  });

  it('fails fast and clearly when the socket does not exist', async () => {
    const absent = `/run/containerd/ms-it-absent-${SUFFIX}.sock`;
    const began = Date.now();
    await assert.rejects(
      ContainerdClient.connect(`unix://${absent}`, 2000),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(
          error.message,
          `containerd socket ${absent} does not exist`,
        );
        return true;
      },
    );
    assert.ok(Date.now() - began < 2000);
  });
});
