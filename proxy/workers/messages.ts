// The messages between the primary process and its workers (--workers N), over the IPC channel
// of child_process.fork. The primary owns the source and the HTTP servers; each worker owns a
// full data plane (table, listeners, picker, connections) fed with the primary's events.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ConnectionView } from '../connection/connection-table.ts';
import type { SourceEvent } from '../source/events.ts';
import type { TableView } from '../proxy.ts';

/** What the primary asks a worker for, and what the worker answers. */
export interface Views {
  metrics: MetricObjectWithValues<MetricValue<string>>[];
  connections: ConnectionView[];
  table: TableView[];
}

export type ToWorker =
  /** A source event; `seq` is acknowledged once the worker's table has applied it. */
  | { t: 'event'; seq: number; event: SourceEvent }
  | { t: 'request'; id: number; what: keyof Views }
  /** Graceful stop: stop accepting, let connections finish for `timeoutMs`, exit 0. */
  | { t: 'stop'; timeoutMs: number };

export type FromWorker =
  /** The worker's proxy is up and waits for the current state. */
  | { t: 'ready' }
  | { t: 'ack'; seq: number }
  | { t: 'response'; id: number; body: Views[keyof Views] }
  | { t: 'bindFailed'; service: { namespace: string; name: string; uid?: string }; nodePort: number; message: string };

/** The worker's number (1..N) is passed in the environment; absent in a single process. */
export const WORKER_ID_ENV = 'NODEPORT_PROXY_WORKER_ID';
