#!/usr/bin/env node
// The `nodeport-proxy` command: parses flags, builds the source, starts the proxy, and handles
// SIGTERM/SIGINT as a graceful shutdown (stop accepting, let connections finish, exit 0).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProxyError } from '../errors.ts';
import { createLogger } from '../observe/logger.ts';
import type { Logger } from 'pino';
import { startProxy, type BindFailureReporter, type ProxyDeps } from '../proxy.ts';
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
  const { source, reporter, stopReporter } = await buildSource(flags, logger);
  const proxy = await startProxy(
    {
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
    },
    { source, logger, bindFailureReporter: reporter },
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, timeout: flags.shutdownTimeoutMs, open: proxy.connections.size }, 'shutting down: no new connections; waiting for open ones');
      void proxy.stop(flags.shutdownTimeoutMs).then(({ remaining }) => {
        stopReporter();
        logger.info({ closedAtTimeout: remaining }, 'stopped');
        resolve();
      });
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return 0;
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
