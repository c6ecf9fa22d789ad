// Issue 2, 12(b)-(d) and the data-plane rules of item 5: connect retry, draining long-lived
// connections, the KEP-1669 fallback, REJECT-like resets, half-close and reset propagation.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../support/backend-server.ts';
import { startLoad } from '../support/http-load.ts';
import { endpointSlice, service, type EndpointSpec } from '../support/objects.ts';
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

const objectsFor = (nodePort: number, port: number, endpoints: EndpointSpec[]) => [
  service({ name: 'web', nodePort }),
  endpointSlice({ service: 'web', port, endpoints }),
];

async function metric(h: Harness, name: string): Promise<number> {
  const text = await (await fetch(`http://${h.proxy.addresses.metrics}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('data plane', () => {
  it('(b) a backend that stops listening with no table change: connects are retried elsewhere, 0 failed', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.1.3', 11, 3);
    const port = backends[0]!.port;
    h = await startHarness(objectsFor(nodePort, port, backends.map((b) => ({ ip: b.host }))));
    const load = startLoad({ host: '127.0.0.1', port: nodePort, kind: 'new-connection', concurrency: 4, intervalMs: 2 });
    await sleep(200);
    // The process stops listening (crashed between requests, or shutting down before the
    // control plane noticed); the table still lists it as ready.
    void backends[1]!.stop();
    // Keep the load on until a connect to the stopped backend has been refused (and retried):
    // on a busy machine (the whole suite in parallel) that can take longer than usual.
    const refused = () => metric(h!, 'nodeport_proxy_connect_failures_total{service="default/web",reason="refused"}');
    for (let i = 0; i < 100 && (await refused()) < 1; i++) await sleep(100);
    await sleep(300);
    const result = await load.stop();
    expect(result.failures).toEqual({});
    expect(result.ok).toBeGreaterThan(50);
    expect(await refused()).toBeGreaterThan(0);
    expect(await metric(h, 'nodeport_proxy_connect_retries_total')).toBeGreaterThan(0);
  });

  it('(c) a long-lived connection to an endpoint turning serving+terminating keeps flowing; new ones go elsewhere', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.1.4', 11, 2);
    const [a, b] = backends as [Backend, Backend];
    h = await startHarness(objectsFor(nodePort, a.port, [{ ip: a.host }, { ip: b.host }]));
    // Pin the stream to `a`: with b not ready for the moment, a is the only choice.
    await h.write(objectsFor(nodePort, a.port, [{ ip: a.host }, { ip: b.host, ready: false, serving: false }]));
    const stream = net.connect(nodePort, '127.0.0.1');
    let received = '';
    stream.on('data', (c) => (received += c));
    stream.write('GET /stream HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(200);
    expect(received).toContain('pod-11');
    // a starts terminating (still serving); b is ready.
    await h.write(objectsFor(nodePort, a.port, [{ ip: a.host, ready: false, serving: true, terminating: true }, { ip: b.host }]));
    const view = (await (await fetch(`http://${h.proxy.addresses.admin}/debug/connections`)).json()) as { backend: string; state: string }[];
    expect(view).toEqual([expect.objectContaining({ backend: `${a.host}:${a.port}`, state: 'draining' })]);
    const before = received.length;
    for (let i = 0; i < 10; i++) expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-12' });
    await sleep(200);
    expect(received.length).toBeGreaterThan(before); // the stream still flows
    expect(stream.destroyed).toBe(false);
    // Removed from the slice entirely: without --drain-timeout it is left to finish.
    await h.write(objectsFor(nodePort, a.port, [{ ip: b.host }]));
    await sleep(200);
    expect(stream.destroyed).toBe(false);
    const n = received.length;
    await sleep(150);
    expect(received.length).toBeGreaterThan(n);
    stream.destroy();
  });

  it('--drain-timeout closes connections to a removed endpoint after the timeout, and counts them', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.1.5', 11, 1);
    const [a] = backends as [Backend];
    h = await startHarness(objectsFor(nodePort, a.port, [{ ip: a.host }]), { drainTimeoutMs: 300 });
    const stream = net.connect(nodePort, '127.0.0.1');
    stream.on('error', () => {});
    stream.resume(); // read, so the FIN is seen
    stream.write('GET /stream HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(150);
    await h.write(objectsFor(nodePort, a.port, []));
    await sleep(100);
    expect(stream.destroyed).toBe(false);
    await new Promise((r) => stream.once('close', r));
    expect(await metric(h, 'nodeport_proxy_connections_drained_total')).toBe(1);
  });

  it('(d) KEP-1669: with every endpoint terminating but serving, traffic is still served', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.1.6', 11, 2);
    const [a, b] = backends as [Backend, Backend];
    h = await startHarness(
      objectsFor(nodePort, a.port, [
        { ip: a.host, ready: false, serving: true, terminating: true },
        { ip: b.host, ready: false, serving: false, terminating: true }, // failing readiness: never used
      ]),
    );
    for (let i = 0; i < 10; i++) expect(await get(nodePort)).toEqual({ status: 200, body: 'pod-11' });
  });

  it('no usable endpoint: the client is reset at once and it is counted', async () => {
    const nodePort = await freePort();
    h = await startHarness(objectsFor(nodePort, 9, [{ ip: '127.1.7.11', ready: false, serving: false }]));
    const r = await get(nodePort);
    expect(r).toEqual({ error: 'ECONNRESET' });
    expect(await metric(h, 'nodeport_proxy_no_endpoints_resets_total{service="default/web"}')).toBe(1);
  });

  it('half-close: the client can finish sending and still read the whole answer', async () => {
    const nodePort = await freePort();
    // A raw TCP backend that answers only after the client half-closes (like `nc -q`).
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (c) => (got += c));
      s.on('end', () => s.end(`got ${got.length} bytes`));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.1.8.11', r));
    const port = (server.address() as net.AddressInfo).port;
    h = await startHarness(objectsFor(nodePort, port, [{ ip: '127.1.8.11' }]));
    const c = net.connect({ port: nodePort, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    c.on('data', (d) => (answer += d));
    c.end('x'.repeat(100_000));
    await new Promise((r) => c.once('end', r));
    expect(answer).toBe('got 100000 bytes');
  });

  it('a reset from the backend reaches the client as a reset', async () => {
    const nodePort = await freePort();
    const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.1.9.11', r));
    const port = (server.address() as net.AddressInfo).port;
    h = await startHarness(objectsFor(nodePort, port, [{ ip: '127.1.9.11' }]));
    const c = net.connect(nodePort, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      c.on('error', resolve);
      c.on('close', () => resolve(Object.assign(new Error('closed without error'), { code: 'NONE' })));
      c.write('hello');
    });
    expect(err.code).toBe('ECONNRESET');
  });

  it('moves bulk data both ways intact (backpressure)', async () => {
    const nodePort = await freePort();
    backends = await startBackends('127.1.10', 11, 1);
    const [a] = backends as [Backend];
    h = await startHarness(objectsFor(nodePort, a.port, [{ ip: a.host }]));
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const res = await fetch(`http://127.0.0.1:${nodePort}/echo`, { method: 'POST', body });
    const echoed = Buffer.from(await res.arrayBuffer());
    expect(echoed.length).toBe(body.length);
    expect(echoed.equals(body)).toBe(true);
  });
});
