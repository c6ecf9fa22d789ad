// Prometheus metrics, on a registry per proxy instance (never prom-client's global one).
// kube-proxy's names where the meaning carries over, so existing dashboards and alerts work;
// nodeport_proxy_* for what only a userspace data plane can see.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConnectionRecord, ConnectionTable } from '../connection/connection-table.ts';
import { bytesOf } from '../connection/connection-table.ts';
import type { BackendTable } from '../table/backend-table.ts';
import type { ConnectFailureReason, DataPlaneEvents } from './data-plane-events.ts';

/** kube-proxy's sync histogram: 1 ms doubling, 15 buckets (semantics item 38). */
const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
/** kube-proxy's network programming buckets, plus sub-250 ms ones: ours are milliseconds. */
const PROGRAMMING_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
  ...Array.from({ length: 59 }, (_, i) => i + 1),
  ...Array.from({ length: 12 }, (_, i) => 60 + 5 * i),
  ...Array.from({ length: 7 }, (_, i) => 120 + 30 * i),
];

/**
 * With --workers, the primary merges the workers' registries (prom-client's
 * AggregatorRegistry.aggregate): data-plane metrics are summed (each worker has its own
 * connections), while every worker applies the same events to the same table, so control-plane
 * and table metrics are taken from one worker rather than multiplied by the worker count.
 */
const SAME_IN_EVERY_WORKER = 'first' as const;

export interface ProxyMetrics {
  readonly registry: Registry;
  readonly dataPlane: DataPlaneEvents;
  observeSync(seconds: number): void;
  observeProgramming(seconds: number): void;
  serviceChanged(): void;
  endpointSliceChanged(): void;
  bindFailed(): void;
  healthCheck(path: string, code: number): void;
}

export function createMetrics(deps: {
  connections: ConnectionTable;
  table: () => BackendTable;
  now: () => number;
  defaultMetrics?: boolean;
  /** Register the /healthz and /livez answer counters (default true). */
  healthChecks?: boolean;
}): ProxyMetrics {
  const registry = new Registry();
  if (deps.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const ipFamily = { ip_family: 'IPv4' } as const;

  const syncDuration = new Histogram({
    name: 'kubeproxy_sync_proxy_rules_duration_seconds',
    help: 'Time to apply one change to the backend table (kube-proxy: SyncProxyRules latency).',
    labelNames: ['ip_family'],
    buckets: SYNC_BUCKETS,
    registers: [registry],
    aggregator: SAME_IN_EVERY_WORKER,
  });
  const programming = new Histogram({
    name: 'kubeproxy_network_programming_duration_seconds',
    help: 'From the EndpointSlice last-change-trigger-time annotation to the change being in effect.',
    labelNames: ['ip_family'],
    buckets: PROGRAMMING_BUCKETS,
    registers: [registry],
    aggregator: SAME_IN_EVERY_WORKER,
  });
  const lastSync = new Gauge({
    name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
    help: 'The last time a change was applied to the backend table.',
    labelNames: ['ip_family'],
    registers: [registry],
    aggregator: 'max',
  });
  const serviceChanges = new Counter({
    name: 'kubeproxy_sync_proxy_rules_service_changes_total',
    help: 'Service events received.',
    registers: [registry],
    aggregator: SAME_IN_EVERY_WORKER,
  });
  const endpointChanges = new Counter({
    name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
    help: 'EndpointSlice events received.',
    registers: [registry],
    aggregator: SAME_IN_EVERY_WORKER,
  });
  // Changes are applied as they arrive, so nothing is ever pending; exported for dashboards
  // built for kube-proxy.
  new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Always 0: changes apply at once.', registers: [registry], aggregator: SAME_IN_EVERY_WORKER });
  new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Always 0: changes apply at once.', registers: [registry], aggregator: SAME_IN_EVERY_WORKER });

  const active = new Gauge({
    name: 'nodeport_proxy_connections_active',
    help: 'Open proxied connections by service and backend (the connection table).',
    labelNames: ['service', 'backend'],
    registers: [registry],
    collect() {
      this.reset();
      for (const rec of deps.connections.records()) {
        if (rec.backendKey !== undefined) this.inc({ service: rec.serviceKey, backend: rec.backendKey });
      }
    },
  });
  void active;
  const total = new Counter({
    name: 'nodeport_proxy_connections_total',
    help: 'Proxied connections established, by service and backend.',
    labelNames: ['service', 'backend'],
    registers: [registry],
  });
  const addBytes = (rec: ConnectionRecord) => {
    const b = bytesOf(rec);
    const dIn = b.in - rec.reportedBytesIn;
    const dOut = b.out - rec.reportedBytesOut;
    if (dIn > 0) bytes.inc({ service: rec.serviceKey, direction: 'client_to_backend' }, dIn);
    if (dOut > 0) bytes.inc({ service: rec.serviceKey, direction: 'backend_to_client' }, dOut);
    rec.reportedBytesIn = b.in;
    rec.reportedBytesOut = b.out;
  };
  const bytes: Counter<'service' | 'direction'> = new Counter({
    name: 'nodeport_proxy_bytes_total',
    help: 'Bytes proxied, by service and direction (open connections are counted up to each scrape).',
    labelNames: ['service', 'direction'],
    registers: [registry],
    collect() {
      for (const rec of deps.connections.records()) if (rec.backend) addBytes(rec);
    },
  });
  const connectFailures = new Counter({
    name: 'nodeport_proxy_connect_failures_total',
    help: 'Backend connect attempts that failed, by service and reason (refused, unreachable, timeout, reset, other).',
    labelNames: ['service', 'reason'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'nodeport_proxy_connect_retries_total',
    help: 'Connects retried on another endpoint after a failure (hidden from the client).',
    labelNames: ['service'],
    registers: [registry],
  });
  const noEndpoints = new Counter({
    name: 'nodeport_proxy_no_endpoints_resets_total',
    help: 'Client connections reset because the Service had no usable endpoint (kube-proxy: REJECT).',
    labelNames: ['service'],
    registers: [registry],
  });
  const drained = new Counter({
    name: 'nodeport_proxy_connections_drained_total',
    help: 'Connections closed by --drain-timeout after their endpoint left the EndpointSlices.',
    labelNames: ['service'],
    registers: [registry],
  });
  new Gauge({
    name: 'nodeport_proxy_connections_draining',
    help: 'Open connections whose endpoint is no longer ready or no longer exists, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ reason: 'not-ready' }, 0);
      this.set({ reason: 'removed' }, 0);
      for (const rec of deps.connections.records()) if (rec.drain) this.inc({ reason: rec.drain });
    },
  });
  new Gauge({
    name: 'nodeport_proxy_table_services',
    help: 'Service ports with a NodePort in the backend table.',
    aggregator: SAME_IN_EVERY_WORKER,
    registers: [registry],
    collect() {
      let n = 0;
      for (const _ of deps.table().routes()) n++;
      this.set(n);
    },
  });
  new Gauge({
    name: 'nodeport_proxy_table_endpoints',
    help: 'Endpoints in the backend table, by usability for new connections.',
    aggregator: SAME_IN_EVERY_WORKER,
    labelNames: ['state'],
    registers: [registry],
    collect() {
      let usable = 0;
      let all = 0;
      for (const r of deps.table().routes()) {
        all += r.endpoints.length;
        usable += r.servicePort.externalTrafficPolicy === 'Local' ? r.localEndpoints.length : r.clusterEndpoints.length;
      }
      this.set({ state: 'usable' }, usable);
      this.set({ state: 'not_usable' }, all - usable);
    },
  });
  new Gauge({
    name: 'nodeport_proxy_connection_table_size',
    help: 'Entries in the connection table (including connections still connecting).',
    registers: [registry],
    collect() {
      this.set(deps.connections.size);
    },
  });
  const bindFailures = new Counter({
    name: 'nodeport_proxy_bind_failures_total',
    help: 'NodePort listeners that could not be opened (port in use, address gone).',
    registers: [registry],
  });

  // Only a process that serves /healthz counts its answers: a --workers worker serves none, and
  // its primary registers these itself.
  const healthCheck = deps.healthChecks === false ? () => {} : healthCheckCounters(registry);

  const dataPlane: DataPlaneEvents = {
    connectionOpened(rec) {
      total.inc({ service: rec.serviceKey, backend: rec.backendKey });
    },
    connectionClosed(rec) {
      addBytes(rec);
    },
    connectFailed(rec, _key, reason: ConnectFailureReason) {
      connectFailures.inc({ service: rec.serviceKey, reason });
    },
    connectRetried(rec) {
      retries.inc({ service: rec.serviceKey });
    },
    noEndpoints(serviceKey) {
      noEndpoints.inc({ service: serviceKey });
    },
    connectionDrained(rec) {
      drained.inc({ service: rec.serviceKey });
    },
  };

  return {
    registry,
    dataPlane,
    observeSync(seconds) {
      syncDuration.observe(ipFamily, seconds);
      lastSync.set(ipFamily, deps.now() / 1000);
    },
    observeProgramming(seconds) {
      programming.observe(ipFamily, seconds);
    },
    serviceChanged: () => serviceChanges.inc(),
    endpointSliceChanged: () => endpointChanges.inc(),
    bindFailed: () => bindFailures.inc(),
    healthCheck,
  };
}

/** kube-proxy's kubeproxy_proxy_{healthz,livez}_total{code}; returns the function that counts an answer. */
export function healthCheckCounters(registry: Registry): (path: string, code: number) => void {
  const healthz = new Counter({ name: 'kubeproxy_proxy_healthz_total', help: 'Answers of /healthz by HTTP code.', labelNames: ['code'], registers: [registry] });
  const livez = new Counter({ name: 'kubeproxy_proxy_livez_total', help: 'Answers of /livez by HTTP code.', labelNames: ['code'], registers: [registry] });
  return (path, code) => (path === '/livez' ? livez : healthz).inc({ code: String(code) });
}
