import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';

import {
  Server,
  ServerCredentials,
  status,
  type handleUnaryCall,
  type MethodDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';

import { METHODS } from '../../agent/src/sources/containerd.js';

/**
 * Things that sit where containerd's socket should be and fail in one way
 * each: nothing there, a socket that never speaks, one that speaks
 * garbage, a gRPC server that fails every call or answers too late. The
 * agent is pointed at them with --containerd.address.
 */

export interface FakeContainerd {
  /** Connections or calls the agent made; undefined where none can be. */
  attempts(): number | undefined;
  /** Stops listening and removes the socket, freeing the path. */
  close(): Promise<void>;
}

/** Nothing at the path at all. */
export function absentContainerd(): FakeContainerd {
  return { attempts: () => undefined, close: () => Promise.resolve() };
}

/** A unix socket server; `onConnection` decides what the peer hears. */
async function socketServer(
  path: string,
  onConnection: (peer: Socket) => void,
): Promise<FakeContainerd> {
  const peers = new Set<Socket>();
  let connections = 0;
  const server = createServer((peer) => {
    connections++;
    peers.add(peer);
    peer.on('close', () => peers.delete(peer));
    peer.on('error', () => undefined);
    onConnection(peer);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    attempts: () => connections,
    close: async () => {
      for (const peer of peers) peer.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(path, { force: true });
    },
  };
}

/** Accepts connections and never sends a byte: no HTTP/2 settings. */
export function silentContainerd(path: string): Promise<FakeContainerd> {
  return socketServer(path, () => undefined);
}

/** Answers every connection with an HTTP/1.1 error and random bytes. */
export function garbageContainerd(path: string): Promise<FakeContainerd> {
  return socketServer(path, (peer) => {
    peer.write(
      Buffer.concat([
        Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'),
        randomBytes(256),
      ]),
    );
  });
}

/** How a fake gRPC server answers one call. */
type Answer = (
  callback: sendUnaryData<Buffer>,
  /** Resolves when the client gives up on the call. */
  cancelled: Promise<void>,
) => void;

/**
 * A gRPC server with containerd's two List methods, answering each call
 * with `answer` and counting calls. Messages pass through as bytes: no
 * answer below needs to decode a request.
 */
async function grpcServer(
  path: string,
  answer: Answer,
): Promise<FakeContainerd> {
  let calls = 0;
  const bytes = (value: Buffer): Buffer => value;
  const method = (methodPath: string): MethodDefinition<Buffer, Buffer> => ({
    path: methodPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  });
  const unary: handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    calls++;
    const cancelled = new Promise<void>((resolve) => {
      call.on('cancelled', resolve);
    });
    answer(callback, cancelled);
  };
  const server = new Server();
  server.addService(
    {
      namespaces: method(METHODS.namespaces),
      containers: method(METHODS.containers),
    },
    { namespaces: unary, containers: unary },
  );
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(
      `unix://${path}`,
      ServerCredentials.createInsecure(),
      (error) => {
        if (error === null) resolve();
        else reject(error);
      },
    );
  });
  return {
    attempts: () => calls,
    close: async () => {
      server.forceShutdown();
      await rm(path, { force: true });
    },
  };
}

/** Fails every call with UNAVAILABLE, at once. */
export function failingContainerd(path: string): Promise<FakeContainerd> {
  return grpcServer(path, (callback) => {
    callback({ code: status.UNAVAILABLE, details: 'injected fault' });
  });
}

/** Answers every call with an empty list, `delayMs` after it came. */
export function lateContainerd(
  path: string,
  delayMs: number,
): Promise<FakeContainerd> {
  return grpcServer(path, (callback, cancelled) => {
    const reply = setTimeout(() => {
      callback(null, Buffer.alloc(0));
    }, delayMs);
    void cancelled.then(() => {
      clearTimeout(reply);
    });
  });
}
