// Chooses the endpoint for a new connection (or for a retry of its connect). A small function
// over an immutable route that copes with missing context, wrapped by policies:
//   candidates (traffic policy) -> minus endpoints already tried for this client connection
//   -> ClientIP session affinity -> prefer endpoints without a recent connect failure
//   -> base balancer (least connections, or random like kube-proxy).
import { LRUCache } from 'lru-cache';
import type { Endpoint } from '../table/endpoint.ts';
import type { Route } from '../table/route.ts';
import { candidateEndpoints } from './endpoint-set.ts';

export type Algorithm = 'least-connections' | 'random';

export interface PickRequest {
  readonly clientIP: string;
  readonly clientIsLocal: boolean;
  /** Endpoint keys already tried for this client connection: never tried twice. */
  readonly tried: ReadonlySet<string>;
}

export interface PickerOptions {
  algorithm: Algorithm;
  /** Open connections per endpoint key, from the connection table. */
  activeConnections: (endpointKey: string) => number;
  /** How long an endpoint whose connect failed is avoided while others are available (ms). */
  failureCooldownMs: number;
  /** Upper bound on remembered ClientIP affinities (memory bound under many clients). */
  maxAffinityEntries?: number;
  /**
   * How a ClientIP-affinity Service places a client it has no pin for. 'balancer' (default):
   * the base balancer, as kube-proxy does. 'client-hash': rendezvous hashing of the client IP
   * over the endpoints, so that independent pickers (the worker processes of --workers, which
   * the kernel hands connections of one client at random) pin a client to the same endpoint.
   */
  affinityPlacement?: 'balancer' | 'client-hash';
  random?: () => number;
}

export class Picker {
  readonly #opts: PickerOptions;
  readonly #random: () => number;
  /** endpoint key -> time of its last connect failure; entries expire after the cooldown. */
  readonly #recentFailures: LRUCache<string, true>;
  /** `servicePortKey|clientIP` -> endpoint key; per-entry TTL = the Service's timeoutSeconds. */
  readonly #affinity: LRUCache<string, string>;

  constructor(opts: PickerOptions) {
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
    this.#recentFailures = new LRUCache({ max: 65536, ttl: Math.max(1, opts.failureCooldownMs) });
    this.#affinity = new LRUCache({ max: opts.maxAffinityEntries ?? 100_000, ttl: 1000, ttlAutopurge: false });
  }

  pick(route: Route, req: PickRequest): Endpoint | undefined {
    const all = candidateEndpoints(route, req.clientIsLocal);
    const candidates = req.tried.size === 0 ? all : all.filter((e) => !req.tried.has(e.key));
    if (candidates.length === 0) return undefined;

    const sp = route.servicePort;
    const affinityKey = sp.affinitySeconds > 0 ? `${sp.key}|${req.clientIP}` : undefined;
    if (affinityKey !== undefined) {
      const pinned = this.#affinity.get(affinityKey);
      // Only endpoints still in the set in use honour affinity (semantics item 25).
      const hit = pinned === undefined ? undefined : candidates.find((e) => e.key === pinned);
      if (hit && !this.#recentFailures.has(hit.key)) {
        this.#affinity.set(affinityKey, hit.key, { ttl: sp.affinitySeconds * 1000 });
        return hit;
      }
    }

    let pool = candidates;
    if (this.#recentFailures.size > 0) {
      const healthy = candidates.filter((e) => !this.#recentFailures.has(e.key));
      if (healthy.length > 0) pool = healthy;
    }
    const chosen =
      affinityKey !== undefined && this.#opts.affinityPlacement === 'client-hash'
        ? rendezvous(pool, req.clientIP)
        : this.#opts.algorithm === 'random'
          ? this.#randomOf(pool)
          : this.#leastConnections(pool);
    if (affinityKey !== undefined) this.#affinity.set(affinityKey, chosen.key, { ttl: sp.affinitySeconds * 1000 });
    return chosen;
  }

  /** A connect to this endpoint failed: avoid it for a while when there is a choice. */
  reportConnectFailure(endpointKey: string): void {
    this.#recentFailures.set(endpointKey, true);
  }

  #randomOf(pool: readonly Endpoint[]): Endpoint {
    return pool[Math.floor(this.#random() * pool.length)]!;
  }

  /** Fewest open connections; ties broken at random so equal backends share new load evenly. */
  #leastConnections(pool: readonly Endpoint[]): Endpoint {
    if (pool.length === 1) return pool[0]!;
    let best: Endpoint[] = [];
    let bestCount = Infinity;
    for (const e of pool) {
      const n = this.#opts.activeConnections(e.key);
      if (n < bestCount) {
        bestCount = n;
        best = [e];
      } else if (n === bestCount) best.push(e);
    }
    return this.#randomOf(best);
  }
}

/** The endpoint with the highest hash of (client IP, endpoint): the same in every process. */
function rendezvous(pool: readonly Endpoint[], clientIP: string): Endpoint {
  let best = pool[0]!;
  let bestScore = -1;
  for (const e of pool) {
    const score = fnv1a(`${clientIP}|${e.key}`);
    if (score > bestScore) {
      bestScore = score;
      best = e;
    }
  }
  return best;
}

/** 32-bit FNV-1a: fast, stable across processes and releases, well spread for short keys. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3's fmix32), so keys that differ in their last characters spread.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
