// The primary of --workers N with scripted fake workers: it relays every source event to every
// ready worker, brings a late or restarted worker up to date from its object cache, is healthy
// only once every worker has acknowledged, restarts a dead worker, and merges the workers'
// metrics and debug views. The real processes are exercised in test/integration/workers.test.ts.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Source, SourceEvent, SourceEventSink } from '../../../proxy/source/events.ts';
import type { FromWorker, ToWorker } from '../../../proxy/workers/messages.ts';
import { startPrimary, type RunningPrimary, type WorkerProcess } from '../../../proxy/workers/primary.ts';
import { endpointSlice, service } from '../../support/objects.ts';

const until = async (what: string, ok: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A worker that records what it is sent; acks and answers unless told to hold back. */
class FakeWorker extends EventEmitter implements WorkerProcess {
  static nextPid = 1000;
  readonly pid = FakeWorker.nextPid++;
  readonly got: ToWorker[] = [];
  holdAcks = false;
  readonly held: number[] = [];
  connectionsTotal = 0;
  readonly id: number;
  constructor(id: number) {
    super();
    this.id = id;
  }
  events(): SourceEvent[] {
    return this.got.flatMap((m) => (m.t === 'event' ? [m.event] : []));
  }
  reply(msg: FromWorker) {
    queueMicrotask(() => this.emit('message', msg));
  }
  send(msg: ToWorker): boolean {
    this.got.push(msg);
    if (msg.t === 'event') {
      if (this.holdAcks) this.held.push(msg.seq);
      else this.reply({ t: 'ack', seq: msg.seq });
    } else if (msg.t === 'request') {
      if (msg.what === 'connections') {
        this.reply({ t: 'response', id: msg.id, body: [{ id: 1, client: `192.0.2.${this.id}:40000`, nodePort: 30080, protocol: 'TCP', service: 'default/web', servicePort: 'default/web:http', backend: '10.0.0.1:8080', state: 'open', drainReason: null, startedAt: '', ageSeconds: 1, bytesIn: 1, bytesOut: 2, attempts: 1 }] });
      } else if (msg.what === 'metrics') {
        const r = new Registry();
        const c = new Counter({ name: 'nodeport_proxy_connections_total', help: 'h', labelNames: ['service'], registers: [r] });
        c.inc({ service: 'default/web' }, this.connectionsTotal);
        const t = new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'h', registers: [r], aggregator: 'first' });
        t.inc(3);
        void r.getMetricsAsJSON().then((body) => this.reply({ t: 'response', id: msg.id, body }));
      }
    } else if (msg.t === 'stop') {
      queueMicrotask(() => this.emit('exit', 0, null));
    }
    return true;
  }
  releaseAcks() {
    this.holdAcks = false;
    for (const seq of this.held.splice(0)) this.reply({ t: 'ack', seq });
  }
  kill(): boolean {
    queueMicrotask(() => this.emit('exit', null, 'SIGKILL'));
    return true;
  }
  crash() {
    this.emit('exit', 1, null);
  }
}

let primary: RunningPrimary | undefined;
afterEach(async () => {
  await primary?.stop(0);
  primary = undefined;
});

async function setup(workers = 2) {
  const spawned: FakeWorker[] = [];
  let sink!: SourceEventSink;
  const source: Source = { start: async (s) => void (sink = s), stop: async () => {} };
  const logs: { msg: string }[] = [];
  primary = await startPrimary(
    { workers, metricsBindAddress: { host: '127.0.0.1', port: 0 }, healthzBindAddress: { host: '127.0.0.1', port: 0 }, adminBindAddress: { host: '127.0.0.1', port: 0 }, healthTimeoutMs: 60_000, reusePort: false, restartDelayMs: 10 },
    {
      source: () => source,
      spawnWorker: (id) => {
        const w = new FakeWorker(id);
        spawned.push(w);
        return w;
      },
      logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
    },
  );
  return { spawned, emit: (e: SourceEvent) => sink(e), logs, p: primary };
}

const svc = service({ name: 'web', nodePort: 30080 });
const slice = endpointSlice({ service: 'web', port: 8080, endpoints: [{ ip: '10.0.0.1' }] });
const healthz = async (p: RunningPrimary) => (await fetch(`http://${p.addresses.healthz}/healthz`)).status;

describe('primary (--workers)', () => {
  it('gives a worker that becomes ready later the current state, then the live events', async () => {
    const { spawned, emit } = await setup(2);
    const [w1, w2] = spawned as [FakeWorker, FakeWorker];
    w1.reply({ t: 'ready' });
    await until('w1 ready', () => primary!.workerPids().size === 2);
    emit({ type: 'upsert', kind: 'Service', object: svc });
    emit({ type: 'upsert', kind: 'EndpointSlice', object: slice });
    emit({ type: 'synced' });
    await until('w1 got 3 events', () => w1.events().length === 3);
    expect(w2.events()).toEqual([]); // not ready yet: nothing sent
    w2.reply({ t: 'ready' });
    await until('w2 caught up', () => w2.events().length === 3);
    expect(w2.events().map((e) => (e.type === 'synced' ? 'synced' : `${e.type} ${e.kind}`))).toEqual(['upsert Service', 'upsert EndpointSlice', 'synced']);
    emit({ type: 'delete', kind: 'EndpointSlice', object: slice });
    await until('both got the delete', () => w1.events().length === 4 && w2.events().length === 4);
    expect(w2.events()[3]).toMatchObject({ type: 'delete', kind: 'EndpointSlice' });
  });

  it('is healthy only once every worker has applied the initial state, and unhealthy while an update is unapplied too long', async () => {
    const { spawned, emit, p } = await setup(2);
    const [w1, w2] = spawned as [FakeWorker, FakeWorker];
    w1.reply({ t: 'ready' });
    emit({ type: 'upsert', kind: 'Service', object: svc });
    emit({ type: 'synced' });
    await until('w1 synced', () => w1.events().length === 2);
    expect(await healthz(p)).toBe(503); // worker 2 has not started yet
    w2.holdAcks = true;
    w2.reply({ t: 'ready' });
    await until('w2 got state', () => w2.events().length === 2);
    expect(await healthz(p)).toBe(503); // ... nor applied it
    w2.releaseAcks();
    await p.synced;
    expect(await healthz(p)).toBe(200);
  });

  it('restarts a worker that dies and replays the state to it; counts the restart', async () => {
    const { spawned, emit, p } = await setup(2);
    for (const w of spawned) w.reply({ t: 'ready' });
    emit({ type: 'upsert', kind: 'Service', object: svc });
    emit({ type: 'upsert', kind: 'EndpointSlice', object: slice });
    emit({ type: 'synced' });
    await p.synced;
    const oldPid = spawned[1]!.pid;
    spawned[1]!.crash();
    await until('a third worker spawned', () => spawned.length === 3);
    const replacement = spawned[2]!;
    expect(replacement.id).toBe(2);
    replacement.reply({ t: 'ready' });
    await until('replacement caught up', () => replacement.events().length === 3);
    expect(p.workerPids().get(2)).toBe(replacement.pid);
    expect(p.workerPids().get(2)).not.toBe(oldPid);
    expect(await healthz(p)).toBe(200);
    const metrics = await (await fetch(`http://${p.addresses.metrics}/metrics`)).text();
    expect(metrics).toMatch(/^nodeport_proxy_worker_restarts_total 1$/m);
  });

  it('sums data-plane metrics over workers, takes table metrics from one, and concatenates connection tables', async () => {
    const { spawned, emit, p } = await setup(2);
    spawned[0]!.connectionsTotal = 5;
    spawned[1]!.connectionsTotal = 7;
    for (const w of spawned) w.reply({ t: 'ready' });
    emit({ type: 'synced' });
    await p.synced;
    const metrics = await (await fetch(`http://${p.addresses.metrics}/metrics`)).text();
    expect(metrics).toMatch(/^nodeport_proxy_connections_total\{service="default\/web"\} 12$/m);
    expect(metrics).toMatch(/^kubeproxy_sync_proxy_rules_endpoint_changes_total 3$/m);
    expect(metrics).toMatch(/^nodeport_proxy_workers 2$/m);
    const conns = (await (await fetch(`http://${p.addresses.admin}/debug/connections`)).json()) as { worker: number; client: string }[];
    expect(conns.map((c) => [c.worker, c.client]).sort()).toEqual([[1, '192.0.2.1:40000'], [2, '192.0.2.2:40000']]);
  });

  it('on stop, asks every worker to stop and waits for them', async () => {
    const { spawned, emit } = await setup(2);
    for (const w of spawned) w.reply({ t: 'ready' });
    emit({ type: 'synced' });
    await primary!.synced;
    await primary!.stop(1234);
    primary = undefined;
    for (const w of spawned) expect(w.got.at(-1)).toEqual({ t: 'stop', timeoutMs: 1234 });
    expect(spawned.length).toBe(2); // a stopped worker is not restarted
  });
});
