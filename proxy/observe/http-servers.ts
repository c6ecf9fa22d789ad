// The proxy's three small HTTP servers: health (kubelet probes), metrics (Prometheus) and admin
// (debug views, loopback by default). Each is a plain node:http server on its own address so
// that operators can expose them differently.
import http from 'node:http';
import type { Registry } from 'prom-client';
import type { HealthAnswer } from './health.ts';

export interface BoundServer {
  readonly server: http.Server;
  readonly address: string;
  close(): Promise<void>;
}

export type Routes = Record<string, (req: http.IncomingMessage) => Promise<{ status: number; type: string; body: string }> | { status: number; type: string; body: string }>;

export function parseHostPort(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag}: "${value}" is not HOST:PORT (like 127.0.0.1:10265)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function serve(name: string, hostPort: { host: string; port: number }, routes: Routes, opts: { reusePort?: boolean } = {}): Promise<BoundServer> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = routes[path];
    if (!handler) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    try {
      const out = await handler(req);
      res.writeHead(out.status, { 'Content-Type': out.type, 'X-Content-Type-Options': 'nosniff' }).end(out.body);
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`${name} server: cannot listen on ${hostPort.host}:${hostPort.port}: ${(err as Error).message}`)));
    // With --reuse-port, a new instance can bind the same health/metrics ports as the old one
    // during a DaemonSet rolling update (maxSurge 1); otherwise the new pod never gets ready.
    server.listen({ port: hostPort.port, host: hostPort.host, reusePort: opts.reusePort ?? false }, () => {
      const a = server.address();
      const address = typeof a === 'object' && a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : String(a);
      resolve({
        server,
        address,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

export const healthRoutes = (answer: { healthz(): HealthAnswer; livez(): HealthAnswer }, onCode?: (path: string, code: number) => void): Routes => ({
  '/healthz': () => {
    const a = answer.healthz();
    onCode?.('/healthz', a.status);
    return { status: a.status, type: 'application/json', body: a.body };
  },
  '/livez': () => {
    const a = answer.livez();
    onCode?.('/livez', a.status);
    return { status: a.status, type: 'application/json', body: a.body };
  },
});

export const metricsRoutes = (registry: Registry): Routes => ({
  '/metrics': async () => ({ status: 200, type: registry.contentType, body: await registry.metrics() }),
  '/healthz': () => ({ status: 200, type: 'text/plain', body: 'ok' }),
  '/proxyMode': () => ({ status: 200, type: 'text/plain', body: 'userspace-nodeport-proxy' }),
});

/** /debug/connections and /debug/table, as JSON (one-space indent: readable with curl, still small). */
export const adminRoutes = (views: { connections(): unknown | Promise<unknown>; table(): unknown | Promise<unknown> }): Routes => ({
  '/debug/connections': async () => ({ status: 200, type: 'application/json', body: JSON.stringify(await views.connections(), null, 1) }),
  '/debug/table': async () => ({ status: 200, type: 'application/json', body: JSON.stringify(await views.table(), null, 1) }),
});

/**
 * Starts the HTTP servers whose address is set, in order; if one cannot listen, closes the ones
 * already started and throws its error (which names the server and the address).
 */
export async function startHttpServers(
  specs: [name: 'metrics' | 'healthz' | 'admin', address: { host: string; port: number } | undefined, routes: Routes][],
  reusePort: boolean,
): Promise<{ addresses: { metrics: string; healthz: string; admin: string }; close(): Promise<void> }> {
  const started: BoundServer[] = [];
  const addresses = { metrics: '', healthz: '', admin: '' };
  const close = () => Promise.all(started.map((s) => s.close())).then(() => undefined);
  try {
    for (const [name, address, routes] of specs) {
      if (!address) continue;
      const s = await serve(name, address, routes, { reusePort });
      started.push(s);
      addresses[name] = s.address;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { addresses, close };
}
