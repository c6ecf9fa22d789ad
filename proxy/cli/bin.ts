#!/usr/bin/env node
// The `nodeport-proxy` command: parses flags, builds the source, starts the proxy, and handles
// SIGTERM/SIGINT as a graceful shutdown (stop accepting, let connections finish, exit 0).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProxyError } from '../errors.ts';
import { createLogger } from '../observe/logger.ts';
import type { Logger } from 'pino';
import { fork } from 'node:child_process';
import { startProxy, type BindFailureReporter, type ProxyDeps, type ProxyOptions } from '../proxy.ts';
import { WORKER_ID_ENV } from '../workers/messages.ts';
import { startPrimary } from '../workers/primary.ts';
import { runWorker } from '../workers/worker.ts';
import { createObjectsFileSource } from '../source/objects-file.ts';
import { connectionsCommand } from './connections-command.ts';
import { helpText, parseFlags, type Flags } from './flags.ts';

type KubeConfigLike = import('@kubernetes/client-node').KubeConfig;

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'connections') {
    await connectionsCommand(argv.slice(1), (l) => process.stdout.write(`${l}\n`));
    return 0;
  }
  const flags = parseFlags(argv);
  if (flags.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`nodeport-proxy ${pkg.version}\n`);
    return 0;
  }
  const logger = createLogger(flags.logLevel);
  const workerId = Number(process.env[WORKER_ID_ENV] ?? 0);
  if (workerId > 0) return runAsWorker(flags, workerId, logger);
  const { source, reporter, stopReporter } = await buildSource(flags, logger);
  let stop: (timeoutMs: number) => Promise<Record<string, number>>;
  if (flags.workers > 1) {
    const primary = await startPrimary(
      {
        workers: flags.workers,
        metricsBindAddress: flags.metricsBindAddress,
        healthzBindAddress: flags.healthzBindAddress,
        adminBindAddress: flags.adminBindAddress,
        healthTimeoutMs: flags.healthTimeoutMs,
        reusePort: flags.reusePort,
      },
      {
        source,
        logger,
        bindFailureReporter: reporter,
        // The same program with the same flags; the environment makes it a worker.
        spawnWorker: (id) => fork(process.argv[1]!, process.argv.slice(2), { env: { ...process.env, [WORKER_ID_ENV]: String(id) } }),
      },
    );
    stop = async (timeoutMs) => {
      await primary.stop(timeoutMs);
      return {}; // each worker logs its own counts
    };
  } else {
    const proxy = await startProxy(proxyOptions(flags), { source, logger, bindFailureReporter: reporter });
    stop = async (timeoutMs) => {
      const open = proxy.connections.size;
      const { remaining } = await proxy.stop(timeoutMs);
      return { open, closedAtTimeout: remaining };
    };
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, timeout: flags.shutdownTimeoutMs }, 'shutting down: no new connections; waiting for open ones');
      void stop(flags.shutdownTimeoutMs).then((counts) => {
        stopReporter();
        logger.info(counts, 'stopped');
        resolve();
      });
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return 0;
}

function proxyOptions(flags: Flags, worker = false): ProxyOptions {
  return {
    nodeName: flags.hostnameOverride,
    proxyName: flags.proxyName,
    nodePortAddresses: flags.nodePortAddresses,
    metricsBindAddress: flags.metricsBindAddress,
    healthzBindAddress: flags.healthzBindAddress,
    adminBindAddress: flags.adminBindAddress,
    dial: {
      connectTimeoutMs: flags.connectTimeoutMs,
      maxAttempts: flags.maxConnectAttempts,
      retryBudgetMs: flags.connectRetryBudgetMs,
      idleTimeoutMs: flags.idleTimeoutMs,
    },
    algorithm: flags.lbAlgorithm,
    failureCooldownMs: flags.failedEndpointCooldownMs,
    drainTimeoutMs: flags.drainTimeoutMs,
    healthTimeoutMs: flags.healthTimeoutMs,
    reusePort: flags.reusePort,
    worker,
  };
}

/** A worker of --workers N: fed by the primary over IPC; exits when the primary says so or is gone. */
async function runAsWorker(flags: Flags, workerId: number, logger: Logger): Promise<number> {
  // Signals are the primary's to handle (a terminal's Ctrl-C reaches the whole process group):
  // the primary stops every worker in order.
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  await runWorker(proxyOptions(flags, true), {
    logger: logger.child({ worker: workerId }),
    channel: process as unknown as Parameters<typeof runWorker>[1]['channel'],
    exit: (code) => process.exit(code),
    orphanShutdownMs: flags.shutdownTimeoutMs,
  });
  return new Promise<number>(() => {}); // runs until told to stop
}

async function buildSource(flags: Flags, logger: Logger): Promise<{ source: ProxyDeps['source']; reporter?: BindFailureReporter; stopReporter: () => void }> {
  if (flags.objectsFile !== undefined) {
    if (!existsSync(flags.objectsFile)) throw new ProxyError('NPP_BAD_FLAG', `--objects-file: ${flags.objectsFile} does not exist`);
    return {
      source: () => createObjectsFileSource({ file: flags.objectsFile!, proxyName: flags.proxyName, nodeName: flags.hostnameOverride, logger }),
      stopReporter: () => {},
    };
  }
  // Loaded only for the Kubernetes source: @kubernetes/client-node takes seconds to import.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { createKubernetesSource } = await import('../source/kubernetes.ts');
  const { createServiceEventRecorder } = await import('../observe/service-events.ts');
  const kubeConfig = loadKubeConfig(new KubeConfig(), flags.kubeconfig);
  const recorder = createServiceEventRecorder({ kubeConfig, nodeName: flags.hostnameOverride, component: 'nodeport-proxy', logger });
  return {
    source: ({ registry }) => createKubernetesSource({ kubeConfig, proxyName: flags.proxyName, nodeName: flags.hostnameOverride, logger, registry }),
    reporter: recorder,
    stopReporter: () => recorder.stop(),
  };
}

/** --kubeconfig, else in-cluster, else ~/.kube/config, else a clear error. */
function loadKubeConfig(kc: KubeConfigLike, file: string | undefined): KubeConfigLike {
  if (file !== undefined) {
    if (!existsSync(file)) throw new ProxyError('NPP_BAD_FLAG', `--kubeconfig: ${file} does not exist`);
    kc.loadFromFile(file);
    return kc;
  }
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
    return kc;
  }
  const home = path.join(os.homedir(), '.kube', 'config');
  if (existsSync(home)) {
    kc.loadFromFile(home);
    return kc;
  }
  throw new ProxyError(
    'NPP_NO_KUBECONFIG',
    'no source: pass --objects-file PATH or --kubeconfig PATH (not running in a cluster, and ~/.kube/config does not exist)',
  );
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof ProxyError && err.code === 'NPP_BAD_FLAG' ? 2 : 1;
    process.stderr.write(`nodeport-proxy: ${(err as Error).message}\n`);
    process.exit(code);
  },
);
