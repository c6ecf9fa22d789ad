// What the data plane publishes. The hot path only calls these; metrics, logs and debug views
// implement them. A plain interface passed in (rather than node:diagnostics_channel, whose
// channels are process-global) keeps several proxies in one process (tests) apart.
import type { ConnectionRecord } from '../connection/connection-table.ts';

/**
 * refused/unreachable/timeout: the TCP connect failed. reset: the backend reset before answering.
 * closed: the backend closed a connection before either side sent a byte.
 */
export type ConnectFailureReason = 'refused' | 'unreachable' | 'timeout' | 'reset' | 'closed' | 'other';

export interface DataPlaneEvents {
  /** The backend connect succeeded; the connection is now piping. */
  connectionOpened(rec: ConnectionRecord): void;
  /** Both sockets are closed; `rec` still has its final byte counts. */
  connectionClosed(rec: ConnectionRecord): void;
  connectFailed(rec: ConnectionRecord, endpointKey: string, reason: ConnectFailureReason): void;
  connectRetried(rec: ConnectionRecord): void;
  /** The client was reset because no usable endpoint was left (kube-proxy's REJECT). */
  noEndpoints(serviceKey: string, nodePort: number): void;
  /** Closed by --drain-timeout after its endpoint left the slices. */
  connectionDrained(rec: ConnectionRecord): void;
}

export function classifyConnectError(err: NodeJS.ErrnoException | undefined): ConnectFailureReason {
  switch (err?.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return 'unreachable';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return 'other';
  }
}
