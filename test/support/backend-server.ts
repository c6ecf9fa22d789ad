// A small HTTP backend that behaves like a well-written app: answers with its name; on stop
// (SIGTERM) it stops accepting at once, finishes in-flight requests and closes idle keep-alive
// connections. Used by the demo, `npm start` and the integration tests, in-process or as a child
// process (`node test/support/backend-server.ts --host H --port P --name N`).
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface Backend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly server: http.Server;
  /** Requests answered so far. */
  readonly served: () => number;
  /** Graceful stop, as on SIGTERM. */
  stop(): Promise<void>;
  /** Abrupt stop, as on SIGKILL: every socket is destroyed. */
  kill(): void;
}

export interface BackendOptions {
  host: string;
  port: number;
  name: string;
  /** Delay before answering (ms), to keep requests in flight. */
  delayMs?: number;
}

export function startBackend(opts: BackendOptions): Promise<Backend> {
  let served = 0;
  const server = http.createServer((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? opts.delayMs ?? 0);
    const answer = () => {
      served++;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': opts.name }).end(`${opts.name}\n`);
    };
    if (req.url?.startsWith('/stream')) {
      // A long-lived response: one line every 50 ms until the client goes away.
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': opts.name });
      const t = setInterval(() => res.write(`${opts.name}\n`), 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      // Echo the body back (bulk transfers, half-close tests).
      res.writeHead(200, { 'x-backend': opts.name });
      req.pipe(res);
      return;
    }
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const port = (server.address() as { port: number }).port;
      resolve({
        name: opts.name,
        host: opts.host,
        port,
        server,
        served: () => served,
        stop: () =>
          new Promise<void>((r) => {
            // close() stops accepting now and calls back when in-flight requests are done;
            // idle keep-alive sockets are closed so clients see a clean close, not a hang.
            server.close(() => r());
            server.closeIdleConnections();
          }),
        kill: () => {
          server.close();
          server.closeAllConnections();
        },
      });
    });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' }, name: { type: 'string', default: 'backend' } } });
  const b = await startBackend({ host: values.host!, port: Number(values.port), name: values.name! });
  process.stdout.write(`${JSON.stringify({ listening: `${b.host}:${b.port}`, name: b.name })}\n`);
  process.once('SIGTERM', () => void b.stop().then(() => process.exit(0)));
}
