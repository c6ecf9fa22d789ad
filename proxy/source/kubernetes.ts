// The Kubernetes API source: list+watch of the selected Services and EndpointSlices and of this
// node's Node object, turned into the typed events of events.ts.
//
// Why not client-node's informer (makeInformer / ListWatch)? As of client-node 2.0 it
//  - stops for good on any watch error other than 410 and a client timeout (it only calls the
//    error callbacks), so a restarted API server would leave us blind until someone restarts it;
//  - backs off without jitter (every node of a DaemonSet reconnects in lock-step);
//  - does not request bookmarks, so a quiet watch restarts from an old resourceVersion and gets
//    410 far more often than needed;
//  - offers no hook to count restarts by reason or to tell "first list done" per kind.
// So this file runs a small reflector per kind (the shape of client-go's): list, then watch from
// the list's resourceVersion, reconnect on failure, relist on 410, diff every relist against the
// objects we already delivered so consumers see only real changes, and never delete anything
// just because the API server is unreachable.
//
// Objects are emitted wire-shaped (what `kubectl get -o json` shows: timestamps as RFC 3339
// strings, annotations as strings), exactly like the objects-file source, so everything after the
// source is one code path. Watch events arrive in that shape; list items from the typed client
// are deserialised into model classes with Date fields, so they are converted back (toWire).
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, DiscoveryV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { objectRef, type Source, type SourceEvent, type SourceEventSink } from './events.ts';
import { labelSelectorFor } from './selection.ts';
import { createBackoff, type Backoff, type BackoffOptions } from './watch-backoff.ts';

export type WatchedKind = 'Service' | 'EndpointSlice' | 'Node';
export const WATCHED_KINDS: readonly WatchedKind[] = ['Service', 'EndpointSlice', 'Node'];

/**
 * Why a watch ended (the `reason` label of nodeport_proxy_source_watch_restarts_total):
 * - `closed`: the server ended the stream normally (its timeoutSeconds, or an API server shutdown);
 * - `timeout`: no byte (not even a bookmark) for `watchInactivityTimeoutMs`: a dead connection;
 * - `gone`: 410, our resourceVersion is too old for the server's history: relist and diff;
 * - `error`: the request failed (connection refused or reset, non-200 status, an ERROR event);
 * - `list_failed`: the list that precedes a watch failed; retried with backoff.
 */
export type WatchRestartReason = 'closed' | 'timeout' | 'gone' | 'error' | 'list_failed';

export interface KindStatus {
  /** The first complete list of this kind has been delivered. */
  listed: boolean;
  /** A watch request is currently open (or being opened). */
  watching: boolean;
  resourceVersion: string;
  /** Objects currently known (delivered and not deleted). */
  objects: number;
  /** Clock time (ms) of the last list response or watch event, bookmarks included. */
  lastEventAt: number | undefined;
  restarts: number;
  lastRestartReason: WatchRestartReason | undefined;
  lastError: string | undefined;
}

export interface KubernetesSourceStatus {
  /** `synced` has been emitted: every kind completed its first list. */
  synced: boolean;
  kinds: Record<WatchedKind, KindStatus>;
}

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** The value of the service.kubernetes.io/service-proxy-name label this proxy serves. */
  proxyName: string;
  /** This node's name (the Node object watched, by field selector). */
  nodeName: string;
  logger: Logger;
  /** prom-client registry for the source metrics; never the global one. */
  registry: Registry;
  /** Wall clock in ms since the epoch (metrics timestamps, status). */
  clock?: () => number;
  /** Reconnect/retry backoff; defaults to 800 ms doubling up to 30 s, equal jitter. */
  backoff?: BackoffOptions;
  /**
   * Server-side watch timeout: each watch asks for a random timeoutSeconds in [this, 2 * this],
   * as client-go does, so that the watches of all nodes do not expire together. Default 300.
   */
  watchTimeoutSeconds?: number;
  /**
   * Client-side inactivity timeout of a watch (connect, then between bytes). The API server sends
   * a bookmark about once a minute on a quiet watch, so this must be well above 60 s. Default 90 s.
   */
  watchInactivityTimeoutMs?: number;
  /** Page size of list calls. Default 500 (client-go's). */
  listPageSize?: number;
  /** A list call (one page) that takes longer than this counts as failed. Default 60 s. */
  listTimeoutMs?: number;
  /**
   * A watch that delivered at least one event or stayed open this long is healthy: the backoff is
   * reset, and a normal close reconnects at once. Default 5 s.
   */
  healthyWatchMs?: number;
}

export interface KubernetesSource extends Source {
  status(): KubernetesSourceStatus;
}

type WireObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
};

interface ListPage {
  items: WireObject[];
  resourceVersion: string;
  continueToken: string | undefined;
}

interface ListParams {
  resourceVersion: string | undefined;
  continueToken: string | undefined;
  limit: number;
}

interface KindSpec {
  kind: WatchedKind;
  /** Collection path for the watch, across all namespaces. */
  watchPath: string;
  labelSelector: string | undefined;
  fieldSelector: string | undefined;
  listPage(params: ListParams): Promise<ListPage>;
}

interface WatchOutcome {
  reason: WatchRestartReason;
  error: unknown;
  events: number;
  durationMs: number;
}

/** Thrown into pending awaits when stop() is called. */
class StoppedError extends Error {
  constructor() {
    super('kubernetes source stopped');
    this.name = 'StoppedError';
  }
}

export function createKubernetesSource(options: KubernetesSourceOptions): KubernetesSource {
  const { kubeConfig, proxyName, nodeName } = options;
  if (!proxyName) throw new Error('kubernetes source: proxyName must not be empty');
  if (!nodeName) {
    throw new Error('kubernetes source: nodeName must not be empty (set --hostname-override or NODE_NAME)');
  }
  const clock = options.clock ?? Date.now;
  const logger = options.logger.child({ component: 'source' });
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const inactivityMs = options.watchInactivityTimeoutMs ?? 90_000;
  const pageSize = options.listPageSize ?? 500;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  const healthyWatchMs = options.healthyWatchMs ?? 5_000;

  const metrics = createSourceMetrics(options.registry);

  const core = kubeConfig.makeApiClient(CoreV1Api);
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  const watch = new Watch(kubeConfig);
  // Watch's inactivity timeout defaults to 30 s and is declared private in the typings; a quiet
  // watch only gets a bookmark every ~60 s, so 30 s would restart every quiet watch twice a minute.
  (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = inactivityMs;

  const selector = labelSelectorFor(proxyName);
  const specs: KindSpec[] = [
    {
      kind: 'Service',
      watchPath: '/api/v1/services',
      labelSelector: selector,
      fieldSelector: undefined,
      async listPage(p) {
        const list = await core.listServiceForAllNamespaces({
          labelSelector: selector,
          limit: p.limit,
          _continue: p.continueToken,
          resourceVersion: p.resourceVersion,
        });
        return toPage(list);
      },
    },
    {
      kind: 'EndpointSlice',
      watchPath: '/apis/discovery.k8s.io/v1/endpointslices',
      labelSelector: selector,
      fieldSelector: undefined,
      async listPage(p) {
        const list = await discovery.listEndpointSliceForAllNamespaces({
          labelSelector: selector,
          limit: p.limit,
          _continue: p.continueToken,
          resourceVersion: p.resourceVersion,
        });
        return toPage(list);
      },
    },
    {
      kind: 'Node',
      watchPath: '/api/v1/nodes',
      labelSelector: undefined,
      fieldSelector: `metadata.name=${nodeName}`,
      async listPage(p) {
        const list = await core.listNode({
          fieldSelector: `metadata.name=${nodeName}`,
          limit: p.limit,
          _continue: p.continueToken,
          resourceVersion: p.resourceVersion,
        });
        return toPage(list);
      },
    },
  ];

  let sink: SourceEventSink | undefined;
  let stopped = false;
  let syncedEmitted = false;
  const stopController = new AbortController();
  const loops: Promise<void>[] = [];
  const reflectors = new Map<WatchedKind, Reflector>();

  interface Reflector {
    spec: KindSpec;
    known: Map<string, WireObject>;
    resourceVersion: string;
    status: KindStatus;
    backoff: Backoff;
    controller: AbortController | undefined;
  }

  function emit(event: SourceEvent): void {
    try {
      sink?.(event);
    } catch (err) {
      // A consumer bug must not kill the watch loop; the event is lost, so say which one.
      const what = event.type === 'synced' ? 'synced' : `${event.type} ${objectRef(event.kind, event.object)}`;
      logger.error({ err }, `event sink threw while handling ${what}`);
    }
  }

  function emitObject(type: 'upsert' | 'delete', kind: WatchedKind, object: WireObject): void {
    // The wire object is the API object; the cast only restates that for the typed contract.
    emit({ type, kind, object } as SourceEvent);
  }

  function markEvent(r: Reflector): void {
    const now = clock();
    r.status.lastEventAt = now;
    metrics.lastEvent.set({ kind: r.spec.kind }, now / 1000);
  }

  function maybeSynced(): void {
    if (syncedEmitted) return;
    for (const r of reflectors.values()) if (!r.status.listed) return;
    syncedEmitted = true;
    logger.info('initial list of Services, EndpointSlices and Node complete');
    emit({ type: 'synced' });
  }

  /** Fails with StoppedError as soon as stop() is called, whatever `promise` does. */
  function untilStopped<T>(promise: Promise<T>, timeoutMs?: number, what?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onStop = () => reject(new StoppedError());
      if (stopController.signal.aborted) return onStop();
      stopController.signal.addEventListener('abort', onStop, { once: true });
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => reject(new Error(`${what ?? 'request'} timed out after ${timeoutMs} ms`)), timeoutMs);
      promise.then(resolve, reject).finally(() => {
        if (timer) clearTimeout(timer);
        stopController.signal.removeEventListener('abort', onStop);
      });
    });
  }

  async function listAll(r: Reflector, resourceVersion: string | undefined): Promise<{ items: WireObject[]; rv: string }> {
    const items: WireObject[] = [];
    let continueToken: string | undefined;
    let rv = '';
    do {
      const page = await untilStopped(
        r.spec.listPage({
          // A continued list must not repeat resourceVersion (the token carries it).
          resourceVersion: continueToken ? undefined : resourceVersion,
          continueToken,
          limit: pageSize,
        }),
        listTimeoutMs,
        `list ${r.spec.kind}`,
      );
      items.push(...page.items);
      rv = page.resourceVersion;
      continueToken = page.continueToken || undefined;
    } while (continueToken);
    return { items, rv };
  }

  /**
   * Replaces the known state of a kind with a fresh list and emits only the differences: upserts for
   * new or changed objects (by resourceVersion), then deletes for objects no longer listed. Upserts
   * go first so that an endpoint moving between two slices is never absent in between.
   */
  function applyList(r: Reflector, items: WireObject[]): { upserts: number; deletes: number } {
    const next = new Map<string, WireObject>();
    let upserts = 0;
    let deletes = 0;
    for (const item of items) {
      const key = keyOf(item);
      next.set(key, item);
      const prev = r.known.get(key);
      if (!prev || prev.metadata?.resourceVersion !== item.metadata?.resourceVersion) {
        upserts++;
        emitObject('upsert', r.spec.kind, item);
      }
    }
    for (const [key, prev] of r.known) {
      if (!next.has(key)) {
        deletes++;
        emitObject('delete', r.spec.kind, prev);
      }
    }
    r.known = next;
    r.status.objects = next.size;
    return { upserts, deletes };
  }

  function onWatchEvent(r: Reflector, phase: string, obj: WireObject): void {
    markEvent(r);
    const rv = obj?.metadata?.resourceVersion;
    switch (phase) {
      case 'BOOKMARK':
        // A bookmark carries only a resourceVersion: the point we may resume from without a 410.
        if (rv) r.resourceVersion = rv;
        return;
      case 'ADDED':
      case 'MODIFIED': {
        if (rv) r.resourceVersion = rv;
        const key = keyOf(obj);
        const prev = r.known.get(key);
        // A replayed event (same version) is not a change.
        if (prev && prev.metadata?.resourceVersion === rv) return;
        r.known.set(key, obj);
        r.status.objects = r.known.size;
        emitObject('upsert', r.spec.kind, obj);
        return;
      }
      case 'DELETED': {
        if (rv) r.resourceVersion = rv;
        const key = keyOf(obj);
        // Also sent when an object stops matching the label selector (label removed): exactly the
        // "this proxy no longer owns it" signal we want.
        if (!r.known.delete(key)) return;
        r.status.objects = r.known.size;
        emitObject('delete', r.spec.kind, obj);
        return;
      }
      default:
        logger.warn({ kind: r.spec.kind, phase }, `ignoring unknown watch event type ${phase} for ${r.spec.kind}`);
    }
  }

  function watchOnce(r: Reflector): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      const started = clock();
      let events = 0;
      let settled = false;
      // Set by an ERROR event: the stream's own end (close or our abort) must not overwrite it.
      let presetReason: WatchRestartReason | undefined;
      let presetError: unknown;

      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        r.controller = undefined;
        r.status.watching = false;
        let reason: WatchRestartReason;
        let error: unknown = err ?? undefined;
        if (presetReason) {
          reason = presetReason;
          error = presetError;
        } else if (!err) reason = 'closed';
        else if (statusCodeOf(err) === 410) reason = 'gone';
        else if ((err as { name?: string }).name === 'TimeoutError') reason = 'timeout';
        else reason = 'error';
        resolve({ reason, error, events, durationMs: clock() - started });
      };

      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion: r.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(watchTimeoutSeconds * (1 + Math.random())),
        labelSelector: r.spec.labelSelector,
        fieldSelector: r.spec.fieldSelector,
      };
      r.status.watching = true;
      watch
        .watch(
          r.spec.watchPath,
          query,
          (phase, obj: WireObject & { code?: number; message?: string; reason?: string }) => {
            if (settled || stopped) return;
            if (phase === 'ERROR') {
              // The server reports a failed watch as an ERROR event carrying a Status (most often
              // 410 Expired: our resourceVersion fell out of its history) and then closes.
              presetReason = obj?.code === 410 ? 'gone' : 'error';
              presetError = new Error(
                `watch ${r.spec.kind} failed: ${obj?.code ?? '?'} ${obj?.reason ?? ''} ${obj?.message ?? ''}`.trim(),
              );
              r.controller?.abort();
              return;
            }
            events++;
            onWatchEvent(r, phase, obj);
          },
          finish,
        )
        .then(
          (controller) => {
            if (settled) return;
            r.controller = controller;
            if (stopped) controller.abort();
          },
          finish,
        );
    });
  }

  function logRestart(r: Reflector, reason: WatchRestartReason, error: unknown, delayMs: number, extra: object = {}): void {
    r.status.restarts++;
    r.status.lastRestartReason = reason;
    r.status.lastError = error ? describeError(error) : undefined;
    metrics.restarts.inc({ kind: r.spec.kind, reason });
    const fields = {
      kind: r.spec.kind,
      reason,
      resourceVersion: r.resourceVersion,
      retryInMs: Math.round(delayMs),
      ...(error ? { error: describeError(error) } : {}),
      ...extra,
    };
    const msg = `watch of ${r.spec.kind} restarting (${reason})`;
    // A server-side close or an idle timeout is routine; anything else is worth a warning.
    if ((reason === 'closed' || reason === 'timeout') && r.backoff.failures === 0) logger.info(fields, msg);
    else logger.warn(fields, msg);
  }

  async function pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: stopController.signal });
    } catch {
      // aborted by stop()
    }
  }

  async function run(r: Reflector): Promise<void> {
    let needList = true;
    while (!stopped) {
      if (needList) {
        // First list: resourceVersion "0" lets the API server answer from its watch cache, which
        // matters when every node of a large cluster starts at once (client-go does the same).
        // A relist after 410 asks for a consistent read (""), so it is never older than what we
        // already delivered.
        const first = !r.status.listed;
        let listed: { items: WireObject[]; rv: string };
        try {
          listed = await listAll(r, first ? '0' : undefined);
        } catch (err) {
          if (stopped || err instanceof StoppedError) return;
          const delay = r.backoff.next();
          logRestart(r, 'list_failed', err, delay);
          await pause(delay);
          continue;
        }
        if (stopped) return;
        markEvent(r);
        const { upserts, deletes } = applyList(r, listed.items);
        r.resourceVersion = listed.rv;
        if (!first) {
          metrics.relists.inc({ kind: r.spec.kind });
          logger.info(
            { kind: r.spec.kind, resourceVersion: r.resourceVersion, objects: r.known.size, upserts, deletes },
            `relisted ${r.spec.kind}: ${upserts} changed, ${deletes} deleted`,
          );
        }
        r.status.listed = true;
        r.status.resourceVersion = r.resourceVersion;
        needList = false;
        maybeSynced();
      }

      const outcome = await watchOnce(r);
      r.status.resourceVersion = r.resourceVersion;
      if (stopped) return;

      const healthy = outcome.events > 0 || outcome.durationMs >= healthyWatchMs;
      if (healthy) r.backoff.reset();
      if (outcome.reason === 'gone') needList = true;
      // Reconnect at once after a healthy watch ended normally (or expired: the relist is the
      // work then); back off after errors and after watches that die right after opening.
      const immediate = healthy && outcome.reason !== 'error';
      const delay = immediate ? 0 : r.backoff.next();
      logRestart(r, outcome.reason, outcome.error, delay, { events: outcome.events, durationMs: outcome.durationMs });
      await pause(delay);
    }
  }

  return {
    async start(s: SourceEventSink): Promise<void> {
      if (sink) throw new Error('kubernetes source: start() called twice');
      if (stopped) throw new Error('kubernetes source: start() after stop()');
      sink = s;
      logger.info(
        { proxyName, nodeName, labelSelector: selector, server: kubeConfig.getCurrentCluster()?.server },
        'watching Services, EndpointSlices and Node',
      );
      for (const spec of specs) {
        const r: Reflector = {
          spec,
          known: new Map(),
          resourceVersion: '',
          backoff: createBackoff(options.backoff),
          controller: undefined,
          status: {
            listed: false,
            watching: false,
            resourceVersion: '',
            objects: 0,
            lastEventAt: undefined,
            restarts: 0,
            lastRestartReason: undefined,
            lastError: undefined,
          },
        };
        reflectors.set(spec.kind, r);
      }
      for (const r of reflectors.values()) {
        loops.push(
          run(r).catch((err) => {
            // run() handles its own errors; reaching this is a bug, and the kind would stop updating.
            logger.fatal({ err, kind: r.spec.kind }, `watch loop for ${r.spec.kind} crashed`);
          }),
        );
      }
    },

    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      stopController.abort();
      for (const r of reflectors.values()) r.controller?.abort();
      await Promise.all(loops);
    },

    status(): KubernetesSourceStatus {
      const kinds = {} as Record<WatchedKind, KindStatus>;
      for (const kind of WATCHED_KINDS) {
        const r = reflectors.get(kind);
        kinds[kind] = r
          ? { ...r.status }
          : {
              listed: false,
              watching: false,
              resourceVersion: '',
              objects: 0,
              lastEventAt: undefined,
              restarts: 0,
              lastRestartReason: undefined,
              lastError: undefined,
            };
      }
      return { synced: syncedEmitted, kinds };
    },
  };
}

interface SourceMetrics {
  restarts: Counter<'kind' | 'reason'>;
  relists: Counter<'kind'>;
  lastEvent: Gauge<'kind'>;
}

function createSourceMetrics(registry: Registry): SourceMetrics {
  return {
    restarts: new Counter({
      name: 'nodeport_proxy_source_watch_restarts_total',
      help: 'Watches of the Kubernetes API that ended and were restarted, by kind and reason (closed, timeout, gone, error, list_failed).',
      labelNames: ['kind', 'reason'],
      registers: [registry],
    }),
    relists: new Counter({
      name: 'nodeport_proxy_source_relists_total',
      help: 'Full relists after a watch expired (410 Gone), diffed against the known state.',
      labelNames: ['kind'],
      registers: [registry],
    }),
    lastEvent: new Gauge({
      name: 'nodeport_proxy_source_last_event_timestamp_seconds',
      help: 'Unix time of the last list response or watch event (bookmarks included) per kind.',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

/** The typed client's list (model classes, Date fields) back to the wire shape watch events have. */
function toPage(list: { items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }): ListPage {
  return {
    items: list.items.map(toWire),
    resourceVersion: list.metadata?.resourceVersion ?? '',
    continueToken: list.metadata?._continue,
  };
}

function toWire(item: unknown): WireObject {
  // The generated models use the wire field names for these kinds and Date#toJSON gives RFC 3339,
  // so a JSON round trip is an exact conversion back to the API's JSON.
  return JSON.parse(JSON.stringify(item)) as WireObject;
}

function keyOf(obj: WireObject): string {
  return `${obj?.metadata?.namespace ?? ''}/${obj?.metadata?.name ?? ''}`;
}

function statusCodeOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code; // client-node's ApiException
  return undefined;
}

/** One line naming the status and the server's message, for logs and status(). */
export function describeError(err: unknown): string {
  if (err === null || err === undefined) return 'unknown error';
  const e = err as { message?: string; code?: unknown; body?: unknown; cause?: { code?: string; message?: string } };
  const status = statusCodeOf(err);
  let serverMessage: string | undefined;
  if (e.body && typeof e.body === 'object' && 'message' in e.body) serverMessage = String((e.body as { message: unknown }).message);
  else if (typeof e.body === 'string') {
    try {
      serverMessage = (JSON.parse(e.body) as { message?: string }).message;
    } catch {
      serverMessage = e.body.slice(0, 200);
    }
  }
  const parts = [status ? `HTTP ${status}` : undefined, serverMessage ?? e.message?.split('\n')[0], e.cause?.code ?? e.cause?.message];
  return parts.filter(Boolean).join(': ') || String(err);
}
