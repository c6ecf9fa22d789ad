// One worker process of --workers N: a whole data plane (table, listeners, picker, connection
// table, metrics registry) whose source is the primary's event stream over IPC. Every worker
// binds every NodePort with SO_REUSEPORT, so the kernel spreads new connections over them.
// Workers serve no HTTP: the primary answers /metrics, /healthz and /debug for all of them.
import type { Logger } from 'pino';
import { startProxy, type ProxyOptions, type RunningProxy } from '../proxy.ts';
import type { Source, SourceEventSink } from '../source/events.ts';
import type { FromWorker, ToWorker, Views } from './messages.ts';

export interface WorkerDeps {
  logger: Logger;
  /** The IPC channel to the primary (process in production; anything with the same shape in tests). */
  channel: {
    send(msg: FromWorker): void;
    on(event: 'message', fn: (msg: ToWorker) => void): void;
    on(event: 'disconnect', fn: () => void): void;
  };
  exit: (code: number) => void;
  /** How long open connections may finish when the primary disappears without a stop message. */
  orphanShutdownMs: number;
}

export async function runWorker(opts: ProxyOptions, deps: WorkerDeps): Promise<RunningProxy> {
  const { channel, logger } = deps;
  let sink: SourceEventSink | undefined;
  const source: Source = {
    async start(s) {
      sink = s;
    },
    async stop() {
      sink = undefined;
    },
  };
  const proxy = await startProxy(
    { ...opts, metricsBindAddress: undefined, healthzBindAddress: undefined, adminBindAddress: undefined, reusePort: true },
    {
      source: () => source,
      logger,
      bindFailureReporter: { bindFailed: (service, nodePort, message) => channel.send({ t: 'bindFailed', service, nodePort, message }) },
    },
  );

  let stopping = false;
  const stop = (timeoutMs: number, why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ timeout: timeoutMs, open: proxy.connections.size, why }, 'worker stopping: no new connections; waiting for open ones');
    void proxy.stop(timeoutMs).then(({ remaining }) => {
      logger.info({ closedAtTimeout: remaining }, 'worker stopped');
      deps.exit(0);
    });
  };

  const answer = async (what: keyof Views): Promise<Views[keyof Views]> => {
    switch (what) {
      case 'metrics':
        return proxy.metrics.registry.getMetricsAsJSON();
      case 'connections':
        return proxy.views.connections();
      case 'table':
        return proxy.views.table();
    }
  };

  channel.on('message', (msg) => {
    switch (msg.t) {
      case 'event':
        sink?.(msg.event);
        channel.send({ t: 'ack', seq: msg.seq });
        break;
      case 'request':
        void answer(msg.what).then((body) => channel.send({ t: 'response', id: msg.id, body }));
        break;
      case 'stop':
        stop(msg.timeoutMs, 'asked by the primary');
        break;
    }
  });
  // Without the primary no update can arrive any more: finish what is open and leave.
  channel.on('disconnect', () => stop(deps.orphanShutdownMs, 'the primary process is gone'));
  channel.send({ t: 'ready' });
  return proxy;
}
