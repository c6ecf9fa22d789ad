// The connection table: the userspace replacement for conntrack. Every proxied TCP connection
// is here from accept to close, with a per-backend index so that a table change finds exactly
// the connections of an endpoint (to mark them draining, or to close them after --drain-timeout)
// and the least-connections picker can count them in O(1).
import type { Socket } from 'node:net';

export type ConnectionState = 'connecting' | 'open' | 'half-closed' | 'draining';
/** Why a connection is draining: its endpoint is no longer ready, or has left the slices. */
export type DrainReason = 'not-ready' | 'removed';

export interface ConnectionRecord {
  readonly id: number;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly nodePort: number;
  readonly protocol: 'TCP';
  readonly serviceKey: string;
  readonly servicePortKey: string;
  readonly startedAtMs: number;
  readonly client: Socket;
  backend: Socket | undefined;
  /** Endpoint key (`ip:port`) once connected; the index key. */
  backendKey: string | undefined;
  /** Connect attempts so far (1 = no retry). */
  attempts: number;
  halfClosed: boolean;
  drain: DrainReason | undefined;
  drainTimer: NodeJS.Timeout | undefined;
  /** Bytes already added to the bytes counter by metrics scrapes (so scrapes add only deltas). */
  reportedBytesIn: number;
  reportedBytesOut: number;
}

export interface ConnectionView {
  id: number;
  client: string;
  nodePort: number;
  protocol: string;
  service: string;
  servicePort: string;
  backend: string | null;
  state: ConnectionState;
  drainReason: DrainReason | null;
  startedAt: string;
  ageSeconds: number;
  bytesIn: number;
  bytesOut: number;
  attempts: number;
  /** With --workers: which worker process carries it (ids are per worker). */
  worker?: number;
}

export class ConnectionTable {
  readonly #byId = new Map<number, ConnectionRecord>();
  readonly #byBackend = new Map<string, Set<ConnectionRecord>>();
  #nextId = 1;

  nextId(): number {
    return this.#nextId++;
  }

  get size(): number {
    return this.#byId.size;
  }

  add(rec: ConnectionRecord): void {
    this.#byId.set(rec.id, rec);
  }

  /** Records the backend a connection was finally connected to (after any retries). */
  attachBackend(rec: ConnectionRecord, backendKey: string, backend: Socket): void {
    if (rec.backendKey !== undefined) this.#unindex(rec); // re-attached after an early-reset replay
    rec.backend = backend;
    rec.backendKey = backendKey;
    let set = this.#byBackend.get(backendKey);
    if (!set) this.#byBackend.set(backendKey, (set = new Set()));
    set.add(rec);
  }

  remove(rec: ConnectionRecord): boolean {
    if (!this.#byId.delete(rec.id)) return false;
    if (rec.drainTimer) clearTimeout(rec.drainTimer);
    if (rec.backendKey !== undefined) this.#unindex(rec);
    return true;
  }

  #unindex(rec: ConnectionRecord): void {
    const set = this.#byBackend.get(rec.backendKey!);
    if (!set) return;
    set.delete(rec);
    if (set.size === 0) this.#byBackend.delete(rec.backendKey!);
  }

  /** Open connections to an endpoint, across services (the same pod is the same load). */
  countForBackend(backendKey: string): number {
    return this.#byBackend.get(backendKey)?.size ?? 0;
  }

  forBackend(backendKey: string): ReadonlySet<ConnectionRecord> {
    return this.#byBackend.get(backendKey) ?? EMPTY;
  }

  backendKeys(): IterableIterator<string> {
    return this.#byBackend.keys();
  }

  records(): IterableIterator<ConnectionRecord> {
    return this.#byId.values();
  }

  view(nowMs: number): ConnectionView[] {
    const out: ConnectionView[] = [];
    for (const r of this.#byId.values()) out.push(viewOf(r, nowMs));
    return out;
  }
}

const EMPTY: ReadonlySet<ConnectionRecord> = new Set();

export function stateOf(r: ConnectionRecord): ConnectionState {
  if (r.drain) return 'draining';
  if (!r.backend) return 'connecting';
  return r.halfClosed ? 'half-closed' : 'open';
}

/** Bytes client -> backend and backend -> client, read from the sockets (no per-chunk counting). */
export function bytesOf(r: ConnectionRecord): { in: number; out: number } {
  return { in: r.client.bytesRead, out: r.client.bytesWritten };
}

function viewOf(r: ConnectionRecord, nowMs: number): ConnectionView {
  const bytes = bytesOf(r);
  return {
    id: r.id,
    client: r.clientAddress.includes(':') ? `[${r.clientAddress}]:${r.clientPort}` : `${r.clientAddress}:${r.clientPort}`,
    nodePort: r.nodePort,
    protocol: r.protocol,
    service: r.serviceKey,
    servicePort: r.servicePortKey,
    backend: r.backendKey ?? null,
    state: stateOf(r),
    drainReason: r.drain ?? null,
    startedAt: new Date(r.startedAtMs).toISOString(),
    ageSeconds: Math.round((nowMs - r.startedAtMs) / 100) / 10,
    bytesIn: bytes.in,
    bytesOut: bytes.out,
    attempts: r.attempts,
  };
}
