// A route: everything the data plane needs for one (protocol, nodePort). Immutable; a change to
// the service builds a new Route and swaps it in, so a connection being accepted always sees one
// consistent snapshot and never a half-applied update.
import type { ServicePortInfo } from '../model/service-port.ts';
import type { Endpoint } from './endpoint.ts';

export interface Route {
  readonly servicePort: ServicePortInfo;
  /** All endpoints of this service port, merged across slices, de-duplicated, sorted by key. */
  readonly endpoints: readonly Endpoint[];
  /** Usable for new connections under externalTrafficPolicy: Cluster. */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Usable for new connections under externalTrafficPolicy: Local (from off-node clients). */
  readonly localEndpoints: readonly Endpoint[];
  /** Increases with every rebuild of this route; lets observers tell snapshots apart. */
  readonly generation: number;
}

export function routeKey(protocol: string, nodePort: number): string {
  return `${protocol}/${nodePort}`;
}
