// Which endpoint set a new connection may use: the traffic policy part of picking.
import type { Endpoint } from '../table/endpoint.ts';
import type { Route } from '../table/route.ts';

/**
 * externalTrafficPolicy: Local uses the local endpoints, except for callers on this node, which
 * kube-proxy short-circuits to the cluster set (semantics item 18) so the Service still works
 * for them when the node has no local endpoint.
 */
export function candidateEndpoints(route: Route, clientIsLocal: boolean): readonly Endpoint[] {
  if (route.servicePort.externalTrafficPolicy === 'Local' && !clientIsLocal) return route.localEndpoints;
  return route.clusterEndpoints;
}
