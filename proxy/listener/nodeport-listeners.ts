// One TCP server per NodePort per accepted local address. Reconciled after each table change:
// a new route opens its listeners, a removed route closes them (connections already accepted
// keep flowing). A bind failure (port in use, address gone) is reported with the Service and
// the reason, retried in the background, and never affects the other Services.
import net, { type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ServicePortInfo } from '../model/service-port.ts';
import type { TableChange } from '../table/backend-table.ts';

export interface ListenerEvents {
  opened(sp: ServicePortInfo, address: string): void;
  closed(sp: ServicePortInfo, address: string): void;
  bindFailed(sp: ServicePortInfo, address: string, err: NodeJS.ErrnoException): void;
}

export interface NodePortListenersOptions {
  bindAddresses: () => string[];
  onConnection: (client: Socket, nodePort: number) => void;
  events: ListenerEvents;
  logger: Logger;
  /** SO_REUSEPORT, so a new proxy instance can bind beside the old one during a rolling update. */
  reusePort: boolean;
  /** Delay before retrying a failed bind (ms). */
  bindRetryMs?: number;
}

interface Bound {
  sp: ServicePortInfo;
  address: string;
  server: Server | undefined;
  retry: NodeJS.Timeout | undefined;
  closed: boolean;
}

export class NodePortListeners {
  readonly #opts: NodePortListenersOptions;
  /** route key -> the listeners of that NodePort (one per address). */
  readonly #byRoute = new Map<string, Bound[]>();
  #accepting = false;
  readonly #pendingRoutes = new Map<string, ServicePortInfo>();

  constructor(opts: NodePortListenersOptions) {
    this.#opts = opts;
  }

  /** Opens the listeners held back until the source's first complete list. */
  startAccepting(): void {
    if (this.#accepting) return;
    this.#accepting = true;
    for (const [rk, sp] of this.#pendingRoutes) this.#open(rk, sp);
    this.#pendingRoutes.clear();
  }

  apply(change: TableChange): void {
    for (const [rk, route] of change.before) {
      const next = change.after.get(rk);
      if (!next || next.servicePort.nodePort !== route.servicePort.nodePort) this.#close(rk);
    }
    for (const [rk, route] of change.after) {
      if (this.#byRoute.has(rk)) {
        // Same port: keep the sockets, refresh the Service metadata used in logs.
        for (const b of this.#byRoute.get(rk)!) b.sp = route.servicePort;
        continue;
      }
      if (!this.#accepting) {
        this.#pendingRoutes.set(rk, route.servicePort);
        continue;
      }
      this.#open(rk, route.servicePort);
    }
    for (const rk of change.before.keys()) if (!change.after.has(rk)) this.#pendingRoutes.delete(rk);
  }

  /** Listening addresses per route key, for /debug/table. */
  listening(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [rk, bs] of this.#byRoute) out[rk] = bs.filter((b) => b.server?.listening).map((b) => b.address);
    return out;
  }

  /** Stops accepting everywhere (graceful shutdown); accepted connections are not touched. */
  async closeAll(): Promise<void> {
    const all = [...this.#byRoute.keys()];
    await Promise.all(all.map((rk) => this.#close(rk)));
  }

  #open(rk: string, sp: ServicePortInfo): void {
    const bound: Bound[] = this.#opts.bindAddresses().map((address) => ({ sp, address, server: undefined, retry: undefined, closed: false }));
    this.#byRoute.set(rk, bound);
    for (const b of bound) this.#bind(b);
  }

  #bind(b: Bound): void {
    const nodePort = b.sp.nodePort;
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#opts.onConnection(socket, nodePort),
    );
    b.server = server;
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (b.closed) return;
      b.server = undefined;
      this.#opts.events.bindFailed(b.sp, b.address, err);
      b.retry = setTimeout(() => {
        b.retry = undefined;
        if (!b.closed) this.#bind(b);
      }, this.#opts.bindRetryMs ?? 5000);
      b.retry.unref();
    });
    server.listen({ host: b.address, port: nodePort, reusePort: this.#opts.reusePort, backlog: 4096 }, () => {
      if (b.closed) {
        server.close();
        return;
      }
      this.#opts.events.opened(b.sp, b.address);
    });
  }

  #close(rk: string): Promise<void> {
    const bound = this.#byRoute.get(rk);
    if (!bound) return Promise.resolve();
    this.#byRoute.delete(rk);
    return Promise.all(
      bound.map(
        (b) =>
          new Promise<void>((resolve) => {
            b.closed = true;
            if (b.retry) clearTimeout(b.retry);
            const server = b.server;
            if (!server?.listening) return resolve();
            // server.close() only stops accepting; it resolves when all accepted sockets end,
            // which we do not wait for here: open connections drain on their own.
            server.close();
            this.#opts.events.closed(b.sp, b.address);
            resolve();
          }),
      ),
    ).then(() => undefined);
  }
}
