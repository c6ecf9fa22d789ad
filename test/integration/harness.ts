// Runs the real proxy in-process on an objects file, with real backends on loopback addresses
// and real clients. Each test file takes its own 127.x.y.0/24 block so files can run in parallel.
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../proxy/observe/logger.ts';
import { startProxy, type ProxyOptions, type RunningProxy } from '../../proxy/proxy.ts';
import { createObjectsFileSource } from '../../proxy/source/objects-file.ts';
import { startBackend, type Backend } from '../support/backend-server.ts';
import { writeObjectsFile } from '../support/objects.ts';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Harness {
  proxy: RunningProxy;
  dir: string;
  file: string;
  logs: LogLine[];
  /** Writes the objects file and waits until the proxy has applied it. */
  write(objects: unknown[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A free port for a NodePort or a backend, outside the kernel's ephemeral range (32768+), so
 * that no port-0 server of a test running in parallel can take it between check and use.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const s = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, host, () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    }
  }
}

/** Backends on `${prefix}.N` (N = first..), all on one port, as pods of a Service are. */
export async function startBackends(prefix: string, first: number, count: number, port?: number): Promise<Backend[]> {
  const p = port ?? (await freePort(`${prefix}.${first}`));
  const out: Backend[] = [];
  for (let i = 0; i < count; i++) out.push(await startBackend({ host: `${prefix}.${first + i}`, port: p, name: `pod-${first + i}` }));
  return out;
}

export async function startHarness(objects: unknown[], options: Partial<ProxyOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'npp-it-'));
  const file = path.join(dir, 'objects.yaml');
  writeObjectsFile(file, objects);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const logger = createLogger('info', sink);
  let source!: ReturnType<typeof createObjectsFileSource>;
  const proxy = await startProxy(
    {
      nodeName: 'node-a',
      proxyName: 'nodeport-proxy',
      nodePortAddresses: '127.0.0.1/32',
      metricsBindAddress: { host: '127.0.0.1', port: 0 },
      healthzBindAddress: { host: '127.0.0.1', port: 0 },
      adminBindAddress: { host: '127.0.0.1', port: 0 },
      dial: { connectTimeoutMs: 1000, maxAttempts: 3, retryBudgetMs: 5000, idleTimeoutMs: 0 },
      algorithm: 'least-connections',
      failureCooldownMs: 2000,
      drainTimeoutMs: 0,
      healthTimeoutMs: 60_000,
      reusePort: false,
      ...options,
    },
    {
      source: () => (source = createObjectsFileSource({ file, proxyName: 'nodeport-proxy', nodeName: 'node-a', logger, debounceMs: 5 })),
      logger,
      defaultMetrics: false,
    },
  );
  await proxy.synced;
  await waitForListeners(proxy);
  return {
    proxy,
    dir,
    file,
    logs,
    async write(objs) {
      writeObjectsFile(file, objs);
      // Apply now rather than waiting for the fs watcher, so tests are deterministic; the watcher
      // path is covered by its own test.
      await source.reload();
      await waitForListeners(proxy);
    },
    async stop() {
      await proxy.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Listeners open asynchronously after a table change; wait until every route has one. */
async function waitForListeners(proxy: RunningProxy): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const listening = proxy.listeners.listening();
    const routes = [...proxy.table.routes()];
    if (routes.every((r) => (listening[`${r.servicePort.protocol}/${r.servicePort.nodePort}`] ?? []).length > 0)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One HTTP GET over a fresh connection; resolves with the body or the error code. */
export function get(port: number, pathName = '/', host = '127.0.0.1'): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: pathName, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

export const PROXY_BIN = path.resolve(import.meta.dirname, '../../proxy/cli/bin.ts');

/**
 * The `nodeport-proxy` command as a real process on an objects file, listening on 127.0.0.1
 * (NodePorts and the three HTTP servers on free ports); `logs()` is its stdout and stderr so far.
 */
export async function spawnProxyCli(file: string, extraArgs: string[] = []): Promise<{ proc: ChildProcess; logs: () => string; ports: { metrics: number; healthz: number; admin: number } }> {
  const ports = { metrics: await freePort(), healthz: await freePort(), admin: await freePort() };
  const proc = spawn(process.execPath, [
    PROXY_BIN, '--objects-file', file, '--hostname-override', 'node-a', '--nodeport-addresses', '127.0.0.1/32',
    '--metrics-bind-address', `127.0.0.1:${ports.metrics}`, '--healthz-bind-address', `127.0.0.1:${ports.healthz}`,
    '--admin-bind-address', `127.0.0.1:${ports.admin}`, '--shutdown-timeout', '10s', ...extraArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout!.on('data', (c) => (logs += c));
  proc.stderr!.on('data', (c) => (logs += c));
  return { proc, logs: () => logs, ports };
}
