// The Kubernetes source against a real HTTP fake of the API server (fake-api-server.ts): list, watch,
// bookmarks, server-side close, outage, 410 with relist diff, selectors on the wire, pagination.
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createKubernetesSource, type KubernetesSource, type KubernetesSourceOptions } from '../../../proxy/source/kubernetes.ts';
import type { SourceEvent } from '../../../proxy/source/events.ts';
import { labelSelectorFor, LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME } from '../../../proxy/source/selection.ts';
import { startFakeApiServer, type FakeApiServer, type FakeKind } from './fake-api-server.ts';

const PROXY = 'test-proxy';
const NODE = 'node-a';
const NOW_MS = 1_700_000_000_000;
const TRIGGER_TIME = '2024-05-01T10:00:00.123456789Z';

const owned = { [LABEL_SERVICE_PROXY_NAME]: PROXY };

function service(name: string, opts: { labels?: Record<string, string>; nodePort?: number } = {}) {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: opts.labels ?? owned,
      annotations: { 'example.com/note': 'keep me a string' },
      creationTimestamp: '2024-05-01T10:00:00Z',
    },
    spec: {
      type: 'NodePort',
      clusterIP: '10.96.0.10',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: opts.nodePort ?? 30080 }],
    },
  };
}

function slice(name: string, serviceName: string, ready = true) {
  return {
    metadata: {
      name,
      namespace: 'default',
      labels: { ...owned, [LABEL_SERVICE_NAME]: serviceName },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': TRIGGER_TIME },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready, serving: ready, terminating: !ready }, nodeName: NODE }],
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

function node(name: string, labels: Record<string, string> = {}) {
  return { metadata: { name, labels: { 'topology.kubernetes.io/zone': 'zone-a', ...labels } }, spec: {} };
}

interface Harness {
  api: FakeApiServer;
  source: KubernetesSource;
  events: SourceEvent[];
  logs: Array<Record<string, unknown>>;
  registry: Registry;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startApi(): Promise<FakeApiServer> {
  const api = await startFakeApiServer();
  cleanups.push(() => api.close());
  return api;
}

async function startSource(api: FakeApiServer, overrides: Partial<KubernetesSourceOptions> = {}): Promise<Harness> {
  const registry = new Registry();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const events: SourceEvent[] = [];
  const source = createKubernetesSource({
    kubeConfig: api.kubeConfig(),
    proxyName: PROXY,
    nodeName: NODE,
    logger,
    registry,
    clock: () => NOW_MS,
    backoff: { initialMs: 20, maxMs: 80 },
    healthyWatchMs: 100,
    ...overrides,
  });
  cleanups.push(() => source.stop());
  await source.start((e) => events.push(e));
  return { api, source, events, logs, registry };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets in-flight watch events arrive, so that "no event" assertions are not vacuous. */
const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return found?.value ?? 0;
}

/** `upsert Service default/a` style summaries, easy to compare as a whole. */
function summary(events: SourceEvent[], kind?: string): string[] {
  return events
    .filter((e) => e.type === 'synced' || !kind || e.kind === kind)
    .map((e) =>
      e.type === 'synced'
        ? 'synced'
        : `${e.type} ${e.kind} ${e.object.metadata?.namespace ? `${e.object.metadata.namespace}/` : ''}${e.object.metadata?.name}`,
    );
}

async function syncedHarness(setup: (api: FakeApiServer) => void, overrides: Partial<KubernetesSourceOptions> = {}) {
  const api = await startApi();
  setup(api);
  const h = await startSource(api, overrides);
  await waitFor('synced', () => h.events.some((e) => e.type === 'synced'));
  await waitFor('all watches open', () => api.openWatches() === 3);
  return h;
}

describe('kubernetes source: initial list', () => {
  it('delivers the selected objects of every kind, then synced exactly once', async () => {
    const h = await syncedHarness((api) => {
      api.put('Service', service('web'));
      api.put('Service', service('other-proxy', { labels: { [LABEL_SERVICE_PROXY_NAME]: 'someone-else' } }));
      api.put('Service', service('kube-proxy-owned', { labels: {} }));
      api.put('Service', service('headless', { labels: { ...owned, [LABEL_HEADLESS]: '' } }));
      api.put('EndpointSlice', slice('web-abc', 'web'));
      api.put('Node', node(NODE));
      api.put('Node', node('node-b'));
    });
    const s = summary(h.events);
    expect(s.slice(-1)).toEqual(['synced']);
    expect(s.slice(0, -1).sort()).toEqual(['upsert EndpointSlice default/web-abc', 'upsert Node node-a', 'upsert Service default/web']);

    h.api.put('Service', service('web', { nodePort: 30081 }));
    await waitFor('the modification', () => h.events.length === 5);
    await settle();
    expect(summary(h.events).filter((x) => x === 'synced')).toHaveLength(1);
    expect(h.source.status().synced).toBe(true);
    expect(h.source.status().kinds.Service).toMatchObject({ listed: true, objects: 1 });
  });

  it('emits wire-shaped objects: string timestamps and annotations, nodePorts and conditions as sent', async () => {
    const h = await syncedHarness((api) => {
      api.put('Service', service('web'));
      api.put('EndpointSlice', slice('web-abc', 'web', false));
    });
    const svc = h.events.find((e) => e.type === 'upsert' && e.kind === 'Service');
    const es = h.events.find((e) => e.type === 'upsert' && e.kind === 'EndpointSlice');
    if (svc?.type !== 'upsert' || svc.kind !== 'Service' || es?.type !== 'upsert' || es.kind !== 'EndpointSlice') {
      throw new Error(`missing initial upserts: ${summary(h.events).join(', ')}`);
    }
    expect(svc.object.metadata?.annotations).toEqual({ 'example.com/note': 'keep me a string' });
    expect(typeof svc.object.metadata?.creationTimestamp).toBe('string');
    expect(Date.parse(svc.object.metadata?.creationTimestamp as unknown as string)).toBe(Date.parse('2024-05-01T10:00:00Z'));
    expect(svc.object.spec?.ports?.[0]).toMatchObject({ name: 'http', nodePort: 30080, port: 80 });
    // Nanosecond precision must survive: kube-proxy parses this as RFC3339Nano.
    expect(es.object.metadata?.annotations?.['endpoints.kubernetes.io/last-change-trigger-time']).toBe(TRIGGER_TIME);
    expect(es.object.endpoints?.[0]?.conditions).toEqual({ ready: false, serving: false, terminating: true });
  });

  it('puts the label selector and the node field selector on the wire, and watches with bookmarks from the list version', async () => {
    const h = await syncedHarness((api) => {
      api.put('Service', service('web'));
      api.put('Node', node(NODE));
    });
    const selector = labelSelectorFor(PROXY);
    expect(selector).toBe(`${LABEL_SERVICE_PROXY_NAME}=${PROXY},!${LABEL_HEADLESS}`);
    for (const kind of ['Service', 'EndpointSlice'] as FakeKind[]) {
      const [list] = h.api.requestsFor(kind, false);
      const [watch] = h.api.requestsFor(kind, true);
      expect(list.searchParams.get('labelSelector')).toBe(selector);
      // The first list may come from the watch cache (resourceVersion=0), as client-go's does.
      expect(list.searchParams.get('resourceVersion')).toBe('0');
      expect(watch.searchParams.get('labelSelector')).toBe(selector);
      expect(watch.searchParams.get('allowWatchBookmarks')).toBe('true');
      expect(Number(watch.searchParams.get('resourceVersion'))).toBeGreaterThan(0);
      expect(Number(watch.searchParams.get('timeoutSeconds'))).toBeGreaterThanOrEqual(300);
    }
    const [nodeList] = h.api.requestsFor('Node', false);
    const [nodeWatch] = h.api.requestsFor('Node', true);
    expect(nodeList.searchParams.get('fieldSelector')).toBe(`metadata.name=${NODE}`);
    expect(nodeWatch.searchParams.get('fieldSelector')).toBe(`metadata.name=${NODE}`);
    expect(nodeList.searchParams.has('labelSelector')).toBe(false);
  });

  it('follows continue tokens across pages before declaring synced', async () => {
    const h = await syncedHarness(
      (api) => {
        for (const n of ['a', 'b', 'c']) api.put('Service', service(n));
      },
      { listPageSize: 1 },
    );
    const lists = h.api.requestsFor('Service', false);
    expect(lists.map((u) => u.searchParams.get('continue'))).toEqual([null, '1', '2']);
    expect(lists.every((u) => u.searchParams.get('limit') === '1')).toBe(true);
    expect(summary(h.events, 'Service')).toEqual([
      'upsert Service default/a',
      'upsert Service default/b',
      'upsert Service default/c',
      'synced',
    ]);
  });

  it('keeps retrying the first list while the API server is unreachable, then syncs', async () => {
    const api = await startApi();
    api.put('Service', service('web'));
    api.down();
    const h = await startSource(api);
    await waitFor('several failed list attempts', () => api.requestsFor('Service', false).length >= 3);
    expect(h.events).toEqual([]);
    expect(h.source.status().synced).toBe(false);
    api.up();
    await waitFor('synced', () => h.events.some((e) => e.type === 'synced'));
    expect(summary(h.events, 'Service')).toEqual(['upsert Service default/web', 'synced']);
    expect(await metricValue(h.registry, 'nodeport_proxy_source_watch_restarts_total', { kind: 'Service', reason: 'list_failed' })).toBeGreaterThanOrEqual(2);
    expect(h.logs.some((l) => l.component === 'source' && l.reason === 'list_failed' && typeof l.error === 'string')).toBe(true);
  });
});

describe('kubernetes source: watch', () => {
  it('turns adds, modifications, label removal and deletes into upserts and deletes', async () => {
    const h = await syncedHarness((api) => {
      api.put('Service', service('web'));
      api.put('Node', node(NODE));
    });
    h.events.length = 0;
    h.api.put('Service', service('api'));
    h.api.put('Service', service('api', { nodePort: 30090 }));
    h.api.put('EndpointSlice', slice('api-xyz', 'api'));
    h.api.put('EndpointSlice', slice('api-xyz', 'api', false));
    h.api.put('Service', service('web', { labels: {} })); // handed back to kube-proxy
    h.api.remove('EndpointSlice', 'default', 'api-xyz');
    h.api.remove('Service', 'default', 'api');
    h.api.put('Node', { ...node(NODE), spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } });
    h.api.put('Service', service('not-ours', { labels: {} }));
    await waitFor('all watch events', () => h.events.length >= 8);
    await settle();
    expect(summary(h.events, 'Service')).toEqual(['upsert Service default/api', 'upsert Service default/api', 'delete Service default/web', 'delete Service default/api']);
    expect(summary(h.events, 'EndpointSlice')).toEqual(['upsert EndpointSlice default/api-xyz', 'upsert EndpointSlice default/api-xyz', 'delete EndpointSlice default/api-xyz']);
    expect(summary(h.events, 'Node')).toEqual(['upsert Node node-a']);
    const modified = h.events[1];
    expect(modified.type === 'upsert' && modified.kind === 'Service' && modified.object.spec?.ports?.[0].nodePort).toBe(30090);
    expect(h.source.status().kinds.Service.objects).toBe(0);
  });

  it('reconnects from the last resourceVersion when the server closes the stream, and logs the restart', async () => {
    const h = await syncedHarness((api) => api.put('Service', service('web')));
    const lastRv = h.api.get('Service', 'default', 'web')!.metadata.resourceVersion;
    h.api.put('EndpointSlice', slice('web-abc', 'web')); // moves the global version past the service's
    await waitFor('slice upsert', () => h.events.length === 3);
    h.api.closeWatches('Service');
    await waitFor('a second Service watch', () => h.api.requestsFor('Service', true).length === 2 && h.api.openWatches('Service') === 1);
    // The slice event moved the server's version on, but the Service watch resumes from its own.
    expect(h.api.requestsFor('Service', true)[1].searchParams.get('resourceVersion')).toBe(lastRv);
    h.api.put('Service', service('api'));
    await waitFor('the event on the new watch', () => summary(h.events).includes('upsert Service default/api'));
    expect(await metricValue(h.registry, 'nodeport_proxy_source_watch_restarts_total', { kind: 'Service', reason: 'closed' })).toBe(1);
    expect(await metricValue(h.registry, 'nodeport_proxy_source_relists_total', { kind: 'Service' })).toBe(0);
    const line = h.logs.find((l) => l.reason === 'closed');
    expect(line).toMatchObject({ component: 'source', kind: 'Service', reason: 'closed' });
    expect(String(line?.msg)).toContain('Service');
  });

  it('resumes from a bookmark and records the last event time', async () => {
    const h = await syncedHarness((api) => api.put('Service', service('web')));
    const rv = h.api.bookmark('Service');
    await settle(50);
    h.api.closeWatches('Service');
    await waitFor('a second Service watch', () => h.api.requestsFor('Service', true).length === 2);
    expect(h.api.requestsFor('Service', true)[1].searchParams.get('resourceVersion')).toBe(rv);
    expect(await metricValue(h.registry, 'nodeport_proxy_source_last_event_timestamp_seconds', { kind: 'Service' })).toBe(NOW_MS / 1000);
    expect(h.events.filter((e) => e.type !== 'synced')).toHaveLength(1); // a bookmark is not an object event
  });

  it('deletes nothing while the API server is unreachable, then catches up from the watch history', async () => {
    const h = await syncedHarness((api) => {
      api.put('Service', service('web'));
      api.put('Service', service('api'));
      api.put('EndpointSlice', slice('web-abc', 'web'));
      api.put('Node', node(NODE));
    });
    h.events.length = 0;
    const before = h.api.requests.length;
    h.api.down();
    await waitFor('several failed reconnects', () => h.api.requests.length >= before + 9);
    await settle();
    expect(h.events).toEqual([]);
    expect(h.source.status().kinds.Service.objects).toBe(2);
    expect(h.source.status().kinds.EndpointSlice.objects).toBe(1);
    expect(h.source.status().kinds.Node.objects).toBe(1);

    h.api.remove('Service', 'default', 'api'); // happens during the outage
    h.api.up();
    await waitFor('the delete replayed', () => h.events.length === 1);
    await settle();
    expect(summary(h.events)).toEqual(['delete Service default/api']);
    expect(await metricValue(h.registry, 'nodeport_proxy_source_watch_restarts_total', { kind: 'Service', reason: 'error' })).toBeGreaterThanOrEqual(2);
    expect(await metricValue(h.registry, 'nodeport_proxy_source_relists_total', { kind: 'Service' })).toBe(0);
    expect(h.logs.some((l) => l.level === 40 && l.reason === 'error' && l.kind === 'Service')).toBe(true);
  });

  for (const goneStyle of ['event', 'http'] as const) {
    it(`relists after 410 Gone (${goneStyle === 'event' ? 'ERROR event' : 'HTTP status'}) and emits only the difference`, async () => {
      const h = await syncedHarness((api) => {
        api.goneStyle = goneStyle;
        for (const n of ['a', 'b', 'c']) api.put('Service', service(n));
        api.put('EndpointSlice', slice('a-1', 'a'));
        api.put('Node', node(NODE));
      });
      h.events.length = 0;
      h.api.down();
      h.api.remove('Service', 'default', 'b');
      h.api.put('Service', service('c', { nodePort: 30099 }));
      h.api.put('Service', service('d'));
      h.api.compact(); // the history the watch would resume from is gone
      h.api.up();
      await waitFor('a relist of every kind', () => h.logs.filter((l) => String(l.msg).startsWith('relisted')).length === 3 && h.api.openWatches() === 3);
      await settle();
      const services = summary(h.events);
      expect(services.slice(0, 2).sort()).toEqual(['upsert Service default/c', 'upsert Service default/d']);
      expect(services.slice(2)).toEqual(['delete Service default/b']); // upserts first, then deletes
      const c = h.events.find((e) => e.type === 'upsert' && e.object.metadata?.name === 'c');
      expect(c?.type === 'upsert' && c.kind === 'Service' && c.object.spec?.ports?.[0].nodePort).toBe(30099);
      for (const kind of ['Service', 'EndpointSlice', 'Node']) {
        expect(await metricValue(h.registry, 'nodeport_proxy_source_relists_total', { kind })).toBe(1);
        expect(await metricValue(h.registry, 'nodeport_proxy_source_watch_restarts_total', { kind, reason: 'gone' })).toBe(1);
      }
      // The relist is a consistent read (no resourceVersion), never the possibly older watch cache.
      const lists = h.api.requestsFor('Service', false);
      expect(lists).toHaveLength(2);
      expect(lists[1].searchParams.has('resourceVersion')).toBe(false);
      // After the relist the watch resumes from the new list's version and sees new changes.
      h.api.put('Service', service('e'));
      await waitFor('an event after the relist', () => summary(h.events).includes('upsert Service default/e'));
    });
  }

  it('stops promptly even while backing off, and makes no request afterwards', async () => {
    const h = await syncedHarness((api) => api.put('Service', service('web')), { backoff: { initialMs: 10_000, maxMs: 10_000 } });
    h.api.down();
    await waitFor('a failed reconnect', () => h.source.status().kinds.Service.restarts > 0);
    const t0 = Date.now();
    await h.source.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    const count = h.api.requests.length;
    h.api.up();
    await settle(200);
    expect(h.api.requests.length).toBe(count);
  });

  it('keeps watching when the sink throws', async () => {
    const api = await startApi();
    api.put('Service', service('web'));
    const seen: string[] = [];
    const registry = new Registry();
    const logs: Array<Record<string, unknown>> = [];
    const source = createKubernetesSource({
      kubeConfig: api.kubeConfig(),
      proxyName: PROXY,
      nodeName: NODE,
      logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
      registry,
    });
    cleanups.push(() => source.stop());
    await source.start((e) => {
      seen.push(e.type === 'synced' ? 'synced' : `${e.type} ${e.object.metadata?.name}`);
      if (e.type === 'upsert' && e.object.metadata?.name === 'web') throw new Error('consumer bug');
    });
    await waitFor('synced', () => seen.includes('synced'));
    api.put('Service', service('api'));
    await waitFor('the next event', () => seen.includes('upsert api'));
    expect(logs.some((l) => l.level === 50 && String(l.msg).includes('Service/default/web'))).toBe(true);
  });

  it('refuses to start without a node name, naming the flag', () => {
    expect(() =>
      createKubernetesSource({
        kubeConfig: {} as KubernetesSourceOptions['kubeConfig'],
        proxyName: PROXY,
        nodeName: '',
        logger: pino({ level: 'silent' }),
        registry: new Registry(),
      }),
    ).toThrow(/hostname-override/);
  });
});
