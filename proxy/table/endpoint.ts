// The endpoint record of a route: one backend `ip:port` of one service port, with the
// conditions kube-proxy reads. Frozen: routes are immutable snapshots.
export interface Endpoint {
  /** `ip:port` (IPv6 in brackets), unique within a route; also the connection table's index key. */
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zoneHints: readonly string[] | undefined;
  /** nodeName equals this proxy's node name (used by externalTrafficPolicy: Local). */
  readonly isLocal: boolean;
}

export function endpointKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
