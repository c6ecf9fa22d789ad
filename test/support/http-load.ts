// Client load for the demo and the integration tests: a steady stream of GET requests through
// the proxy, either a new connection per request, or keep-alive connections that (like Go's
// net/http and browsers) retry an idempotent request once when a reused connection is closed
// before any response byte arrives. Failures are counted by kind.
import http from 'node:http';

export type ClientKind = 'new-connection' | 'keep-alive';

export interface LoadResult {
  ok: number;
  failed: number;
  failures: Record<string, number>;
  retriedOnReusedConnection: number;
  byBackend: Record<string, number>;
}

export interface LoadOptions {
  host: string;
  port: number;
  kind: ClientKind;
  /** Concurrent request loops. */
  concurrency: number;
  /** Pause between requests in each loop (ms). */
  intervalMs?: number;
  path?: string;
  timeoutMs?: number;
  /** Bounded load: stop after this many requests in total, if reached before stop(). */
  maxRequests?: number;
}

export interface RunningLoad {
  /** Stops issuing requests and resolves with the totals once in-flight ones end. */
  stop(): Promise<LoadResult>;
  snapshot(): LoadResult;
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const agent = new http.Agent({ keepAlive: opts.kind === 'keep-alive', maxSockets: opts.concurrency });
  const result: LoadResult = { ok: 0, failed: 0, failures: {}, retriedOnReusedConnection: 0, byBackend: {} };
  let running = true;
  let issued = 0;
  const maxRequests = opts.maxRequests ?? 1_000_000;

  const once = (): Promise<{ backend: string } | { error: NodeJS.ErrnoException; retryable: boolean }> =>
    new Promise((resolve) => {
      let gotResponse = false;
      const req = http.get(
        { host: opts.host, port: opts.port, path: opts.path ?? '/', agent, timeout: opts.timeoutMs ?? 5000, headers: opts.kind === 'new-connection' ? { connection: 'close' } : {} },
        (res) => {
          gotResponse = true;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            res.statusCode === 200 ? resolve({ backend: body.trim() }) : resolve({ error: Object.assign(new Error(`HTTP ${res.statusCode}`), { code: `HTTP_${res.statusCode}` }), retryable: false }),
          );
          res.on('error', (error: NodeJS.ErrnoException) => resolve({ error, retryable: false }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      // No response byte yet on a reused connection: the server closed it while idle (a race
      // every HTTP client handles by retrying idempotent requests once).
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error, retryable: req.reusedSocket && !gotResponse }));
    });

  const loop = async () => {
    while (running && issued < maxRequests) {
      issued++;
      let r = await once();
      if ('error' in r && r.retryable) {
        result.retriedOnReusedConnection++;
        r = await once();
      }
      if ('error' in r) {
        result.failed++;
        const kind = r.error.code ?? r.error.message;
        result.failures[kind] = (result.failures[kind] ?? 0) + 1;
      } else {
        result.ok++;
        result.byBackend[r.backend] = (result.byBackend[r.backend] ?? 0) + 1;
      }
      if (opts.intervalMs) await new Promise((res) => setTimeout(res, opts.intervalMs));
    }
  };
  const loops = Array.from({ length: opts.concurrency }, loop);
  return {
    snapshot: () => structuredClone(result),
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}
