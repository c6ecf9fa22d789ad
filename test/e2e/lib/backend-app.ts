// The pod's backend process: a small HTTP server that behaves like a well-written app.
//   GET /anything            -> 200 "<pod name>\n" (header x-pod); ?delay=ms delays the response
// On SIGTERM it shuts down the way Go's http.Server.Shutdown does (the common "well-written app"):
//   - the listening socket is closed at once (new connections are refused from then on);
//   - keep-alive connections that are idle between requests are closed;
//   - in-flight requests finish and are answered with `Connection: close`;
//   - a connection accepted but whose first request has not arrived yet is NOT treated as idle:
//     it gets up to 5 s to send it and is served (Go does the same; Node's own
//     server.close()/closeIdleConnections() would drop it, which no Go/Java app does);
//   - the process exits when the last connection is gone.
// There is no delay before closing the listener: that is the app the proxy must protect (no
// preStop sleep).
//
// Usage: node backend-app.ts --name web-1 --port 8080 [--report]
// stdout (JSON lines): {"ev":"listening"} once; with --report {"ev":"conn","t":ms} per accepted
// connection; {"ev":"term"} on SIGTERM. The kubelet stand-in reads these.
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
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
const FIRST_REQUEST_GRACE_MS = 5_000;
let closing = false;

interface ConnState {
  requests: number;
  active: boolean;
}
const conns = new Map<Socket, ConnState>();

function emit(ev: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

function answer(res: ServerResponse): void {
  // Once terminating, tell keep-alive clients not to reuse this connection; Node then closes it
  // after this response.
  if (closing) res.setHeader('connection', 'close');
  res.setHeader('x-pod', name);
  res.setHeader('content-type', 'text/plain');
  res.end(`${name}\n`);
}

// The HTTP server never listens itself: the net server below accepts and hands sockets over, so
// shutdown is under our control rather than Node's closeIdleConnections().
const http = createHttpServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const st = conns.get(req.socket);
  if (st) {
    st.requests++;
    st.active = true;
    res.on('finish', () => {
      st.active = false;
    });
  }
  const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
  if (delay > 0) setTimeout(() => answer(res), delay);
  else answer(res);
});

const listener = createNetServer((socket) => {
  conns.set(socket, { requests: 0, active: false });
  socket.on('close', () => {
    conns.delete(socket);
    maybeExit();
  });
  if (values.report) emit({ ev: 'conn', t: Date.now() });
  http.emit('connection', socket);
});

listener.listen(Number(values.port), values.host, () => emit({ ev: 'listening', port: Number(values.port) }));

function maybeExit(): void {
  if (closing && conns.size === 0) process.exit(0);
}

process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  emit({ ev: 'term', t: Date.now() });
  listener.close();
  for (const [socket, st] of conns) {
    if (st.requests > 0 && !st.active) {
      socket.destroy(); // idle keep-alive connection
    } else if (st.requests === 0) {
      // Accepted, first request not here yet: serve it if it comes soon.
      setTimeout(() => {
        if (st.requests === 0) socket.destroy();
      }, FIRST_REQUEST_GRACE_MS).unref();
    }
    // Active ones close after their response (Connection: close).
  }
  maybeExit();
});
