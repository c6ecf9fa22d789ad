// Drain semantics, applied after every table change: connections to an endpoint that is no
// longer usable are marked draining (and keep flowing: kube-proxy never clears TCP flows);
// once the endpoint has left the slices, --drain-timeout (if set) closes them after that time.
import type { TableChange } from '../table/backend-table.ts';
import type { Route } from '../table/route.ts';
import type { ConnectionRecord, ConnectionTable, DrainReason } from './connection-table.ts';

export interface DrainOptions {
  table: ConnectionTable;
  /** Close connections to removed endpoints after this long (ms); 0 = let them finish. */
  drainTimeoutMs: number;
  onDrained: (rec: ConnectionRecord) => void;
}

export function applyDrain(change: TableChange, opts: DrainOptions): void {
  for (const [rk, before] of change.before) {
    const after = change.after.get(rk);
    const keys = new Set(before.endpoints.map((e) => e.key));
    if (after) for (const e of after.endpoints) keys.add(e.key);
    for (const key of keys) {
      const conns = opts.table.forBackend(key);
      if (conns.size === 0) continue;
      const reason = drainReason(after, key);
      for (const rec of conns) {
        if (rec.servicePortKey === before.servicePort.key) setDrain(rec, reason, opts);
      }
    }
  }
  // Endpoints of routes that only exist after (a new or re-keyed service port) may be ready again.
  for (const [rk, after] of change.after) {
    if (change.before.has(rk)) continue;
    for (const e of after.endpoints) {
      for (const rec of opts.table.forBackend(e.key)) {
        if (rec.servicePortKey === after.servicePort.key) setDrain(rec, drainReason(after, e.key), opts);
      }
    }
  }
}

function drainReason(after: Route | undefined, key: string): DrainReason | undefined {
  if (!after) return 'removed';
  const ep = after.endpoints.find((e) => e.key === key);
  if (!ep) return 'removed';
  const usable = after.clusterEndpoints.includes(ep) || after.localEndpoints.includes(ep);
  return usable ? undefined : 'not-ready';
}

function setDrain(rec: ConnectionRecord, reason: DrainReason | undefined, opts: DrainOptions): void {
  if (rec.drain === reason) return;
  rec.drain = reason;
  if (rec.drainTimer) {
    clearTimeout(rec.drainTimer);
    rec.drainTimer = undefined;
  }
  if (reason === 'removed' && opts.drainTimeoutMs > 0) {
    rec.drainTimer = setTimeout(() => {
      rec.drainTimer = undefined;
      opts.onDrained(rec);
      rec.client.destroy();
      rec.backend?.destroy();
    }, opts.drainTimeoutMs);
    rec.drainTimer.unref();
  }
}
