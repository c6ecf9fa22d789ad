// Wires the stages together: source -> model/table -> listener -> picker -> connection ->
// observe. Everything is created here and passed in; nothing is a module-level singleton, so
// a test can run several proxies in one process.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConnectionTable, type ConnectionView } from './connection/connection-table.ts';
import { applyDrain } from './connection/drain.ts';
import { handleClientConnection, type DialPolicy } from './connection/proxied-connection.ts';
import { createNodePortAddresses } from './listener/nodeport-addresses.ts';
import { NodePortListeners } from './listener/nodeport-listeners.ts';
import type { ServicePortInfo } from './model/service-port.ts';
import { HealthState } from './observe/health.ts';
import { adminRoutes, healthRoutes, metricsRoutes, startHttpServers } from './observe/http-servers.ts';
import { createMetrics, type ProxyMetrics } from './observe/metrics.ts';
import { type Algorithm, Picker } from './picker/picker.ts';
import type { Source, SourceEvent } from './source/events.ts';
import { BackendTable, type TableChange } from './table/backend-table.ts';
import { routeKey } from './table/route.ts';

export interface ProxyOptions {
  nodeName: string;
  proxyName: string;
  /** --nodeport-addresses as given (comma-separated CIDRs), or undefined for all. */
  nodePortAddresses: string | undefined;
  /**
   * Where the HTTP servers listen. A worker process (--workers) starts none: its primary serves
   * them for all workers.
   */
  metricsBindAddress: { host: string; port: number } | undefined;
  healthzBindAddress: { host: string; port: number } | undefined;
  adminBindAddress: { host: string; port: number } | undefined;
  dial: DialPolicy;
  algorithm: Algorithm;
  failureCooldownMs: number;
  drainTimeoutMs: number;
  healthTimeoutMs: number;
  reusePort: boolean;
  /** Run as one of several worker processes sharing the NodePorts (--workers). */
  worker?: boolean;
}

export interface BindFailureReporter {
  bindFailed(service: { namespace: string; name: string; uid?: string }, nodePort: number, message: string): void;
}

export interface ProxyDeps {
  /** Builds the source; it gets the proxy's registry so its metrics are served with the rest. */
  source: (ctx: { registry: Registry; logger: Logger }) => Source;
  logger: Logger;
  now?: () => number;
  bindFailureReporter?: BindFailureReporter;
  /** Include process metrics (off in tests that build many proxies). */
  defaultMetrics?: boolean;
}

export interface RunningProxy {
  readonly table: BackendTable;
  readonly connections: ConnectionTable;
  readonly metrics: ProxyMetrics;
  readonly health: HealthState;
  readonly listeners: NodePortListeners;
  /** Actual addresses of the HTTP servers (useful with port 0); '' for a server not started. */
  readonly addresses: { metrics: string; healthz: string; admin: string };
  /** The admin views (/debug/connections, /debug/table) as data. */
  readonly views: AdminViews;
  /** Resolves once the source's first complete list has been applied. */
  readonly synced: Promise<void>;
  /** Stops accepting, waits up to `timeoutMs` for open connections, then closes the rest. */
  stop(timeoutMs: number): Promise<{ remaining: number }>;
}

export async function startProxy(opts: ProxyOptions, deps: ProxyDeps): Promise<RunningProxy> {
  const now = deps.now ?? Date.now;
  const log = deps.logger;
  const tableLog = log.child({ component: 'table' });
  const listenerLog = log.child({ component: 'listener' });
  const startedAtMs = now();

  const connections = new ConnectionTable();
  const health = new HealthState({ now, healthTimeoutMs: opts.healthTimeoutMs });
  let table!: BackendTable;
  const metrics = createMetrics({ connections, table: () => table, now, defaultMetrics: deps.defaultMetrics, healthChecks: opts.healthzBindAddress !== undefined });
  const addresses = createNodePortAddresses(opts.nodePortAddresses);
  const picker = new Picker({
    algorithm: opts.algorithm,
    activeConnections: (key) => connections.countForBackend(key),
    failureCooldownMs: opts.failureCooldownMs,
    // Several workers pick independently, and the kernel spreads one client's connections over
    // them: place affinity clients by a hash every worker computes alike.
    affinityPlacement: opts.worker ? 'client-hash' : 'balancer',
  });

  const describe = (sp: ServicePortInfo) => ({ service: sp.serviceKey, port: sp.portName || undefined, nodePort: sp.nodePort });
  const listeners = new NodePortListeners({
    bindAddresses: () => addresses.bindAddresses(),
    reusePort: opts.reusePort,
    logger: listenerLog,
    onConnection: (client: Socket, nodePort: number) =>
      handleClientConnection(client, {
        nodePort,
        currentRoute: () => table.route('TCP', nodePort),
        picker,
        table: connections,
        events: metrics.dataPlane,
        policy: opts.dial,
        isLocalAddress: addresses.isLocal,
        now,
      }),
    events: {
      opened: (sp, address) => listenerLog.info({ ...describe(sp), address }, 'listener opened'),
      closed: (sp, address) => listenerLog.info({ ...describe(sp), address }, 'listener closed'),
      bindFailed: (sp, address, err) => {
        metrics.bindFailed();
        const message = `cannot listen on ${address}:${sp.nodePort} for Service ${sp.serviceKey}: ${err.code ?? err.message}; retrying`;
        listenerLog.error({ ...describe(sp), address, code: err.code }, message);
        deps.bindFailureReporter?.bindFailed({ namespace: sp.namespace, name: sp.name, uid: sp.uid }, sp.nodePort, message);
      },
    },
  });

  const onChange = (change: TableChange) => {
    listeners.apply(change);
    applyDrain(change, {
      table: connections,
      drainTimeoutMs: opts.drainTimeoutMs,
      onDrained: (rec) => metrics.dataPlane.connectionDrained(rec),
    });
    const t = now();
    for (const trigger of change.triggerTimesMs) {
      // Like kube-proxy, only changes triggered after we started count (older ones are replays).
      if (trigger >= startedAtMs) metrics.observeProgramming(Math.max(0, (t - trigger) / 1000));
    }
    let endpoints = 0;
    let usable = 0;
    for (const r of change.after.values()) {
      endpoints += r.endpoints.length;
      usable += r.servicePort.externalTrafficPolicy === 'Local' ? r.localEndpoints.length : r.clusterEndpoints.length;
    }
    tableLog.info({ service: change.serviceKey, ports: change.after.size, endpoints, usable }, change.after.size ? 'service updated' : 'service removed');
  };
  table = new BackendTable({
    nodeName: opts.nodeName,
    onChange,
    onWarning: (w) => tableLog.warn({ object: w.ref }, w.message),
  });

  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));
  const apply = (event: SourceEvent) => {
    if (event.type === 'synced') {
      if (health.isSynced) return;
      health.synced();
      listeners.startAccepting();
      tableLog.info({ services: table.serviceCount, nodePorts: [...table.routes()].length }, 'initial sync complete; listeners opening');
      resolveSynced();
      return;
    }
    const t0 = performance.now();
    if (!health.isSynced) health.queued();
    switch (event.kind) {
      case 'Service':
        metrics.serviceChanged();
        if (event.type === 'upsert') table.upsertService(event.object);
        else table.deleteService(event.object);
        break;
      case 'EndpointSlice':
        metrics.endpointSliceChanged();
        if (event.type === 'upsert') table.upsertEndpointSlice(event.object);
        else table.deleteEndpointSlice(event.object);
        break;
      case 'Node':
        health.setNode(event.type === 'upsert' ? event.object : undefined);
        table.setNode(event.type === 'upsert' ? event.object : undefined);
        break;
    }
    metrics.observeSync((performance.now() - t0) / 1000);
    health.applied();
  };

  const views: AdminViews = {
    connections: () => connections.view(now()),
    table: () => tableView(table, listeners.listening(), connections),
  };
  const servers = await startHttpServers(
    [
      ['metrics', opts.metricsBindAddress, metricsRoutes(metrics.registry)],
      ['healthz', opts.healthzBindAddress, healthRoutes(health, metrics.healthCheck)],
      ['admin', opts.adminBindAddress, adminRoutes(views)],
    ],
    opts.reusePort,
  );
  log.info(
    { nodeName: opts.nodeName, proxyName: opts.proxyName, nodePortAddresses: addresses.description, ...servers.addresses },
    'nodeport-proxy starting',
  );
  const source = deps.source({ registry: metrics.registry, logger: log });
  try {
    await source.start(apply);
  } catch (err) {
    await servers.close();
    throw err;
  }

  return {
    table,
    connections,
    metrics,
    health,
    listeners,
    addresses: servers.addresses,
    views,
    synced,
    async stop(timeoutMs) {
      await listeners.closeAll();
      await source.stop();
      const deadline = now() + timeoutMs;
      while (connections.size > 0 && now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const remaining = connections.size;
      for (const rec of [...connections.records()]) {
        rec.client.destroy();
        rec.backend?.destroy();
      }
      await servers.close();
      return { remaining };
    },
  };
}

export interface AdminViews {
  connections(): ConnectionView[];
  table(): TableView[];
}

export type TableView = ReturnType<typeof tableView>[number];

/** The /debug/table view: every route with its endpoints, their conditions and connection counts. */
function tableView(table: BackendTable, listening: Record<string, string[]>, connections: ConnectionTable) {
  return [...table.routes()].map((r) => {
    const sp = r.servicePort;
    const usable = new Set((sp.externalTrafficPolicy === 'Local' ? r.localEndpoints : r.clusterEndpoints).map((e) => e.key));
    const rk = routeKey(sp.protocol, sp.nodePort);
    return {
      nodePort: sp.nodePort,
      protocol: sp.protocol,
      service: sp.serviceKey,
      portName: sp.portName,
      externalTrafficPolicy: sp.externalTrafficPolicy,
      sessionAffinitySeconds: sp.affinitySeconds,
      listening: listening[rk] ?? [],
      generation: r.generation,
      endpoints: r.endpoints.map((e) => ({
        endpoint: e.key,
        ready: e.ready,
        serving: e.serving,
        terminating: e.terminating,
        nodeName: e.nodeName ?? null,
        usable: usable.has(e.key),
        connections: connections.countForBackend(e.key),
      })),
    };
  });
}
