// Which Services and EndpointSlices this proxy owns (kube-proxy-semantics.md, section 1).
// kube-proxy watches objects WITHOUT the service-proxy-name label; an alternative proxy named X
// watches `service.kubernetes.io/service-proxy-name=X,!service.kubernetes.io/headless`. The
// EndpointSlice controller copies the Service's labels onto its slices, so the same selector
// works for both kinds.
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

/** The server-side label selector (the same string is used for Services and EndpointSlices). */
export function labelSelectorFor(proxyName: string): string {
  return `${LABEL_SERVICE_PROXY_NAME}=${proxyName},!${LABEL_HEADLESS}`;
}

/** The client-side equivalent of {@link labelSelectorFor}, for sources that cannot filter on a server. */
export function isSelected(labels: Record<string, string> | undefined, proxyName: string): boolean {
  if (!labels) return false;
  return labels[LABEL_SERVICE_PROXY_NAME] === proxyName && !(LABEL_HEADLESS in labels);
}
