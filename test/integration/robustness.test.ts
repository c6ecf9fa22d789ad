// Issue 2, 12(e)-(f) and the early-reset replay: bad input never loses what already works.
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../support/backend-server.ts';
import { endpointSlice, service } from '../support/objects.ts';
import { freePort, get, sleep, startBackends, startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;
let backends: Backend[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  await h?.stop();
  for (const b of backends) b.kill();
  for (const s of servers.splice(0)) s.close();
  h = undefined;
  backends = [];
});

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
}

describe('robustness', () => {
  it('(e) a malformed objects file is reported and the previous table keeps serving', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.2.1', 11, 1);
    const [a] = backends as [Backend];
    h = await startHarness([service({ name: 'web', nodePort }), endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: a.host }] })]);
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-11' });
    // Broken YAML, written as an editor would; picked up by the file watcher.
    writeFileSync(h.file, 'apiVersion: v1\nkind: Service\nmetadata: {name: web\n  bad: [\n');
    await until(() => h!.logs.some((l) => l.level >= 50 && /invalid YAML/.test(l.msg)));
    const err = h.logs.find((l) => l.level >= 50 && /invalid YAML/.test(l.msg));
    expect(err?.msg).toMatch(new RegExp(`${h.file.replace(/[.]/g, '\\.')}: invalid YAML at line \\d+.*keeping the previous state`));
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-11' });
    // One bad object among good ones: named, skipped; the rest applies.
    await h.write([
      service({ name: 'web', nodePort }),
      endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: a.host }] }),
      { apiVersion: 'v1', kind: 'Service', metadata: {} },
    ]);
    expect(h.logs.some((l) => /object #3 \(Service\): metadata.name is missing; skipped/.test(l.msg))).toBe(true);
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-11' });
  });

  it('a change to the file is applied through the file watcher', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.2.2', 11, 2);
    const [a, b] = backends as [Backend, Backend];
    h = await startHarness([service({ name: 'web', nodePort }), endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: a.host }] })]);
    const { writeObjectsFile } = await import('../support/objects.ts');
    writeObjectsFile(h.file, [service({ name: 'web', nodePort }), endpointSlice({ service: 'web', port: a.port, endpoints: [{ ip: b.host }] })]);
    await until(() => [...h!.proxy.table.routes()][0]?.endpoints[0]?.ip === b.host);
    expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-12' });
  });

  it('(f) a NodePort already in use: a clear error naming the Service, other Services unaffected', async () => {
    const busyPort = await freePort();
    const okPort = await freePort();
    const squatter = net.createServer();
    servers.push(squatter);
    await new Promise<void>((r) => squatter.listen(busyPort, '127.0.0.1', r));
    backends = await startBackends('127.2.3', 11, 1);
    const [a] = backends as [Backend];
    h = await startHarness([
      service({ name: 'busy', nodePort: busyPort }),
      endpointSlice({ service: 'busy', port: a.port, endpoints: [{ ip: a.host }] }),
      service({ name: 'ok', nodePort: okPort }),
      endpointSlice({ service: 'ok', port: a.port, endpoints: [{ ip: a.host }] }),
    ]);
    await until(() => h!.logs.some((l) => /cannot listen/.test(l.msg)));
    const line = h.logs.find((l) => /cannot listen/.test(l.msg));
    expect(line?.msg).toBe(`cannot listen on 127.0.0.1:${busyPort} for Service default/busy: EADDRINUSE; retrying`);
    expect(await get(okPort)).toEqual({ status: 200, body: 'pod-11' });
    const metrics = await (await fetch(`http://${h.proxy.addresses.metrics}/metrics`)).text();
    expect(metrics).toMatch(/nodeport_proxy_bind_failures_total [1-9]/);
  });

  it('replays to another endpoint when a backend resets before reading (listen backlog reset)', async () => {
    const nodePort = await freePort();
    // A backend that accepts and resets at once without reading: what the kernel does to
    // connections still in the backlog when an app closes its listener.
    const resetter = net.createServer((s) => s.resetAndDestroy());
    servers.push(resetter);
    backends = await startBackends('127.2.4', 12, 1);
    const [good] = backends as [Backend];
    await new Promise<void>((r) => resetter.listen(good.port, '127.2.4.11', r));
    h = await startHarness([
      service({ name: 'web', nodePort }),
      endpointSlice({ service: 'web', port: good.port, endpoints: [{ ip: '127.2.4.11' }, { ip: good.host }] }),
    ], { algorithm: 'random', failureCooldownMs: 1 });
    for (let i = 0; i < 20; i++) expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-12' });
    const metrics = await (await fetch(`http://${h.proxy.addresses.metrics}/metrics`)).text();
    expect(metrics).toMatch(/nodeport_proxy_connect_failures_total\{service="default\/web",reason="(reset|closed)"\} [1-9]/);
  });

  it('does not replay when a backend read the request and closed without answering', async () => {
    const nodePort = await freePort();
    let seen = 0;
    const reader = net.createServer((s) => s.once('data', () => { seen++; s.end(); }));
    servers.push(reader);
    const port = await freePort('127.2.5.11');
    await new Promise<void>((r) => reader.listen(port, '127.2.5.11', r));
    backends = await startBackends('127.2.5', 12, 1, port);
    h = await startHarness([
      service({ name: 'web', nodePort }),
      endpointSlice({ service: 'web', port, endpoints: [{ ip: '127.2.5.11' }, { ip: '127.2.5.12' }] }),
    ], { algorithm: 'random' });
    // Until the reader is picked once; then the client must see the close, not a retry.
    let closedWithoutAnswer = 0;
    for (let i = 0; i < 30 && closedWithoutAnswer === 0; i++) {
      const r = await get(nodePort);
      if ('error' in r) closedWithoutAnswer++;
    }
    expect(closedWithoutAnswer).toBe(1);
    expect(seen).toBe(1); // processed exactly once, never duplicated on the other backend
  });
});
