// One client connection through the proxy: pick -> connect with a timeout -> on failure retry
// another endpoint (never the same one twice, bounded in attempts and total time) -> pipe both
// ways with backpressure and half-close -> propagate resets. The client socket arrives paused
// (pauseOnConnect), so nothing it sends is read before a backend is connected.
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
}

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
  const sp = route.servicePort;
  const clientAddress = client.remoteAddress ?? '';
  const rec: ConnectionRecord = {
    id: ctx.table.nextId(),
    clientAddress,
    clientPort: client.remotePort ?? 0,
    localAddress: client.localAddress ?? '',
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
  ctx.table.add(rec);
  const tried = new Set<string>();
  const clientIsLocal = ctx.isLocalAddress(clientAddress);
  const deadline = rec.startedAtMs + ctx.policy.retryBudgetMs;
  let pending: Socket | undefined;

  // A client that goes away while we are still connecting: abandon the attempt.
  const onEarlyClose = () => {
    pending?.destroy();
    finish(rec, ctx);
  };
  client.once('close', onEarlyClose);
  client.on('error', noop); // errors while paused surface as 'close'; handled there.

  const attempt = (r: Route) => {
    const endpoint = ctx.picker.pick(r, { clientIP: clientAddress, clientIsLocal, tried });
    if (!endpoint) {
      if (tried.size === 0) ctx.events.noEndpoints(sp.serviceKey, ctx.nodePort);
      client.resetAndDestroy();
      return;
    }
    tried.add(endpoint.key);
    rec.attempts++;
    const backend = net.connect({ host: endpoint.ip, port: endpoint.port, allowHalfOpen: true, noDelay: true });
    pending = backend;
    const timer = setTimeout(() => fail('timeout'), ctx.policy.connectTimeoutMs);
    const onError = (err: NodeJS.ErrnoException) => fail(classifyConnectError(err));
    backend.once('error', onError);
    backend.once('connect', () => {
      clearTimeout(timer);
      backend.off('error', onError);
      pending = undefined;
      client.off('close', onEarlyClose);
      ctx.table.attachBackend(rec, endpoint.key, backend);
      ctx.events.connectionOpened(rec);
      pipe(rec, client, backend, ctx);
    });

    function fail(reason: ConnectFailureReason) {
      clearTimeout(timer);
      backend.off('error', onError);
      backend.on('error', noop);
      backend.destroy();
      pending = undefined;
      ctx.picker.reportConnectFailure(endpoint!.key);
      ctx.events.connectFailed(rec, endpoint!.key, reason);
      if (client.destroyed) return;
      const next = ctx.currentRoute();
      if (!next || rec.attempts >= ctx.policy.maxAttempts || ctx.now() >= deadline) {
        client.resetAndDestroy();
        return;
      }
      ctx.events.connectRetried(rec);
      attempt(next);
    }
  };
  attempt(route);
}

function pipe(rec: ConnectionRecord, client: Socket, backend: Socket, ctx: ConnectionContext): void {
  client.off('error', noop);
  let closed = 0;
  const onClose = () => {
    if (++closed === 2) finish(rec, ctx);
  };
  // A reset on one side becomes a reset on the other (not a FIN, which would look like success).
  client.on('error', () => backend.resetAndDestroy());
  backend.on('error', () => client.resetAndDestroy());
  client.on('close', (hadError) => {
    if (!backend.destroyed) hadError ? backend.resetAndDestroy() : backend.destroy();
    onClose();
  });
  backend.on('close', (hadError) => {
    if (!client.destroyed) hadError ? client.resetAndDestroy() : client.destroy();
    onClose();
  });
  // Half-close: pipe() ends the destination when the source ends, and allowHalfOpen keeps the
  // other direction flowing until it ends too.
  const markHalf = () => {
    rec.halfClosed = true;
  };
  client.once('end', markHalf);
  backend.once('end', markHalf);
  if (ctx.policy.idleTimeoutMs > 0) {
    // Activity in either direction is a read or write on the client socket, so one timer covers both.
    client.setTimeout(ctx.policy.idleTimeoutMs, () => {
      client.destroy();
      backend.destroy();
    });
  }
  client.pipe(backend);
  backend.pipe(client);
  client.resume();
}

function finish(rec: ConnectionRecord, ctx: ConnectionContext): void {
  if (ctx.table.remove(rec) && rec.backend) ctx.events.connectionClosed(rec);
}

function noop(): void {}
