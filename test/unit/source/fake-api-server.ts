// A small HTTP fake of the Kubernetes API server, just enough for the source's list+watch:
// list with label/field selectors and pagination, watch as chunked JSON lines with history replay
// from a resourceVersion, bookmarks, 410 Gone for compacted history (as an ERROR event or an HTTP
// status), server-side stream close, and an outage mode in which every connection is reset.
// Only what the source uses is implemented; anything else answers 404 so a test notices.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type FakeKind = 'Service' | 'EndpointSlice' | 'Node';

type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

interface HistoryEntry {
  rv: number;
  old: Obj | undefined;
  cur: Obj | undefined;
}

interface Watcher {
  kind: FakeKind;
  res: http.ServerResponse;
  labelSelector: string | undefined;
  fieldSelector: string | undefined;
}

const PATHS: Record<string, FakeKind> = {
  '/api/v1/services': 'Service',
  '/apis/discovery.k8s.io/v1/endpointslices': 'EndpointSlice',
  '/api/v1/nodes': 'Node',
};
const API_VERSION: Record<FakeKind, string> = { Service: 'v1', EndpointSlice: 'discovery.k8s.io/v1', Node: 'v1' };

export interface FakeApiServer {
  url: string;
  /** Every request received (also those refused during an outage), in order. */
  requests: URL[];
  /** Requests with the given path; `watch` filters watch (true) or list (false) calls. */
  requestsFor(kind: FakeKind, watch?: boolean): URL[];
  /** Creates or replaces an object (bumping resourceVersion) and notifies matching watchers. */
  put(kind: FakeKind, obj: Obj): Obj;
  remove(kind: FakeKind, namespace: string | undefined, name: string): void;
  get(kind: FakeKind, namespace: string | undefined, name: string): Obj | undefined;
  bookmark(kind: FakeKind): string;
  /** Ends every open watch stream normally (as the server's timeoutSeconds would). */
  closeWatches(kind?: FakeKind): void;
  /** Forgets history: a watch from an older resourceVersion now gets 410 Gone. */
  compact(): void;
  /** How 410 is reported: an ERROR event in a 200 stream (watch cache) or an HTTP 410. */
  goneStyle: 'event' | 'http';
  /** Outage: resets open watches and every new connection until `up()`. */
  down(): void;
  up(): void;
  openWatches(kind?: FakeKind): number;
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function startFakeApiServer(): Promise<FakeApiServer> {
  let rv = 100;
  let compactedBefore = 0;
  let isDown = false;
  const stores: Record<FakeKind, Map<string, Obj>> = { Service: new Map(), EndpointSlice: new Map(), Node: new Map() };
  const history: Record<FakeKind, HistoryEntry[]> = { Service: [], EndpointSlice: [], Node: [] };
  const watchers = new Set<Watcher>();
  const requests: URL[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push(url);
    if (isDown) {
      req.socket.destroy();
      return;
    }
    const kind = PATHS[url.pathname];
    if (req.method === 'GET' && kind) {
      if (url.searchParams.get('watch') === 'true') return serveWatch(kind, url, res);
      return serveList(kind, url, res);
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status(404, 'NotFound', `fake api: no route for ${req.method} ${url.pathname}`)));
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;

  function serveList(kind: FakeKind, url: URL, res: http.ServerResponse): void {
    const ls = url.searchParams.get('labelSelector') ?? undefined;
    const fs = url.searchParams.get('fieldSelector') ?? undefined;
    const all = [...stores[kind].values()]
      .filter((o) => matches(o, ls, fs))
      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const offset = Number(url.searchParams.get('continue') || 0);
    const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next = limit > 0 && offset + limit < all.length ? String(offset + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: `${kind}List`,
        apiVersion: API_VERSION[kind],
        metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) },
        // The API server omits kind/apiVersion on list items.
        items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
      }),
    );
  }

  function serveWatch(kind: FakeKind, url: URL, res: http.ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') || 0);
    const w: Watcher = {
      kind,
      res,
      labelSelector: url.searchParams.get('labelSelector') ?? undefined,
      fieldSelector: url.searchParams.get('fieldSelector') ?? undefined,
    };
    if (from > 0 && from < compactedBefore) {
      if (fake.goneStyle === 'http') {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status(410, 'Expired', `too old resource version: ${from} (${compactedBefore})`)));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedBefore})`) }) + '\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    watchers.add(w);
    res.on('close', () => watchers.delete(w));
    // Replay what happened after `from`, as the watch cache does.
    for (const h of history[kind]) if (h.rv > from) send(w, h);
  }

  function send(w: Watcher, h: HistoryEntry): void {
    const was = h.old !== undefined && matches(h.old, w.labelSelector, w.fieldSelector);
    const is = h.cur !== undefined && matches(h.cur, w.labelSelector, w.fieldSelector);
    let type: string | undefined;
    let object: Obj | undefined;
    if (is) {
      type = was ? 'MODIFIED' : 'ADDED';
      object = h.cur;
    } else if (was) {
      // Deleted, or no longer matching the selector: both are DELETED to this watcher.
      type = 'DELETED';
      object = h.cur ? h.cur : { ...h.old!, metadata: { ...h.old!.metadata, resourceVersion: String(h.rv) } };
    }
    if (type) w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  function record(kind: FakeKind, old: Obj | undefined, cur: Obj | undefined): void {
    const h: HistoryEntry = { rv, old, cur };
    history[kind].push(h);
    for (const w of watchers) if (w.kind === kind) send(w, h);
  }

  const fake: FakeApiServer = {
    url: baseUrl,
    requests,
    goneStyle: 'event',
    requestsFor(kind, watch) {
      const path = Object.keys(PATHS).find((p) => PATHS[p] === kind)!;
      return requests.filter(
        (u) => u.pathname === path && (watch === undefined || (u.searchParams.get('watch') === 'true') === watch),
      );
    },
    put(kind, obj) {
      rv++;
      const stored: Obj = structuredClone({
        ...obj,
        apiVersion: API_VERSION[kind],
        kind,
        metadata: { ...obj.metadata, resourceVersion: String(rv) },
      });
      const key = keyOf(stored);
      const old = stores[kind].get(key);
      stores[kind].set(key, stored);
      record(kind, old, stored);
      return stored;
    },
    remove(kind, namespace, name) {
      const key = `${namespace ?? ''}/${name}`;
      const old = stores[kind].get(key);
      if (!old) throw new Error(`fake api: ${kind} ${key} does not exist`);
      rv++;
      stores[kind].delete(key);
      record(kind, old, undefined);
    },
    get(kind, namespace, name) {
      return stores[kind].get(`${namespace ?? ''}/${name}`);
    },
    bookmark(kind) {
      rv++;
      for (const w of watchers) {
        if (w.kind === kind) {
          w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind, apiVersion: API_VERSION[kind], metadata: { resourceVersion: String(rv) } } }) + '\n');
        }
      }
      return String(rv);
    },
    closeWatches(kind) {
      for (const w of [...watchers]) if (!kind || w.kind === kind) w.res.end();
    },
    compact() {
      compactedBefore = rv;
      for (const k of Object.keys(history) as FakeKind[]) history[k] = [];
    },
    down() {
      isDown = true;
      for (const w of [...watchers]) w.res.destroy();
      server.closeAllConnections();
    },
    up() {
      isDown = false;
    },
    openWatches(kind) {
      return [...watchers].filter((w) => !kind || w.kind === kind).length;
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: baseUrl, skipTLSVerify: true }],
        users: [{ name: 'fake', token: 'fake-token' }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
        currentContext: 'fake',
      });
      return kc;
    },
    async close() {
      for (const w of [...watchers]) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

function keyOf(o: Obj): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** Equality (`k=v`), inequality (`k!=v`), existence (`k`) and non-existence (`!k`) terms, comma-joined. */
function matches(o: Obj, labelSelector: string | undefined, fieldSelector: string | undefined): boolean {
  const labels = o.metadata.labels ?? {};
  for (const term of (labelSelector ?? '').split(',').filter(Boolean)) {
    if (term.startsWith('!')) {
      if (term.slice(1) in labels) return false;
    } else if (term.includes('!=')) {
      const [k, v] = term.split('!=');
      if (labels[k] === v) return false;
    } else if (term.includes('=')) {
      const [k, v] = term.split('=');
      if (labels[k] !== v) return false;
    } else if (!(term in labels)) return false;
  }
  for (const term of (fieldSelector ?? '').split(',').filter(Boolean)) {
    const [k, v] = term.split('=');
    if (k === 'metadata.name' && o.metadata.name !== v) return false;
    if (k === 'metadata.namespace' && o.metadata.namespace !== v) return false;
  }
  return true;
}
