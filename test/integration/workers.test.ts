// `nodeport-proxy --workers 2` as real processes: the kernel spreads connections over both
// workers (SO_REUSEPORT), the primary's /metrics and /debug/connections cover both, a table
// change reaches both, a killed worker is replaced while the other keeps serving, and SIGTERM
// stops everything with exit code 0.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../support/backend-server.ts';
import { endpointSlice, service, writeObjectsFile } from '../support/objects.ts';
import { freePort, get, sleep, spawnProxyCli, startBackends } from './harness.ts';

let child: ChildProcess | undefined;
let backends: Backend[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  for (const s of sockets.splice(0)) s.destroy();
  for (const b of backends) b.kill();
  backends = [];
});

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);

describe('nodeport-proxy --workers 2', () => {
  it('spreads connections over both workers, reports them as one proxy, survives a worker crash, stops on SIGTERM', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.3.2', 11, 2);
    const [a, b] = backends as [Backend, Backend];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npp-workers-'));
    const file = path.join(dir, 'objects.yaml');
    const objects = (aReady: boolean) => [
      service({ name: 'web', nodePort }),
      endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: a.host, ready: aReady, serving: aReady }, { ip: b.host }] }),
    ];
    writeObjectsFile(file, objects(true));
    const { proc, logs: output, ports } = await spawnProxyCli(file, ['--workers', '2']);
    const { metrics: metricsPort, healthz: healthzPort, admin: adminPort } = ports;
    child = proc;
    await until('/healthz 200', async () => (await fetch(`http://127.0.0.1:${healthzPort}/healthz`)).status === 200);
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const connections = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/debug/connections`)).json()) as { worker: number; backend: string }[];

    // 40 long-lived connections: the kernel hashes each 4-tuple to one worker's socket.
    for (let i = 0; i < 40; i++) {
      const s = net.connect(nodePort, '127.0.0.1');
      s.on('error', () => {});
      s.write('GET /stream HTTP/1.1\r\nhost: x\r\n\r\n');
      sockets.push(s);
    }
    const open = await until('40 connections in the merged table', async () => {
      const c = await connections();
      return c.length === 40 && c;
    });
    const perWorker = new Map<number, number>();
    for (const c of open) perWorker.set(c.worker, (perWorker.get(c.worker) ?? 0) + 1);
    expect([...perWorker.keys()].sort()).toEqual([1, 2]);
    const m = await metrics();
    expect(metric(m, /^nodeport_proxy_connection_table_size (\d+)$/m)).toBe(40);
    expect(metric(m, /^nodeport_proxy_workers (\d+)$/m)).toBe(2);
    expect(metric(m, /^nodeport_proxy_table_services (\d+)$/m)).toBe(1); // not 2: one table, not one per worker
    for (const s of sockets.splice(0)) s.destroy();

    // A table change reaches both workers: no new connection goes to the not-ready endpoint.
    writeObjectsFile(file, objects(false));
    await until('endpoint a not usable', async () => {
      const t = (await (await fetch(`http://127.0.0.1:${adminPort}/debug/table`)).json()) as { endpoints: { endpoint: string; usable: boolean }[] }[];
      return t[0]?.endpoints.find((e) => e.endpoint === `${a.host}:${a.port}`)?.usable === false;
    });
    await until('both workers applied it', async () => /^kubeproxy_sync_proxy_rules_endpoint_changes_total 2$/m.test(await metrics()));
    const answers = await Promise.all(Array.from({ length: 30 }, () => get(nodePort)));
    expect(answers).toEqual(Array.from({ length: 30 }, () => ({ status: 200, body: 'pod-12' })));

    // Kill worker 1: the other keeps serving, and the primary starts a replacement.
    const pid = Number(/"worker":1,"pid":(\d+)/.exec(output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await sleep(100);
    const during = await Promise.all(Array.from({ length: 20 }, () => get(nodePort)));
    expect(during).toEqual(Array.from({ length: 20 }, () => ({ status: 200, body: 'pod-12' })));
    await until('replacement worker ready', async () => {
      const text = await metrics();
      return metric(text, /^nodeport_proxy_worker_restarts_total (\d+)$/m) === 1 && metric(text, /^nodeport_proxy_workers (\d+)$/m) === 2;
    });
    const newPid = Number([...output().matchAll(/"worker":1,"pid":(\d+)/g)].at(-1)?.[1]);
    expect(newPid).not.toBe(pid);
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-12' });

    // SIGTERM: every worker stops accepting, the primary exits 0.
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await get(nodePort)).toEqual({ error: 'ECONNREFUSED' });
  }, 60_000);
});
