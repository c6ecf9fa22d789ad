// The primary process of --workers N. It runs the one source (one watch per node, whatever N
// is), keeps the current objects so that a restarted worker can be brought up to date, relays
// every event to every worker, and serves the HTTP endpoints for all of them:
//   /metrics   the workers' registries merged (prom-client AggregatorRegistry.aggregate) plus
//              its own (source metrics, worker restarts, its process metrics);
//   /healthz   kube-proxy's rule, where "applied" means acknowledged by every live worker;
//   /debug/*   the workers' connection tables concatenated, and one worker's backend table
//              with connection counts summed over all workers.
// A worker that dies is restarted; the others keep serving meanwhile (the kernel stops giving
// connections to a closed SO_REUSEPORT socket).
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConnectionView } from '../connection/connection-table.ts';
import { HealthState } from '../observe/health.ts';
import { healthCheckCounters } from '../observe/metrics.ts';
import { adminRoutes, healthRoutes, metricsRoutes, startHttpServers, type Routes } from '../observe/http-servers.ts';
import type { BindFailureReporter, TableView } from '../proxy.ts';
import { objectRef, type Source, type SourceEvent } from '../source/events.ts';
import type { FromWorker, ToWorker, Views } from './messages.ts';

/** The part of a ChildProcess the primary uses (a fake in unit tests). */
export interface WorkerProcess {
  readonly pid?: number | undefined;
  send(msg: ToWorker): boolean;
  on(event: 'message', fn: (msg: FromWorker) => void): unknown;
  on(event: 'exit', fn: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
}

export interface PrimaryOptions {
  workers: number;
  metricsBindAddress: { host: string; port: number };
  healthzBindAddress: { host: string; port: number };
  adminBindAddress: { host: string; port: number };
  healthTimeoutMs: number;
  reusePort: boolean;
  /** Delay before a dead worker is started again (ms). */
  restartDelayMs?: number;
  /** How long a worker may take to answer a /metrics or /debug request (ms). */
  requestTimeoutMs?: number;
}

export interface PrimaryDeps {
  source: (ctx: { registry: Registry; logger: Logger }) => Source;
  spawnWorker: (id: number) => WorkerProcess;
  logger: Logger;
  now?: () => number;
  bindFailureReporter?: BindFailureReporter;
}

export interface RunningPrimary {
  readonly addresses: { metrics: string; healthz: string; admin: string };
  readonly health: HealthState;
  /** Resolves once every worker has applied the source's first complete list. */
  readonly synced: Promise<void>;
  /** Live workers' pids, by worker id. */
  workerPids(): Map<number, number | undefined>;
  /** Stops the source and every worker (each lets its connections finish for `timeoutMs`). */
  stop(timeoutMs: number): Promise<void>;
}

interface WorkerSlot {
  id: number;
  proc: WorkerProcess;
  ready: boolean;
  /** The last event seq sent to it, and the last it acknowledged. */
  sent: number;
  acked: number;
  exited: Promise<void>;
}

export async function startPrimary(opts: PrimaryOptions, deps: PrimaryDeps): Promise<RunningPrimary> {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'primary' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nodeport_proxy_primary_' });
  const restarts = new Counter({ name: 'nodeport_proxy_worker_restarts_total', help: 'Worker processes that exited unexpectedly and were started again.', registers: [registry] });
  const liveWorkers = new Gauge({ name: 'nodeport_proxy_workers', help: 'Worker processes up and fed with the current state.', registers: [registry] });
  const healthCheck = healthCheckCounters(registry);

  const health = new HealthState({ now, healthTimeoutMs: opts.healthTimeoutMs });
  /** The current objects by kind/namespace/name: what a new worker is given before live events. */
  const current = new Map<string, SourceEvent>();
  let sourceSynced = false;
  let seq = 0;
  let stopping = false;
  const slots = new Map<number, WorkerSlot>();
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));

  const send = (slot: WorkerSlot, event: SourceEvent) => {
    slot.sent = ++seq;
    slot.proc.send({ t: 'event', seq: slot.sent, event });
  };
  const readySlots = () => [...slots.values()].filter((s) => s.ready);
  const checkApplied = () => {
    const ready = readySlots();
    if (ready.length === 0 || !ready.every((s) => s.acked >= s.sent)) return;
    if (sourceSynced && !health.isSynced) {
      // The first time, every worker must have it: a worker that cannot start keeps us unready.
      if (ready.length < opts.workers) return;
      health.synced();
      log.info({ workers: ready.length }, 'every worker has the initial state; listeners open');
      resolveSynced();
    } else health.applied();
  };

  const pending = new Map<number, { resolve: (body: Views[keyof Views]) => void }>();
  let requestId = 0;
  const ask = <K extends keyof Views>(what: K): Promise<{ id: number; body: Views[K] }[]> =>
    Promise.all(
      readySlots().map(
        (s) =>
          new Promise<{ id: number; body: Views[K] } | undefined>((resolve) => {
            const id = ++requestId;
            const timer = setTimeout(() => {
              pending.delete(id);
              log.warn({ worker: s.id, what }, 'worker did not answer in time; left out');
              resolve(undefined);
            }, opts.requestTimeoutMs ?? 2000);
            pending.set(id, {
              resolve: (body) => {
                clearTimeout(timer);
                resolve({ id: s.id, body: body as Views[K] });
              },
            });
            s.proc.send({ t: 'request', id, what });
          }),
      ),
    ).then((answers) => answers.filter((a) => a !== undefined));

  const start = (id: number) => {
    const proc = deps.spawnWorker(id);
    let exited!: () => void;
    const slot: WorkerSlot = { id, proc, ready: false, sent: 0, acked: 0, exited: new Promise<void>((r) => (exited = r)) };
    slots.set(id, slot);
    proc.on('message', (msg: FromWorker) => {
      switch (msg.t) {
        case 'ready':
          // Bring it up to date, then it gets the live events with the others.
          slot.ready = true;
          liveWorkers.set(readySlots().length);
          for (const event of current.values()) send(slot, event);
          if (sourceSynced) send(slot, { type: 'synced' });
          log.info({ worker: id, pid: proc.pid, objects: current.size }, 'worker ready');
          break;
        case 'ack':
          slot.acked = msg.seq;
          checkApplied();
          break;
        case 'response':
          pending.get(msg.id)?.resolve(msg.body);
          pending.delete(msg.id);
          break;
        case 'bindFailed':
          deps.bindFailureReporter?.bindFailed(msg.service, msg.nodePort, msg.message);
          break;
      }
    });
    proc.on('exit', (code, signal) => {
      exited();
      if (slots.get(id) === slot) slots.delete(id);
      liveWorkers.set(readySlots().length);
      if (stopping) return;
      restarts.inc();
      log.error({ worker: id, pid: proc.pid, code, signal }, 'worker exited unexpectedly; starting it again');
      checkApplied();
      setTimeout(() => {
        if (!stopping) start(id);
      }, opts.restartDelayMs ?? 1000).unref();
    });
  };

  const apply = (event: SourceEvent) => {
    if (event.type === 'synced') {
      if (sourceSynced) return;
      sourceSynced = true;
    } else {
      const ref = objectRef(event.kind, event.object);
      if (event.type === 'upsert') current.set(ref, event);
      else current.delete(ref);
      if (event.kind === 'Node') health.setNode(event.type === 'upsert' ? event.object : undefined);
      health.queued();
    }
    for (const slot of slots.values()) if (slot.ready) send(slot, event);
    checkApplied();
  };

  const views = {
    connections: async (): Promise<(ConnectionView & { worker: number })[]> =>
      (await ask('connections')).flatMap((a) => a.body.map((c) => ({ ...c, worker: a.id }))),
    table: async (): Promise<TableView[]> => {
      const answers = (await ask('table')).sort((a, b) => a.id - b.id);
      const [first, ...rest] = answers;
      if (!first) return [];
      // Every worker has the same table; only the connection counts differ.
      const counts = new Map<string, number>();
      const key = (nodePort: number, endpoint: string) => `${nodePort}|${endpoint}`;
      for (const a of rest) for (const r of a.body) for (const e of r.endpoints) counts.set(key(r.nodePort, e.endpoint), (counts.get(key(r.nodePort, e.endpoint)) ?? 0) + e.connections);
      return first.body.map((r) => ({ ...r, endpoints: r.endpoints.map((e) => ({ ...e, connections: e.connections + (counts.get(key(r.nodePort, e.endpoint)) ?? 0) })) }));
    },
  };
  const metrics: Routes = {
    ...metricsRoutes(registry),
    '/metrics': async () => {
      // Metric names do not overlap: the workers serve no /healthz, so only the primary counts it.
      const all = [await registry.getMetricsAsJSON(), ...(await ask('metrics')).map((a) => a.body)];
      const merged = AggregatorRegistry.aggregate(all);
      return { status: 200, type: registry.contentType, body: await merged.metrics() };
    },
  };
  const servers = await startHttpServers(
    [
      ['metrics', opts.metricsBindAddress, metrics],
      ['healthz', opts.healthzBindAddress, healthRoutes(health, healthCheck)],
      ['admin', opts.adminBindAddress, adminRoutes(views)],
    ],
    opts.reusePort,
  );
  log.info({ workers: opts.workers, ...servers.addresses }, 'nodeport-proxy primary starting');

  for (let id = 1; id <= opts.workers; id++) start(id);
  const source = deps.source({ registry, logger: deps.logger });
  try {
    await source.start(apply);
  } catch (err) {
    stopping = true;
    for (const s of slots.values()) s.proc.kill('SIGKILL');
    await servers.close();
    throw err;
  }

  return {
    addresses: servers.addresses,
    health,
    synced,
    workerPids: () => new Map([...slots.values()].map((s) => [s.id, s.proc.pid])),
    async stop(timeoutMs) {
      stopping = true;
      await source.stop();
      const all = [...slots.values()];
      for (const s of all) s.proc.send({ t: 'stop', timeoutMs });
      // A worker that does not finish in time (plus a margin to close) is killed.
      const kill = setTimeout(() => {
        for (const s of all) s.proc.kill('SIGKILL');
      }, timeoutMs + 5000);
      await Promise.all(all.map((s) => s.exited));
      clearTimeout(kill);
      await servers.close();
    },
  };
}
