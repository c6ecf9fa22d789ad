// Normalises a v1 Service into the ServicePort records the table works with
// (kube-proxy-semantics.md, sections 1, 3, 4). Pure functions; the input is never mutated.
import { badObject } from '../errors.ts';
import type { ServiceObject } from '../source/events.ts';
import { objectRef } from '../source/events.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type TrafficPolicy = 'Cluster' | 'Local';

/** Default and bounds of sessionAffinityConfig.clientIP.timeoutSeconds (semantics doc, item 23). */
export const DEFAULT_AFFINITY_SECONDS = 10800;

export interface ServicePortInfo {
  /** `namespace/name:portName/protocol`, kube-proxy's ServicePortName. */
  readonly key: string;
  readonly serviceKey: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly nodePort: number;
  readonly externalTrafficPolicy: TrafficPolicy;
  /** ClientIP affinity timeout in seconds, or 0 for no affinity. */
  readonly affinitySeconds: number;
}

/** Why a whole Service yields no ports (not an error: kube-proxy's ShouldSkipService). */
export type SkipReason = 'ExternalName' | 'headless' | 'no-nodeports';

export type ServiceParse =
  | { kind: 'ports'; ports: readonly ServicePortInfo[]; warnings: readonly string[] }
  | { kind: 'skipped'; reason: SkipReason };

export function serviceKeyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * Reads the ports of a Service that need a NodePort listener. Throws a NPP_BAD_OBJECT error
 * naming the Service when the object as a whole is unusable (no name); a bad single port is
 * skipped with a warning so the rest of the Service keeps working.
 */
export function parseService(svc: ServiceObject): ServiceParse {
  const ref = objectRef('Service', svc);
  const namespace = svc.metadata?.namespace;
  const name = svc.metadata?.name;
  if (!name || !namespace) throw badObject(ref, 'metadata.name and metadata.namespace are required');
  const spec = svc.spec;
  if (!spec) throw badObject(ref, 'spec is missing');
  if (spec.type === 'ExternalName') return { kind: 'skipped', reason: 'ExternalName' };
  if (!spec.clusterIP || spec.clusterIP === 'None') return { kind: 'skipped', reason: 'headless' };

  const hasNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const externalTrafficPolicy: TrafficPolicy = spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster';
  const affinitySeconds =
    spec.sessionAffinity === 'ClientIP'
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS)
      : 0;
  const serviceKey = serviceKeyOf(namespace, name);
  const ports: ServicePortInfo[] = [];
  const warnings: string[] = [];
  for (const [i, p] of (spec.ports ?? []).entries()) {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    const portName = p.name ?? '';
    if (!hasNodePorts || p.nodePort === undefined || p.nodePort === null) continue;
    if (!Number.isInteger(p.nodePort) || p.nodePort < 1 || p.nodePort > 65535) {
      warnings.push(`${ref}: spec.ports[${i}].nodePort ${JSON.stringify(p.nodePort)} is not a port number; port skipped`);
      continue;
    }
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      warnings.push(`${ref}: spec.ports[${i}].protocol ${JSON.stringify(p.protocol)} is unknown; port skipped`);
      continue;
    }
    ports.push(
      Object.freeze({
        key: `${serviceKey}:${portName}/${protocol}`,
        serviceKey,
        namespace,
        name,
        uid: svc.metadata?.uid,
        portName,
        protocol,
        port: p.port,
        nodePort: p.nodePort,
        externalTrafficPolicy,
        affinitySeconds,
      }),
    );
  }
  if (ports.length === 0 && warnings.length === 0) return { kind: 'skipped', reason: 'no-nodeports' };
  return { kind: 'ports', ports, warnings };
}
