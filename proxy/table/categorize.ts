// kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go; semantics doc items 12-14), as one
// pure function: which endpoints new external connections may use.
import type { Endpoint } from './endpoint.ts';

export interface Categorized {
  /** For externalTrafficPolicy: Cluster (and node-local callers under Local). */
  readonly cluster: readonly Endpoint[];
  /** For externalTrafficPolicy: Local: local ready, else local serving+terminating. */
  readonly local: readonly Endpoint[];
  /** Any endpoint anywhere is ready, or serving and terminating. */
  readonly hasAnyEndpoints: boolean;
}

export function categorizeEndpoints(endpoints: readonly Endpoint[], nodeZone: string | undefined): Categorized {
  const ready = endpoints.filter((e) => e.ready);
  const servingTerminating = endpoints.filter((e) => e.serving && e.terminating);

  let cluster: readonly Endpoint[] = filterByZoneHints(ready, nodeZone);
  // KEP-1669: with no ready endpoint, fall back to serving+terminating ones, ignoring topology.
  if (cluster.length === 0) cluster = servingTerminating;

  let local: readonly Endpoint[] = ready.filter((e) => e.isLocal);
  if (local.length === 0) local = servingTerminating.filter((e) => e.isLocal);

  return {
    cluster: Object.freeze(cluster),
    local: Object.freeze(local),
    hasAnyEndpoints: ready.length > 0 || servingTerminating.length > 0,
  };
}

/**
 * PreferSameZone: used only when EVERY ready endpoint carries zone hints and at least one names
 * this node's zone; otherwise all ready endpoints are used (a partial hint set is ignored, as in
 * kube-proxy, so that a half-updated slice never concentrates traffic).
 */
function filterByZoneHints(ready: readonly Endpoint[], nodeZone: string | undefined): readonly Endpoint[] {
  if (!nodeZone || ready.length === 0) return ready;
  if (!ready.every((e) => e.zoneHints && e.zoneHints.length > 0)) return ready;
  const inZone = ready.filter((e) => e.zoneHints!.includes(nodeZone));
  return inZone.length > 0 ? inZone : ready;
}
