// Scenario 4, memory: (a) RSS of each userspace proxy holding N idle proxied connections (each
// proven end to end by an echoed byte), as the growth over the same proxy's RSS before them;
// (b) RSS of nodeport-proxy holding 10,000 NodePort Services with 100,000 endpoints.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { background, inNs, rssBytes, waitFor } from '../lib/exec.ts';
import { wrk } from '../lib/load.ts';
import { nodeportProxyArgv, writeObjectsFile, type ProxyEnv, type Target } from '../lib/proxies.ts';
import { tcpReachable } from '../lib/topology.ts';
import type { TargetFactory } from './datapath.ts';

export interface IdleResult {
  target: string;
  connections: number;
  opened: number;
  failed: number;
  openMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
}

export async function idleConnections(env: ProxyEnv, factories: TargetFactory[], count: number, log: (s: string) => void): Promise<IdleResult[]> {
  const out: IdleResult[] = [];
  for (const f of factories) {
    const t: Target = await f.start();
    try {
      await wrk(env.clientNs, `http://${t.host}:${t.port('http')}/`, { threads: 1, connections: 10, seconds: 1 });
      await sleep(1500);
      const before = rssBytes(t.pid!);
      const dir = join(env.workDir, `idle-${t.name}`);
      mkdirSync(dir, { recursive: true });
      const client = background(inNs(env.clientNs, [env.node, 'bench/tools/hold.ts', 'client', t.host, String(t.port('hold')), String(count), '300']), join(dir, 'client.log'));
      let line = '';
      client.child.stdout!.on('data', (d: Buffer) => { line += d.toString(); });
      await waitFor(`${count} idle connections through ${t.name}`, () => line.includes('\n'), 240_000, 200);
      const r = JSON.parse(line.split('\n')[0]) as { ok: number; failed: number; openMs: number };
      await sleep(2000); // let lazily allocated per-connection state settle before reading RSS
      const after = rssBytes(t.pid!);
      await client.stop();
      const res = { target: t.name, connections: count, opened: r.ok, failed: r.failed, openMs: r.openMs, rssBeforeBytes: before, rssAfterBytes: after, bytesPerConnection: r.ok ? (after - before) / r.ok : NaN };
      log(`idle ${t.name}: ${r.ok}/${count} open, RSS ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB, ${(res.bytesPerConnection / 1024).toFixed(1)} KiB/conn`);
      out.push(res);
    } finally {
      await t.stop();
      await sleep(1000);
    }
  }
  return out;
}

export interface ScaleResult { services: number; endpoints: number; objectsFileBytes: number; readyMs: number; rssBytes: number }

/**
 * 10,000 Services cannot each get a NodePort from Kubernetes' default 30000-32767 range; the file
 * uses 20000-29999 as a cluster with --service-node-port-range=20000-32767 would.
 */
export async function serviceScale(env: ProxyEnv, services: number, endpointsPerService: number, log: (s: string) => void): Promise<ScaleResult> {
  const dir = join(env.workDir, 'scale');
  mkdirSync(dir, { recursive: true });
  const labels = { 'service.kubernetes.io/service-proxy-name': 'nodeport-proxy' };
  const objects: object[] = [];
  for (let i = 0; i < services; i++) {
    const name = `svc-${i}`;
    objects.push({
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'scale', labels },
      spec: { type: 'NodePort', clusterIP: `10.96.${(i + 10) >> 8}.${(i + 10) & 255}`, selector: { app: name }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 20000 + i }] },
    });
    objects.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'scale', labels: { ...labels, 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      // 10.202.0.0/16: addresses of no host; nothing connects to them in this test.
      endpoints: Array.from({ length: endpointsPerService }, (_, j) => {
        const n = i * endpointsPerService + j;
        return { addresses: [`10.202.${(n >> 8) & 255}.${n & 255}`], conditions: { ready: true, serving: true, terminating: false } };
      }),
    });
  }
  const file = join(dir, 'objects.yaml');
  writeObjectsFile(file, objects);
  const { statSync } = await import('node:fs');
  const size = statSync(file).size;
  const started = performance.now();
  const proc = background(inNs(env.nodeNs, nodeportProxyArgv(env, file)), join(dir, 'proxy.log'));
  try {
    // Ready = the last Service's NodePort accepts, i.e. every Service has been programmed.
    await waitFor('10,000-service table', async () => {
      if (proc.child.exitCode !== null) throw new Error(`nodeport-proxy exited ${proc.child.exitCode}`);
      return tcpReachable(env.clientNs, env.nodeIp, 20000 + services - 1);
    }, 300_000, 250);
    const readyMs = performance.now() - started;
    await sleep(3000);
    const rss = rssBytes(proc.pid);
    log(`scale: ${services} services / ${services * endpointsPerService} endpoints ready in ${(readyMs / 1000).toFixed(1)} s, RSS ${(rss / 2 ** 20).toFixed(1)} MiB`);
    return { services, endpoints: services * endpointsPerService, objectsFileBytes: size, readyMs, rssBytes: rss };
  } finally {
    await proc.stop('SIGTERM', 15_000);
  }
}
