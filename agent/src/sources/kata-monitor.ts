import { request } from 'node:http';

/**
 * Reads the Prometheus text a Kata shim serves on its monitoring socket
 * (HTTP/1.1 over a unix socket, GET /metrics). Each request makes the shim
 * ask the guest agent for its figures, so callers keep the rate low.
 */

const MAX_BYTES = 4 << 20;

export function fetchShimMetrics(
  socketPath: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: '/metrics',
        method: 'GET',
        timeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`shim answered HTTP ${res.statusCode ?? 0}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BYTES) {
            req.destroy(new Error('shim metrics larger than 4 MiB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.end();
  });
}
