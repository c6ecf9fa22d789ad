// Kubernetes Events on a Service when this proxy cannot bind one of its NodePorts, so that
// `kubectl describe service` shows why the port is dead on a node (kube-proxy does the same for
// FailedToStartServiceHealthcheck). The proxy retries binds, so the same failure repeats:
// at most one Event per Service per `minIntervalMs`, remembered in a TTL cache.
//
// core/v1 Events rather than events.k8s.io/v1: the latter requires `eventTime` as a MicroTime
// (exactly six fractional digits), and client-node serialises Dates with three, which the API
// server rejects; core/v1's firstTimestamp/lastTimestamp are plain RFC 3339 and show up in
// `kubectl describe` and `kubectl events` just the same.
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { describeError } from '../source/kubernetes.ts';

export const REASON_FAILED_TO_BIND_NODE_PORT = 'FailedToBindNodePort';
export const REPORTING_CONTROLLER = 'nodeport-proxy';

export interface ServiceRef {
  namespace: string;
  name: string;
  uid?: string;
}

export interface ServiceEventRecorder {
  /** Records (rate-limited, fire-and-forget) that `nodePort` of `service` could not be bound on this node. */
  bindFailed(service: ServiceRef, nodePort: number, message: string): void;
  /** Forgets the rate-limit state; posts already in flight finish on their own. */
  stop(): void;
}

export interface ServiceEventRecorderOptions {
  kubeConfig: KubeConfig;
  /** Node name: the Event's reportingInstance and source.host. */
  nodeName: string;
  /** source.component of the Event, e.g. "nodeport-proxy". */
  component: string;
  logger: Logger;
  /** Wall clock in ms since the epoch: Event timestamps and the rate-limit window. */
  clock?: () => number;
  /** Minimum time between two Events for the same Service. Default 5 minutes. */
  minIntervalMs?: number;
  /** Upper bound of Services remembered for rate limiting. Default 10000. */
  maxTrackedServices?: number;
}

export function createServiceEventRecorder(options: ServiceEventRecorderOptions): ServiceEventRecorder {
  const clock = options.clock ?? Date.now;
  const logger = options.logger.child({ component: 'service-events' });
  const minIntervalMs = options.minIntervalMs ?? 5 * 60_000;
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  let stopped = false;
  // Keyed by namespace/name: a Service re-created under the same name within the window is still
  // the same thing to a reader of `kubectl describe`.
  const recent = new LRUCache<string, true>({
    max: options.maxTrackedServices ?? 10_000,
    ttl: minIntervalMs,
    // The injected clock drives expiry, and uncached so that tests can move it freely.
    perf: { now: clock },
    ttlResolution: 0,
  });

  return {
    bindFailed(service, nodePort, message) {
      if (stopped) return;
      const key = `${service.namespace}/${service.name}`;
      if (recent.has(key)) {
        logger.debug({ service: key, nodePort }, `not recording another ${REASON_FAILED_TO_BIND_NODE_PORT} event for Service ${key} yet`);
        return;
      }
      recent.set(key, true);
      const now = new Date(clock());
      const body: CoreV1Event = {
        metadata: {
          // client-go's naming: <object name>.<unix nanoseconds in hex>, unique enough per Service.
          name: `${service.name}.${(BigInt(now.getTime()) * 1_000_000n).toString(16)}`,
          namespace: service.namespace,
        },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Service',
          namespace: service.namespace,
          name: service.name,
          ...(service.uid ? { uid: service.uid } : {}),
        },
        type: 'Warning',
        reason: REASON_FAILED_TO_BIND_NODE_PORT,
        action: 'Bind',
        message: `node ${options.nodeName}: cannot bind NodePort ${nodePort}: ${message}`,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        source: { component: options.component, host: options.nodeName },
        reportingComponent: REPORTING_CONTROLLER,
        reportingInstance: options.nodeName,
      };
      core.createNamespacedEvent({ namespace: service.namespace, body }).then(
        () => logger.debug({ service: key, nodePort }, `recorded ${REASON_FAILED_TO_BIND_NODE_PORT} event on Service ${key}`),
        (err: unknown) =>
          // Events are best effort: failing to post one must never affect the data path.
          logger.warn(
            { service: key, nodePort, error: describeError(err) },
            `could not record ${REASON_FAILED_TO_BIND_NODE_PORT} event on Service ${key}: ${describeError(err)}`,
          ),
      );
    },
    stop() {
      stopped = true;
      recent.clear();
    },
  };
}
