// One client connection through the proxy:
//   pick -> connect with a timeout -> on failure retry another endpoint (never the same one
//   twice, bounded in attempts and total time) -> relay both ways with backpressure and
//   half-close -> propagate resets.
// The client socket arrives paused (pauseOnConnect), so nothing it sends is read before a
// backend is connected.
//
// Early reset replay: a backend can accept a TCP connection and then reset it before reading
// anything: the kernel resets connections still in a listen backlog when the app closes its
// listener on SIGTERM, and an app that closes a just-accepted socket with unread data resets it
// too. Until the backend's first byte we keep what the client sent (up to a bound); if the
// backend resets (RST, not FIN) before answering, the client's bytes were provably not all
// consumed, so we replay them to another endpoint. A FIN before any byte is passed on as is:
// the app may have processed the request.
import net, { type Socket } from 'node:net';
import type { ConnectFailureReason, DataPlaneEvents } from '../observe/data-plane-events.ts';
import { classifyConnectError } from '../observe/data-plane-events.ts';
import type { Picker } from '../picker/picker.ts';
import type { Route } from '../table/route.ts';
import type { ConnectionRecord, ConnectionTable } from './connection-table.ts';

export interface DialPolicy {
  /** Per-attempt connect timeout (ms). */
  connectTimeoutMs: number;
  /** Attempts per client connection, the first included. */
  maxAttempts: number;
  /** Total time for all attempts (ms); no new attempt starts after it. */
  retryBudgetMs: number;
  /** Close a connection with no traffic either way for this long (ms); 0 disables. */
  idleTimeoutMs: number;
  /** Bytes of client data kept for an early-reset replay; 0 disables the replay. */
  replayBufferBytes?: number;
}

export const DEFAULT_REPLAY_BUFFER_BYTES = 64 * 1024;
/** How long a FIN-without-answer is held back to see whether a reset follows (ms). */
const EARLY_FIN_GRACE_MS = 20;

export interface ConnectionContext {
  readonly nodePort: number;
  /** Looks the route up at each attempt, so a retry sees table changes made meanwhile. */
  readonly currentRoute: () => Route | undefined;
  readonly picker: Picker;
  readonly table: ConnectionTable;
  readonly events: DataPlaneEvents;
  readonly policy: DialPolicy;
  readonly isLocalAddress: (ip: string) => boolean;
  readonly now: () => number;
}

export function handleClientConnection(client: Socket, ctx: ConnectionContext): void {
  const route = ctx.currentRoute();
  if (!route) {
    // The listener is closing (its Service just went away): behave like no endpoints.
    client.resetAndDestroy();
    return;
  }
  new ProxiedConnection(client, route, ctx);
}

class ProxiedConnection {
  readonly #client: Socket;
  readonly #ctx: ConnectionContext;
  readonly #rec: ConnectionRecord;
  readonly #tried = new Set<string>();
  readonly #clientIsLocal: boolean;
  readonly #deadline: number;
  readonly #replayLimit: number;
  #backend: Socket | undefined;
  /** Client bytes sent to the current backend before its first byte; undefined once not replayable. */
  #replay: Buffer[] | undefined = [];
  #replayBytes = 0;
  #clientEnded = false;
  #clientClosed = false;
  #backendClosed = true;
  #opened = false;

  constructor(client: Socket, route: Route, ctx: ConnectionContext) {
    this.#client = client;
    this.#ctx = ctx;
    this.#replayLimit = ctx.policy.replayBufferBytes ?? DEFAULT_REPLAY_BUFFER_BYTES;
    if (this.#replayLimit === 0) this.#replay = undefined;
    const sp = route.servicePort;
    this.#rec = {
      id: ctx.table.nextId(),
      clientAddress: client.remoteAddress ?? '',
      clientPort: client.remotePort ?? 0,
      nodePort: ctx.nodePort,
      protocol: 'TCP',
      serviceKey: sp.serviceKey,
      servicePortKey: sp.key,
      startedAtMs: ctx.now(),
      client,
      backend: undefined,
      backendKey: undefined,
      attempts: 0,
      halfClosed: false,
      drain: undefined,
      drainTimer: undefined,
      reportedBytesIn: 0,
      reportedBytesOut: 0,
    };
    ctx.table.add(this.#rec);
    this.#clientIsLocal = ctx.isLocalAddress(this.#rec.clientAddress);
    this.#deadline = this.#rec.startedAtMs + ctx.policy.retryBudgetMs;

    client.on('data', (chunk: Buffer) => this.#fromClient(chunk));
    client.on('end', () => {
      this.#clientEnded = true;
      this.#rec.halfClosed = true;
      this.#backend?.end();
    });
    client.on('drain', () => this.#backend?.resume());
    // A reset from the client becomes a reset to the backend, not a FIN that looks like success.
    client.on('error', () => this.#backend?.resetAndDestroy());
    client.on('close', () => {
      this.#clientClosed = true;
      const b = this.#backend;
      if (b && !b.destroyed) b.end(() => b.destroy());
      this.#maybeFinish();
    });
    if (ctx.policy.idleTimeoutMs > 0) {
      // Traffic either way is a read or a write on the client socket, so one timer covers both.
      client.setTimeout(ctx.policy.idleTimeoutMs, () => {
        client.destroy();
        this.#backend?.destroy();
      });
    }
    this.#attempt(route);
  }

  #attempt(route: Route): void {
    const ctx = this.#ctx;
    const endpoint = ctx.picker.pick(route, { clientIP: this.#rec.clientAddress, clientIsLocal: this.#clientIsLocal, tried: this.#tried });
    if (!endpoint) {
      if (this.#tried.size === 0) ctx.events.noEndpoints(this.#rec.serviceKey, ctx.nodePort);
      this.#client.resetAndDestroy();
      return;
    }
    this.#tried.add(endpoint.key);
    this.#rec.attempts++;
    const backend = net.connect({ host: endpoint.ip, port: endpoint.port, allowHalfOpen: true, noDelay: true });
    this.#backend = backend;
    this.#backendClosed = false;
    let connected = false;
    let gotData = false;
    let finTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => retryOrReset('timeout'), ctx.policy.connectTimeoutMs);

    const retryOrReset = (reason: ConnectFailureReason) => {
      clearTimeout(timer);
      clearTimeout(finTimer);
      backend.removeAllListeners();
      backend.on('error', noop);
      backend.destroy();
      this.#backend = undefined;
      this.#backendClosed = true;
      ctx.picker.reportConnectFailure(endpoint.key);
      ctx.events.connectFailed(this.#rec, endpoint.key, reason);
      if (this.#clientClosed) return this.#maybeFinish();
      const next = ctx.currentRoute();
      if (!next || this.#rec.attempts >= ctx.policy.maxAttempts || ctx.now() >= this.#deadline) {
        this.#client.resetAndDestroy();
        return;
      }
      ctx.events.connectRetried(this.#rec);
      this.#client.pause(); // hold client data until the next backend is connected
      this.#attempt(next);
    };

    backend.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      ctx.table.attachBackend(this.#rec, endpoint.key, backend);
      if (!this.#opened) {
        this.#opened = true;
        ctx.events.connectionOpened(this.#rec);
      }
      // Replay what the client sent to a backend that reset before answering.
      for (const chunk of this.#replay ?? []) backend.write(chunk);
      if (this.#clientEnded) backend.end();
      this.#client.resume();
    });
    backend.on('data', (chunk: Buffer) => {
      if (!gotData) {
        gotData = true;
        this.#replay = undefined; // the backend has answered: from now on, no replay
        this.#replayBytes = 0;
      }
      if (!this.#client.write(chunk)) backend.pause();
    });
    backend.on('drain', () => this.#client.resume());
    backend.on('end', () => {
      if (!gotData && this.#replay !== undefined) {
        // The backend closed without answering. With nothing sent to it yet, the connection
        // carried nothing: an app that closed a fresh idle connection while shutting down. Try
        // another endpoint, invisibly. If the client's bytes were in flight, a reset follows at
        // once when the app had not read them (then we replay); wait one short moment for it.
        if (this.#replayBytes === 0) return retryOrReset('closed');
        finTimer = setTimeout(() => {
          finTimer = undefined;
          this.#rec.halfClosed = true;
          this.#client.end();
        }, EARLY_FIN_GRACE_MS);
        return;
      }
      this.#rec.halfClosed = true;
      this.#client.end();
    });
    backend.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) return retryOrReset(classifyConnectError(err));
      if (!gotData && this.#replay !== undefined && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return retryOrReset('reset');
      this.#client.resetAndDestroy();
    });
    backend.on('close', (hadError) => {
      if (this.#backend !== backend) return; // replaced by a retry
      this.#backendClosed = true;
      const c = this.#client;
      if (!c.destroyed) {
        if (hadError) c.resetAndDestroy();
        else c.end(() => c.destroy()); // flush what is queued, then close
      }
      this.#maybeFinish();
    });
  }

  #fromClient(chunk: Buffer): void {
    if (this.#replay !== undefined) {
      this.#replayBytes += chunk.length;
      if (this.#replayBytes > this.#replayLimit) this.#replay = undefined;
      else this.#replay.push(chunk);
    }
    const b = this.#backend;
    if (b && !b.connecting) {
      if (!b.write(chunk)) this.#client.pause();
    } else if (this.#replay === undefined) {
      // Data arrived between attempts and cannot be kept for the next backend: give up cleanly.
      this.#client.resetAndDestroy();
    }
  }

  #maybeFinish(): void {
    if (!this.#clientClosed || !this.#backendClosed) return;
    if (this.#ctx.table.remove(this.#rec) && this.#opened) this.#ctx.events.connectionClosed(this.#rec);
  }
}

function noop(): void {}
