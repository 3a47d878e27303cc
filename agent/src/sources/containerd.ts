import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';

import type * as Grpc from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';

/**
 * A read-only client of containerd's gRPC API on its unix socket. It lists
 * namespaces and container records, which is how a Kata sandbox id becomes
 * a name: the sandbox id is the id of a containerd container in some
 * namespace, and that record carries the image, the runtime and the CRI
 * labels. It never calls a method that changes anything.
 */

/** One containerd container record, as far as naming needs it. */
export interface ContainerRecord {
  readonly namespace: string;
  readonly id: string;
  /** The image reference, e.g. `docker.io/library/busybox:latest`. */
  readonly image: string;
  /** The shim name, e.g. `io.containerd.kata.v2`; '' when unset. */
  readonly runtime: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What the Kubernetes CRI labels of a record say; absent when unlabelled. */
export interface CriNames {
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  containerName?: string;
  /** `sandbox` for a pod's pause container (the Kata VM), else `container`. */
  kind?: 'sandbox' | 'container';
}

/** A listing takes milliseconds; this bounds a stuck daemon per call. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** containerd's Go client allows 16 MiB too; a list carries every spec. */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;

/**
 * The only methods this client calls, all of them reads. Paths come from
 * containerd's api/services/{namespaces,containers}/v1 protos.
 */
export const METHODS = {
  namespaces: '/containerd.services.namespaces.v1.Namespaces/List',
  containers: '/containerd.services.containers.v1.Containers/List',
} as const;

/**
 * The messages we read, reduced to the fields we use. Only field numbers
 * and types travel on the wire, so the short type names are ours; fields we
 * leave out (the OCI spec, snapshot, timestamps, extensions, sandbox) are
 * skipped by the decoder. Built by reflection so that no .proto file has to
 * be found at run time.
 */
function message(name: string, ...fields: protobuf.FieldBase[]): protobuf.Type {
  const type = new protobuf.Type(name);
  for (const field of fields) type.add(field);
  return type;
}

const { Field, MapField } = protobuf;
const root = new protobuf.Root()
  .add(message('ListNamespacesRequest'))
  .add(
    message(
      'ListNamespacesResponse',
      new Field('namespaces', 1, 'Namespace', 'repeated'),
    ),
  )
  .add(message('Namespace', new Field('name', 1, 'string')))
  .add(
    message(
      'ListContainersRequest',
      new Field('filters', 1, 'string', 'repeated'),
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
      'Container',
      new Field('id', 1, 'string'),
      new MapField('labels', 2, 'string', 'string'),
      new Field('image', 3, 'string'),
      new Field('runtime', 4, 'Runtime'),
    ),
  )
  .add(message('Runtime', new Field('name', 1, 'string')));

const listNamespacesRequest = root.lookupType('ListNamespacesRequest');
const listNamespacesResponse = root.lookupType('ListNamespacesResponse');
const listContainersRequest = root.lookupType('ListContainersRequest');
const listContainersResponse = root.lookupType('ListContainersResponse');

/** Turns a decoded message into plain data with proto3 defaults filled in. */
function plain(type: protobuf.Type, bytes: Uint8Array): unknown {
  return type.toObject(type.decode(bytes), { defaults: true });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function arrayOf(value: unknown, key: string): unknown[] {
  const list = isObject(value) ? value[key] : undefined;
  return Array.isArray(list) ? (list as unknown[]) : [];
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string') out[key] = item;
  }
  return out;
}

/** Namespace names from an encoded ListNamespacesResponse. */
export function decodeNamespaces(bytes: Uint8Array): string[] {
  return arrayOf(plain(listNamespacesResponse, bytes), 'namespaces')
    .map((ns) => stringOf(isObject(ns) ? ns.name : undefined))
    .filter((name) => name !== '');
}

/** Records from an encoded ListContainersResponse of one namespace. */
export function decodeContainers(
  namespace: string,
  bytes: Uint8Array,
): ContainerRecord[] {
  const records: ContainerRecord[] = [];
  for (const c of arrayOf(plain(listContainersResponse, bytes), 'containers')) {
    if (!isObject(c)) continue;
    records.push({
      namespace,
      id: stringOf(c.id),
      image: stringOf(c.image),
      runtime: stringOf(isObject(c.runtime) ? c.runtime.name : undefined),
      labels: stringRecord(c.labels),
    });
  }
  return records;
}

/** Pod and container names from the labels containerd's CRI plugin sets. */
export function criNames(labels: Readonly<Record<string, string>>): CriNames {
  const names: CriNames = {};
  const podName = labels['io.kubernetes.pod.name'];
  const podNamespace = labels['io.kubernetes.pod.namespace'];
  const podUid = labels['io.kubernetes.pod.uid'];
  const containerName = labels['io.kubernetes.container.name'];
  const kind = labels['io.cri-containerd.kind'];
  if (podName) names.podName = podName;
  if (podNamespace) names.podNamespace = podNamespace;
  if (podUid) names.podUid = podUid;
  if (containerName) names.containerName = containerName;
  if (kind === 'sandbox' || kind === 'container') names.kind = kind;
  return names;
}

/** The socket path of `/path` or `unix:///path`. */
export function socketPath(address: string): string {
  const path = address.startsWith('unix://')
    ? address.slice('unix://'.length)
    : address;
  if (!path.startsWith('/')) {
    throw new Error(
      `unsupported containerd address ${JSON.stringify(address)}` +
        ' (an absolute socket path or unix:///path)',
    );
  }
  return path;
}

/** Why a socket path cannot be used, from the error stat or access gave. */
function unusable(error: unknown): string {
  const code = isObject(error) ? error.code : undefined;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM')
    return 'is not accessible to this user (permission denied)';
  return 'cannot be read';
}

/**
 * Fails at once when nothing can listen at `path`, or when this user may
 * not connect to it. Without this check grpc-js would retry the dial with
 * backoff until the deadline and report a timeout.
 */
async function assertSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await stat(path)).isSocket();
  } catch (error: unknown) {
    throw new Error(`containerd socket ${path} ${unusable(error)}`, {
      cause: error,
    });
  }
  if (!isSocket) throw new Error(`containerd address ${path} is not a socket`);
  try {
    // connect(2) on a unix socket needs write permission on its file.
    await access(path, constants.W_OK);
  } catch (error: unknown) {
    throw new Error(`containerd socket ${path} ${unusable(error)}`, {
      cause: error,
    });
  }
}

export class ContainerdClient {
  private constructor(
    /** @grpc/grpc-js, loaded on first connect: a CLI run without
     * containerd should not pay for loading it. */
    private readonly grpc: typeof Grpc,
    private readonly client: Client,
    /** The socket path, for error messages. */
    private readonly path: string,
    /** The deadline of every call, from its start. */
    private readonly timeoutMs: number,
  ) {}

  /**
   * Connects and waits until the channel is ready, so that a socket with
   * nobody answering fails here, within `timeoutMs`, and not at first use.
   */
  static async connect(
    address: string,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<ContainerdClient> {
    const path = socketPath(address);
    await assertSocket(path);
    const grpc = await import('@grpc/grpc-js');
    const client = new grpc.Client(
      `unix://${path}`,
      grpc.credentials.createInsecure(),
      {
        'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        client.waitForReady(Date.now() + timeoutMs, (error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    } catch (error: unknown) {
      client.close();
      throw new Error(
        `containerd at ${path} did not answer within ${timeoutMs} ms`,
        { cause: error },
      );
    }
    return new ContainerdClient(grpc, client, path, timeoutMs);
  }

  /** Names of all namespaces (namespaces are not themselves namespaced). */
  async namespaces(): Promise<string[]> {
    const request = listNamespacesRequest.encode({}).finish();
    return this.call(METHODS.namespaces, request, decodeNamespaces);
  }

  /** All container records of one namespace, tasks or not. */
  async containers(namespace: string): Promise<ContainerRecord[]> {
    const request = listContainersRequest.encode({}).finish();
    return this.call(
      METHODS.containers,
      request,
      (bytes) => decodeContainers(namespace, bytes),
      namespace,
    );
  }

  close(): void {
    this.client.close();
  }

  /**
   * One unary call with a deadline. containerd reads the namespace from
   * the `containerd-namespace` metadata key.
   */
  private call<T>(
    method: string,
    request: Uint8Array,
    decode: (bytes: Buffer) => T,
    namespace?: string,
  ): Promise<T> {
    const metadata = new this.grpc.Metadata();
    if (namespace !== undefined)
      metadata.set('containerd-namespace', namespace);
    const deadline = Date.now() + this.timeoutMs;
    const where = namespace === undefined ? '' : ` in namespace ${namespace}`;
    return new Promise<T>((resolve, reject) => {
      this.client.makeUnaryRequest(
        method,
        (bytes: Uint8Array) => Buffer.from(bytes),
        decode,
        request,
        metadata,
        { deadline },
        (error: ServiceError | null, value?: T) => {
          if (error === null && value !== undefined) {
            resolve(value);
            return;
          }
          const what = error?.message ?? 'no response';
          const call = `containerd ${method}${where} at ${this.path}`;
          reject(new Error(`${call}: ${what}`, { cause: error }));
        },
      );
    });
  }
}
