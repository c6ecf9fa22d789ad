// Namespaces, Services and EndpointSlices through the real API, plus waits on what the
// EndpointSlice controller publishes. Small wrappers: the tests read like the scenario.
import type { Json, KubeApi } from './kube-api.ts';
import { waitFor } from './proc.ts';

export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';

export async function ensureNamespace(api: KubeApi, name: string): Promise<void> {
  if (await api.getOptional(`/api/v1/namespaces/${name}`)) return;
  await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export interface ServiceOptions {
  namespace: string;
  name: string;
  nodePort: number;
  selector: Record<string, string>;
  /** Set to our proxy's name to hand the Service to it; omit for kube-proxy. */
  proxyName?: string;
  port?: number;
  targetPort?: number;
  labels?: Record<string, string>;
}

/** Creates a NodePort Service with an explicit nodePort. */
export async function createNodePortService(api: KubeApi, o: ServiceOptions): Promise<Json> {
  const labels = { ...o.labels, ...(o.proxyName ? { [LABEL_SERVICE_PROXY_NAME]: o.proxyName } : {}) };
  return api.post(`/api/v1/namespaces/${o.namespace}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name, labels },
    spec: {
      type: 'NodePort',
      selector: o.selector,
      ports: [{ name: 'http', protocol: 'TCP', port: o.port ?? 80, targetPort: o.targetPort ?? 8080, nodePort: o.nodePort }],
    },
  });
}

export interface EndpointView {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** The endpoints of a Service over all its EndpointSlices, as the EndpointSlice controller published them. */
export async function endpointsOf(api: KubeApi, namespace: string, service: string): Promise<EndpointView[]> {
  const list = await api.get(
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
  );
  const out: EndpointView[] = [];
  for (const slice of list.items as Json[]) {
    for (const ep of (slice.endpoints ?? []) as Json[]) {
      out.push({
        ip: ep.addresses[0],
        ready: ep.conditions?.ready === true,
        serving: ep.conditions?.serving === true,
        terminating: ep.conditions?.terminating === true,
      });
    }
  }
  return out;
}

/** Waits until the published endpoints satisfy `pred`; returns them. */
export async function waitEndpoints(
  api: KubeApi,
  namespace: string,
  service: string,
  what: string,
  pred: (eps: EndpointView[]) => boolean,
  timeoutMs = 30_000,
): Promise<EndpointView[]> {
  return waitFor(`${namespace}/${service} endpoints: ${what}`, async () => {
    const eps = await endpointsOf(api, namespace, service);
    return pred(eps) ? eps : undefined;
  }, { timeoutMs, intervalMs: 100 });
}
