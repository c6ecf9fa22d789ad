// Small builders for Kubernetes API objects (Service, EndpointSlice, Node) in the exact API
// schema, and an atomic writer for objects files. Used by unit tests, integration tests and the
// demo.
import { renameSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export const PROXY_LABEL = 'service.kubernetes.io/service-proxy-name';

export interface ServiceSpec {
  name: string;
  namespace?: string;
  nodePort: number;
  portName?: string;
  protocol?: string;
  type?: string;
  proxyName?: string | null;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  clientIPAffinitySeconds?: number;
  extraPorts?: { name: string; port: number; nodePort: number; protocol?: string }[];
  /** Defaults to 10.96.0.10; '' or 'None' make the Service headless. */
  clusterIP?: string;
  /** sessionAffinity: ClientIP without sessionAffinityConfig (the default timeout applies). */
  clientIPAffinityNoConfig?: boolean;
  /** Replaces spec.ports entirely (raw API shape), for ports without a nodePort and bad values. */
  ports?: Record<string, unknown>[];
}

export function service(s: ServiceSpec): any {
  const labels: Record<string, string> = {};
  if (s.proxyName !== null) labels[PROXY_LABEL] = s.proxyName ?? 'nodeport-proxy';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? 'default', uid: `uid-${s.name}`, labels },
    spec: {
      type: s.type ?? 'NodePort',
      clusterIP: s.clusterIP ?? '10.96.0.10',
      externalTrafficPolicy: s.externalTrafficPolicy ?? 'Cluster',
      ...(s.clientIPAffinitySeconds ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.clientIPAffinitySeconds } } } : {}),
      ...(s.clientIPAffinityNoConfig ? { sessionAffinity: 'ClientIP' } : {}),
      ports: s.ports ?? [
        { name: s.portName ?? 'http', protocol: s.protocol ?? 'TCP', port: 80, targetPort: 8080, nodePort: s.nodePort },
        ...(s.extraPorts ?? []).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port, nodePort: p.nodePort })),
      ],
    },
  };
}

export interface EndpointSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  nodeName?: string;
  zones?: string[];
  /** Leave conditions out entirely (nil = ready/serving per kube-proxy). */
  noConditions?: boolean;
  /** Exact conditions object (fields left out are nil), instead of the defaults above. */
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  /** Exact addresses list instead of [ip] (e.g. [] or several). */
  addresses?: string[];
}

export interface SliceSpec {
  service: string;
  name?: string;
  namespace?: string;
  port: number;
  portName?: string;
  protocol?: string;
  addressType?: string;
  proxyName?: string | null;
  endpoints: EndpointSpec[];
  triggerTime?: string;
  /** Replaces `ports` entirely (raw API shape), e.g. several ports, a nil name or a zero port. */
  ports?: { name?: string | null; port?: number | null; protocol?: string }[];
}

export function endpointSlice(s: SliceSpec): any {
  const labels: Record<string, string> = { 'kubernetes.io/service-name': s.service };
  if (s.proxyName !== null) labels[PROXY_LABEL] = s.proxyName ?? 'nodeport-proxy';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: s.name ?? `${s.service}-abcde`,
      namespace: s.namespace ?? 'default',
      labels,
      ...(s.triggerTime ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': s.triggerTime } } : {}),
    },
    addressType: s.addressType ?? 'IPv4',
    ports: s.ports ?? [{ name: s.portName ?? 'http', protocol: s.protocol ?? 'TCP', port: s.port }],
    endpoints: s.endpoints.map((e) => ({
      addresses: e.addresses ?? [e.ip],
      ...(e.conditions
        ? { conditions: e.conditions }
        : e.noConditions
          ? {}
          : { conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false } }),
      ...(e.nodeName ? { nodeName: e.nodeName } : {}),
      ...(e.zones ? { hints: { forZones: e.zones.map((name) => ({ name })) } } : {}),
    })),
  };
}

export function node(name: string, labels: Record<string, string> = {}, extra: { deleting?: boolean; taints?: { key: string; effect: string }[] } = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels, ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: extra.taints ? { taints: extra.taints } : {},
  };
}

/** Writes a multi-document YAML file atomically (write + rename), as editors and kubectl do. */
export function writeObjectsFile(file: string, objects: unknown[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, objects.map((o) => stringify(o)).join('---\n'));
  renameSync(tmp, file);
}
