// The contract between a source (objects file, Kubernetes API) and the rest of the proxy.
// A source emits typed add/update/delete events for Services, EndpointSlices and this node's
// Node object, and nothing else: no filtering beyond label selection, no interpretation.
// Everything after the source is one code path, whichever source is used.
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';

export type ServiceObject = V1Service;
export type EndpointSliceObject = V1EndpointSlice;
export type NodeObject = V1Node;

export type SourceEvent =
  | { type: 'upsert'; kind: 'Service'; object: ServiceObject }
  | { type: 'delete'; kind: 'Service'; object: ServiceObject }
  | { type: 'upsert'; kind: 'EndpointSlice'; object: EndpointSliceObject }
  | { type: 'delete'; kind: 'EndpointSlice'; object: EndpointSliceObject }
  | { type: 'upsert'; kind: 'Node'; object: NodeObject }
  | { type: 'delete'; kind: 'Node'; object: NodeObject }
  /** The first complete list of every kind has been delivered: listeners may open. */
  | { type: 'synced' };

export type SourceEventSink = (event: SourceEvent) => void;

export interface Source {
  /** Starts delivering events to `sink`. Resolves once started (not necessarily synced). */
  start(sink: SourceEventSink): Promise<void>;
  /** Stops watching. The last delivered state stays in effect in the table. */
  stop(): Promise<void>;
}

/** Kubernetes' `kind/namespace/name`, the identity used to diff states and to name objects in logs. */
export function objectRef(kind: string, obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${kind}/${ns}/${obj.metadata?.name ?? '?'}` : `${kind}/${obj.metadata?.name ?? '?'}`;
}
