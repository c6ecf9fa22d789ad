// Metrics on a per-instance registry: kube-proxy's names where the meaning carries over, and
// nodeport_proxy_* for the userspace data plane. Fed by a real ConnectionTable and BackendTable.
import { describe, expect, it, vi } from 'vitest';
import { type ConnectionRecord, ConnectionTable } from '../../../proxy/connection/connection-table.ts';
import { createMetrics } from '../../../proxy/observe/metrics.ts';
import { BackendTable } from '../../../proxy/table/backend-table.ts';
import { endpointSlice, service } from '../../support/objects.ts';

const NOW = Date.UTC(2026, 11, 3, 21, 40, 0);

function setup() {
  const connections = new ConnectionTable();
  const table = new BackendTable({ nodeName: 'node-a', onChange: () => {}, onWarning: () => {} });
  const metrics = createMetrics({ connections, table: () => table, now: () => NOW, defaultMetrics: false });
  const value = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
    const m = metrics.registry.getSingleMetric(name);
    if (!m) throw new Error(`no metric ${name}`);
    const got = await m.get();
    const v = got.values.find((x) => Object.entries(labels).every(([k, want]) => String((x.labels as Record<string, unknown>)[k]) === want));
    return v?.value;
  };
  let nextPort = 40000;
  const connect = (backendKey: string | undefined, serviceKey = 'default/web'): ConnectionRecord & { client: any } => {
    const rec: any = {
      id: connections.nextId(),
      clientAddress: '192.0.2.1',
      clientPort: nextPort++,
      localAddress: '10.1.0.1',
      nodePort: 30080,
      protocol: 'TCP',
      serviceKey,
      servicePortKey: `${serviceKey}:http/TCP`,
      startedAtMs: NOW,
      client: { destroy: vi.fn(), bytesRead: 0, bytesWritten: 0 },
      backend: undefined,
      backendKey: undefined,
      attempts: 1,
      halfClosed: false,
      drain: undefined,
      drainTimer: undefined,
      reportedBytesIn: 0,
      reportedBytesOut: 0,
    };
    connections.add(rec);
    if (backendKey) connections.attachBackend(rec, backendKey, { destroy: vi.fn() } as any);
    return rec;
  };
  return { connections, table, metrics, value, connect };
}

describe('createMetrics', () => {
  it('exposes the kube-proxy and nodeport_proxy metric names', async () => {
    const { metrics } = setup();
    const text = await metrics.registry.metrics();
    const names = [
      'kubeproxy_sync_proxy_rules_duration_seconds',
      'kubeproxy_network_programming_duration_seconds',
      'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      'kubeproxy_sync_proxy_rules_service_changes_total',
      'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      'kubeproxy_sync_proxy_rules_service_changes_pending',
      'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
      'kubeproxy_proxy_healthz_total',
      'kubeproxy_proxy_livez_total',
      'nodeport_proxy_connections_active',
      'nodeport_proxy_connections_total',
      'nodeport_proxy_bytes_total',
      'nodeport_proxy_connect_failures_total',
      'nodeport_proxy_connect_retries_total',
      'nodeport_proxy_no_endpoints_resets_total',
      'nodeport_proxy_connections_drained_total',
      'nodeport_proxy_connections_draining',
      'nodeport_proxy_table_services',
      'nodeport_proxy_table_endpoints',
      'nodeport_proxy_connection_table_size',
      'nodeport_proxy_bind_failures_total',
    ];
    for (const n of names) expect(text).toMatch(new RegExp(`^# TYPE ${n} `, 'm'));
    expect(text).toMatch(/^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE kubeproxy_sync_proxy_rules_service_changes_total counter$/m);
    expect(text).not.toMatch(/process_cpu|nodejs_/); // defaultMetrics: false
  });

  it('each instance has its own registry', async () => {
    const a = setup();
    const b = setup();
    a.metrics.serviceChanged();
    expect(await a.value('kubeproxy_sync_proxy_rules_service_changes_total')).toBe(1);
    expect(await b.value('kubeproxy_sync_proxy_rules_service_changes_total')).toBe(0);
  });

  it('the sync histogram uses kube-proxy\'s buckets (1 ms doubling, 15 buckets) and the ip_family label', async () => {
    const { metrics } = setup();
    metrics.observeSync(0.003);
    const text = await metrics.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_duration_seconds');
    const buckets = [...text.matchAll(/_bucket\{le="([^"]+)",ip_family="IPv4"\}/g)].map((m) => m[1]);
    expect(buckets).toHaveLength(16); // 15 + Inf
    expect(buckets[0]).toBe('0.001');
    expect(buckets[14]).toBe(String(0.001 * 2 ** 14));
    expect(text).toMatch(/_count\{ip_family="IPv4"\} 1$/m);
    expect(text).toMatch(/_bucket\{le="0.002",ip_family="IPv4"\} 0$/m);
    expect(text).toMatch(/_bucket\{le="0.004",ip_family="IPv4"\} 1$/m);
  });

  it('control-plane counters and gauges', async () => {
    const { metrics, value } = setup();
    metrics.serviceChanged();
    metrics.serviceChanged();
    metrics.endpointSliceChanged();
    metrics.bindFailed();
    metrics.healthCheck('/healthz', 200);
    metrics.healthCheck('/healthz', 503);
    metrics.healthCheck('/healthz', 503);
    metrics.healthCheck('/livez', 200);
    metrics.observeSync(0.0005);
    metrics.observeProgramming(0.02);
    expect(await value('kubeproxy_sync_proxy_rules_service_changes_total')).toBe(2);
    expect(await value('kubeproxy_sync_proxy_rules_endpoint_changes_total')).toBe(1);
    expect(await value('nodeport_proxy_bind_failures_total')).toBe(1);
    expect(await value('kubeproxy_proxy_healthz_total', { code: '200' })).toBe(1);
    expect(await value('kubeproxy_proxy_healthz_total', { code: '503' })).toBe(2);
    expect(await value('kubeproxy_proxy_livez_total', { code: '200' })).toBe(1);
    expect(await value('kubeproxy_proxy_livez_total', { code: '503' })).toBeUndefined();
    expect(await value('kubeproxy_sync_proxy_rules_last_timestamp_seconds', { ip_family: 'IPv4' })).toBe(NOW / 1000);
    const prog = await metrics.registry.getSingleMetricAsString('kubeproxy_network_programming_duration_seconds');
    expect(prog).toMatch(/_bucket\{le="0.025",ip_family="IPv4"\} 1$/m);
    expect(prog).toMatch(/_bucket\{le="0.01",ip_family="IPv4"\} 0$/m);
    expect(await value('kubeproxy_sync_proxy_rules_service_changes_pending')).toBe(0);
  });

  it('data plane events move the right counters', async () => {
    const { metrics, value, connect } = setup();
    const a = connect('10.0.0.1:8080');
    const b = connect('10.0.0.2:8080');
    metrics.dataPlane.connectionOpened(a);
    metrics.dataPlane.connectionOpened(a);
    metrics.dataPlane.connectionOpened(b);
    metrics.dataPlane.connectFailed(a, '10.0.0.9:8080', 'refused');
    metrics.dataPlane.connectFailed(a, '10.0.0.9:8080', 'timeout');
    metrics.dataPlane.connectFailed(b, '10.0.0.9:8080', 'refused');
    metrics.dataPlane.connectRetried(a);
    metrics.dataPlane.noEndpoints('default/empty', 30099);
    metrics.dataPlane.connectionDrained(b);
    expect(await value('nodeport_proxy_connections_total', { service: 'default/web', backend: '10.0.0.1:8080' })).toBe(2);
    expect(await value('nodeport_proxy_connections_total', { service: 'default/web', backend: '10.0.0.2:8080' })).toBe(1);
    expect(await value('nodeport_proxy_connect_failures_total', { service: 'default/web', reason: 'refused' })).toBe(2);
    expect(await value('nodeport_proxy_connect_failures_total', { service: 'default/web', reason: 'timeout' })).toBe(1);
    expect(await value('nodeport_proxy_connect_retries_total', { service: 'default/web' })).toBe(1);
    expect(await value('nodeport_proxy_no_endpoints_resets_total', { service: 'default/empty' })).toBe(1);
    expect(await value('nodeport_proxy_connections_drained_total', { service: 'default/web' })).toBe(1);
  });

  it('bytes: deltas at each scrape, the rest at close, never counted twice', async () => {
    const { metrics, value, connect, connections } = setup();
    const rec = connect('10.0.0.1:8080');
    const bytes = (direction: string) => value('nodeport_proxy_bytes_total', { service: 'default/web', direction });
    rec.client.bytesRead = 100;
    rec.client.bytesWritten = 40;
    expect(await bytes('client_to_backend')).toBe(100);
    expect(await bytes('backend_to_client')).toBe(40);
    expect(await bytes('client_to_backend')).toBe(100); // a second scrape adds nothing
    rec.client.bytesRead = 150;
    rec.client.bytesWritten = 1040;
    metrics.dataPlane.connectionClosed(rec);
    connections.remove(rec);
    expect(await bytes('client_to_backend')).toBe(150);
    expect(await bytes('backend_to_client')).toBe(1040);
    // A connection still connecting (no backend) is not scraped.
    const pending = connect(undefined);
    pending.client.bytesRead = 7;
    expect(await bytes('client_to_backend')).toBe(150);
  });

  it('connection table gauges follow the table at scrape time', async () => {
    const { value, connect, connections } = setup();
    const a = connect('10.0.0.1:8080');
    connect('10.0.0.1:8080');
    const c = connect('10.0.0.2:8080', 'default/api');
    connect(undefined);
    a.drain = 'not-ready';
    c.drain = 'removed';
    expect(await value('nodeport_proxy_connection_table_size')).toBe(4);
    expect(await value('nodeport_proxy_connections_active', { service: 'default/web', backend: '10.0.0.1:8080' })).toBe(2);
    expect(await value('nodeport_proxy_connections_active', { service: 'default/api', backend: '10.0.0.2:8080' })).toBe(1);
    expect(await value('nodeport_proxy_connections_draining', { reason: 'not-ready' })).toBe(1);
    expect(await value('nodeport_proxy_connections_draining', { reason: 'removed' })).toBe(1);
    connections.remove(a);
    connections.remove(c);
    expect(await value('nodeport_proxy_connection_table_size')).toBe(2);
    expect(await value('nodeport_proxy_connections_active', { service: 'default/api', backend: '10.0.0.2:8080' })).toBeUndefined();
    expect(await value('nodeport_proxy_connections_active', { service: 'default/web', backend: '10.0.0.1:8080' })).toBe(1);
    expect(await value('nodeport_proxy_connections_draining', { reason: 'not-ready' })).toBe(0);
    expect(await value('nodeport_proxy_connections_draining', { reason: 'removed' })).toBe(0);
  });

  it('backend table gauges: service ports and usable / not usable endpoints', async () => {
    const { table, value } = setup();
    expect(await value('nodeport_proxy_table_services')).toBe(0);
    table.upsertService(service({ name: 'web', nodePort: 30080, extraPorts: [{ name: 'admin', port: 81, nodePort: 30081 }] }));
    table.upsertService(service({ name: 'local', nodePort: 30090, externalTrafficPolicy: 'Local' }));
    table.upsertEndpointSlice(
      endpointSlice({ service: 'web', port: 8080, endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false, serving: false }, { ip: '10.0.0.3' }] }),
    );
    table.upsertEndpointSlice(endpointSlice({ service: 'local', port: 8080, endpoints: [{ ip: '10.0.1.1', nodeName: 'node-a' }, { ip: '10.0.1.2', nodeName: 'node-b' }] }));
    expect(await value('nodeport_proxy_table_services')).toBe(3);
    // web:http 2 usable of 3; web:admin none; local: 1 local of 2.
    expect(await value('nodeport_proxy_table_endpoints', { state: 'usable' })).toBe(3);
    expect(await value('nodeport_proxy_table_endpoints', { state: 'not_usable' })).toBe(2);
  });
});
