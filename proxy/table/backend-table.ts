// The backend table: per (protocol, nodePort) the usable endpoints, computed per Service.
// Fed by source events (through proxy.ts); a change to one Service or EndpointSlice recomputes
// that Service only and swaps its routes in at once: no periodic sync, no minimum sync period.
// Like kube-proxy's EndpointSliceCache, slices are kept per service and per slice name, so an
// endpoint that moves between slices is never lost.
import { parseEndpointSlice, type SliceInfo } from '../model/endpoint-slice.ts';
import { parseService, serviceKeyOf, type ServicePortInfo } from '../model/service-port.ts';
import type { EndpointSliceObject, NodeObject, ServiceObject } from '../source/events.ts';
import { objectRef } from '../source/events.ts';
import { categorizeEndpoints } from './categorize.ts';
import { endpointKey, type Endpoint } from './endpoint.ts';
import { routeKey, type Route } from './route.ts';

export const LABEL_ZONE = 'topology.kubernetes.io/zone';

/** What one apply step changed, for the listeners, the connection table and the metrics. */
export interface TableChange {
  readonly serviceKey: string;
  /** Routes of this service before and after (by route key). */
  readonly before: ReadonlyMap<string, Route>;
  readonly after: ReadonlyMap<string, Route>;
  /** Trigger times (epoch ms) of the slice changes folded into this step. */
  readonly triggerTimesMs: readonly number[];
}

export interface TableWarning {
  readonly ref: string;
  readonly message: string;
}

export interface BackendTableOptions {
  nodeName: string;
  /** The only family served for now; the table keeps slices of the other family out. */
  family?: 'IPv4' | 'IPv6';
  onChange: (change: TableChange) => void;
  onWarning: (warning: TableWarning) => void;
}

export class BackendTable {
  readonly #opts: Required<BackendTableOptions>;
  readonly #servicePorts = new Map<string, readonly ServicePortInfo[]>();
  readonly #slices = new Map<string, Map<string, SliceInfo>>();
  readonly #routesByService = new Map<string, ReadonlyMap<string, Route>>();
  /** The data plane's lookup: route key -> route. Entries are replaced, never mutated. */
  readonly #routes = new Map<string, Route>();
  /** Which service owns a route key, to report a second Service claiming the same NodePort. */
  readonly #routeOwner = new Map<string, string>();
  /** Services refused a route key because another Service owns it; retried when it is released. */
  readonly #waiting = new Map<string, Set<string>>();
  #nodeZone: string | undefined;
  #generation = 0;

  constructor(opts: BackendTableOptions) {
    // `family: undefined` (an optional option passed through) must mean IPv4 too, not "no family".
    this.#opts = { ...opts, family: opts.family ?? 'IPv4' };
  }

  /** The route for a NodePort, or undefined when no selected Service has it. Hot path: O(1). */
  route(protocol: string, nodePort: number): Route | undefined {
    return this.#routes.get(routeKey(protocol, nodePort));
  }

  routes(): IterableIterator<Route> {
    return this.#routes.values();
  }

  get serviceCount(): number {
    return this.#servicePorts.size;
  }

  upsertService(obj: ServiceObject): void {
    const ref = objectRef('Service', obj);
    let parsed;
    try {
      parsed = parseService(obj);
    } catch (err) {
      // A malformed object is reported and ignored; what was already working keeps working.
      this.#opts.onWarning({ ref, message: (err as Error).message });
      return;
    }
    const key = serviceKeyOf(obj.metadata!.namespace!, obj.metadata!.name!);
    if (parsed.kind === 'skipped') {
      this.#servicePorts.delete(key);
    } else {
      for (const message of parsed.warnings) this.#opts.onWarning({ ref, message });
      this.#servicePorts.set(key, parsed.ports);
    }
    this.#recompute(key, []);
  }

  deleteService(obj: ServiceObject): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (!ns || !name) return;
    const key = serviceKeyOf(ns, name);
    if (!this.#servicePorts.delete(key)) return;
    this.#recompute(key, []);
  }

  upsertEndpointSlice(obj: EndpointSliceObject): void {
    const ref = objectRef('EndpointSlice', obj);
    let parsed;
    try {
      parsed = parseEndpointSlice(obj);
    } catch (err) {
      this.#opts.onWarning({ ref, message: (err as Error).message });
      return;
    }
    if (parsed.kind === 'ignored' || parsed.slice.family !== this.#opts.family) return;
    const slice = parsed.slice;
    let byName = this.#slices.get(slice.serviceKey);
    if (!byName) this.#slices.set(slice.serviceKey, (byName = new Map()));
    byName.set(slice.sliceName, slice);
    this.#recompute(slice.serviceKey, slice.triggerTimeMs === undefined ? [] : [slice.triggerTimeMs]);
  }

  deleteEndpointSlice(obj: EndpointSliceObject): void {
    let parsed;
    try {
      parsed = parseEndpointSlice(obj);
    } catch {
      return;
    }
    if (parsed.kind === 'ignored') return;
    const { serviceKey, sliceName } = parsed.slice;
    const byName = this.#slices.get(serviceKey);
    if (!byName?.delete(sliceName)) return;
    if (byName.size === 0) this.#slices.delete(serviceKey);
    this.#recompute(serviceKey, []);
  }

  /** This node's Node object: its zone label drives topology hints. */
  setNode(node: NodeObject | undefined): void {
    const zone = node?.metadata?.labels?.[LABEL_ZONE];
    if (zone === this.#nodeZone) return;
    this.#nodeZone = zone;
    for (const key of new Set([...this.#servicePorts.keys()])) this.#recompute(key, []);
  }

  /** Rebuilds the routes of one service and swaps them in. */
  #recompute(serviceKey: string, triggerTimesMs: number[]): void {
    const before = this.#routesByService.get(serviceKey) ?? new Map<string, Route>();
    const after = new Map<string, Route>();
    const ports = this.#servicePorts.get(serviceKey) ?? [];
    const slices = this.#slices.get(serviceKey);
    for (const sp of ports) {
      const rk = routeKey(sp.protocol, sp.nodePort);
      const owner = this.#routeOwner.get(rk);
      if (owner !== undefined && owner !== serviceKey) {
        let waiters = this.#waiting.get(rk);
        if (!waiters) this.#waiting.set(rk, (waiters = new Set()));
        waiters.add(serviceKey);
        this.#opts.onWarning({
          ref: `Service/${serviceKey}`,
          message: `nodePort ${sp.protocol}/${sp.nodePort} is already used by Service ${owner}; port ignored`,
        });
        continue;
      }
      this.#waiting.get(rk)?.delete(serviceKey);
      const endpoints = mergeEndpoints(sp, slices, this.#opts.nodeName);
      const categorized = categorizeEndpoints(endpoints, this.#nodeZone);
      after.set(
        rk,
        Object.freeze({
          servicePort: sp,
          endpoints,
          clusterEndpoints: categorized.cluster,
          localEndpoints: categorized.local,
          generation: ++this.#generation,
        }),
      );
    }
    const released: string[] = [];
    for (const rk of before.keys()) {
      if (!after.has(rk)) {
        this.#routes.delete(rk);
        this.#routeOwner.delete(rk);
        released.push(rk);
      }
    }
    for (const [rk, route] of after) {
      this.#routes.set(rk, route);
      this.#routeOwner.set(rk, serviceKey);
    }
    if (after.size > 0) this.#routesByService.set(serviceKey, after);
    else this.#routesByService.delete(serviceKey);
    if (before.size === 0 && after.size === 0) return;
    this.#opts.onChange({ serviceKey, before, after, triggerTimesMs });
    // A NodePort given up here goes to a Service that was refused it (first come, first served).
    for (const rk of released) {
      for (const waiter of [...(this.#waiting.get(rk) ?? [])]) {
        const claims = this.#servicePorts.get(waiter)?.some((sp) => routeKey(sp.protocol, sp.nodePort) === rk);
        if (!claims) this.#waiting.get(rk)?.delete(waiter);
        else if (!this.#routeOwner.has(rk)) this.#recompute(waiter, []);
      }
      if (this.#waiting.get(rk)?.size === 0) this.#waiting.delete(rk);
    }
  }
}

/**
 * The endpoints of one service port across all its slices: slice ports matched by name and
 * protocol, de-duplicated by `ip:port` (a non-terminating copy wins over a terminating one),
 * sorted by key (semantics item 9).
 */
export function mergeEndpoints(
  sp: ServicePortInfo,
  slices: ReadonlyMap<string, SliceInfo> | undefined,
  nodeName: string,
): readonly Endpoint[] {
  if (!slices) return Object.freeze([]);
  const byKey = new Map<string, Endpoint>();
  for (const slice of slices.values()) {
    for (const port of slice.ports) {
      if (port.name !== sp.portName || port.protocol !== sp.protocol) continue;
      for (const e of slice.endpoints) {
        const key = endpointKey(e.ip, port.port);
        const existing = byKey.get(key);
        if (existing && !(existing.terminating && !e.terminating)) continue;
        byKey.set(
          key,
          Object.freeze({
            key,
            ip: e.ip,
            port: port.port,
            ready: e.ready,
            serving: e.serving,
            terminating: e.terminating,
            nodeName: e.nodeName,
            zoneHints: e.zoneHints,
            isLocal: e.nodeName !== undefined && e.nodeName === nodeName,
          }),
        );
      }
    }
  }
  return Object.freeze([...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
}
