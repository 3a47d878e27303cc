import type {
  HistoryResponse,
  HistoryWindowSeconds,
  HostResponse,
  LiveWorkloadJson,
  SeriesName,
  TickEvent,
} from '../../agent/src/export/api.js';

/**
 * The agent's HTTP API as the dashboard uses it. The payload types come
 * from the agent, type-only, so a change to the contract breaks this build.
 * Paths are relative, so the page works behind a path prefix and under the
 * Vite dev server's proxy.
 */

export type {
  HistoryResponse,
  HistoryWindowSeconds,
  HostResponse,
  LiveWorkloadJson,
  SeriesName,
  TickEvent,
};

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, {
    headers: { accept: 'application/json' },
  });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return (await response.json()) as T;
}

export function fetchHost(): Promise<HostResponse> {
  return getJson<HostResponse>('api/v1/host');
}

/** A workload's history; undefined when the agent keeps none for it. */
export async function fetchHistory(
  id: string,
  windowSeconds: HistoryWindowSeconds,
): Promise<HistoryResponse | undefined> {
  const path =
    `api/v1/workloads/${encodeURIComponent(id)}/history` +
    `?window=${windowSeconds}`;
  try {
    return await getJson<HistoryResponse>(path);
  } catch {
    return undefined;
  }
}

/**
 * Follows /api/v1/events. EventSource reconnects by itself after a network
 * error; after a refused request (the agent answered 5xx) it gives up, so
 * then a new one is opened after a pause.
 */
export function followTicks(handlers: {
  onTick: (event: TickEvent) => void;
  onConnectionChange: (connected: boolean) => void;
}): void {
  const RETRY_MS = 2000;
  const open = (): void => {
    const source = new EventSource('api/v1/events');
    source.addEventListener('open', () => {
      handlers.onConnectionChange(true);
    });
    source.addEventListener('tick', (message: MessageEvent<string>) => {
      handlers.onTick(JSON.parse(message.data) as TickEvent);
    });
    source.addEventListener('error', () => {
      handlers.onConnectionChange(false);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(open, RETRY_MS);
      }
    });
  };
  open();
}
