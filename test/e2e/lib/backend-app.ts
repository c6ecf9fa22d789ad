// The pod's backend process: a small HTTP server that behaves like a well-written app.
//   GET /anything            -> 200 "<pod name>\n" (header x-pod); ?delay=ms delays the response
// On SIGTERM it stops accepting at once (the listening socket is closed), closes idle keep-alive
// connections, lets in-flight requests finish (answering them with `Connection: close`) and exits
// when the last connection is gone. There is no delay before closing the listener: that is the
// app the proxy must protect (no preStop sleep).
//
// Usage: node backend-app.ts --name web-1 --port 8080 [--report]
// stdout (JSON lines): {"ev":"listening"} once; with --report {"ev":"conn","t":ms} per accepted
// connection; {"ev":"term"} on SIGTERM. The kubelet stand-in reads these.
import { createServer, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '0.0.0.0' },
    report: { type: 'boolean', default: false },
  },
});
const name = values.name ?? 'backend';
let closing = false;

function emit(ev: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

function answer(res: ServerResponse): void {
  // Once terminating, tell keep-alive clients not to reuse this connection.
  if (closing) res.setHeader('connection', 'close');
  res.setHeader('x-pod', name);
  res.setHeader('content-type', 'text/plain');
  res.end(`${name}\n`);
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
  if (delay > 0) setTimeout(() => answer(res), delay);
  else answer(res);
});

if (values.report) server.on('connection', () => emit({ ev: 'conn', t: Date.now() }));

server.listen(Number(values.port), values.host, () => emit({ ev: 'listening', port: Number(values.port) }));

process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  emit({ ev: 'term', t: Date.now() });
  // close() stops accepting immediately and calls back once every connection has ended.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
