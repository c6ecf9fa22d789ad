// The real control plane on 127.0.0.1 of the host namespace: etcd, kube-apiserver (static token
// auth, RBAC, self-signed serving cert from --cert-dir) and kube-controller-manager (EndpointSlice,
// garbage collector, namespace and serviceaccount controllers), built from Go modules by
// test/k8s-bins/build.sh. Processes inside node namespaces reach the apiserver at
// 127.0.0.1:6443 of their own namespace through a unix-socket bridge (socat on both sides), so
// nothing ever listens on a non-loopback address of the host.
// See /work/shared/docs/real-control-plane.md sections 2.4, 3.2-3.4.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { KubeApi } from './kube-api.ts';
import { nsArgv } from './netns.ts';
import { ManagedProcess, REPO_ROOT, killRecordedProcesses, run, waitFor } from './proc.ts';

/** Port the node-side bridge listens on inside each node namespace (127.0.0.1 there). */
export const NODE_API_PORT = 6443;

export interface ControlPlaneOptions {
  /** Fixed directory for state, logs, certs and pid files; wiped (after killing leftovers) on start. */
  runDir: string;
  /** Directory with kube-apiserver, kube-controller-manager, etcd (see k8sBinDir). */
  binDir: string;
  apiPort?: number;
  etcdPort?: number;
  kcmPort?: number;
  /** Keep processes running after this Node process exits (`npm run cluster -- up`). */
  detach?: boolean;
  nodePortRange?: string;
}

/** What a later process (cluster status/down, benchmarks) needs to talk to a running control plane. */
export interface ControlPlaneState {
  runDir: string;
  binDir: string;
  apiPort: number;
  etcdPort: number;
  kcmPort: number;
  token: string;
  /** kubeconfig for processes in the host namespace. */
  kubeconfig: string;
  /** kubeconfig for processes in node namespaces (server 127.0.0.1:6443 via the bridge). */
  nodeKubeconfig: string;
  caFile: string;
  apiSocket: string;
}

/** Builds (once; cached) the Kubernetes binaries and returns their directory. */
export async function k8sBinDir(): Promise<string> {
  if (process.env.K8S_BIN_DIR && existsSync(join(process.env.K8S_BIN_DIR, 'kube-apiserver'))) {
    return process.env.K8S_BIN_DIR;
  }
  const r = await run(['bash', join(REPO_ROOT, 'test/k8s-bins/build.sh')]);
  const lines = r.stdout.trim().split('\n');
  return lines[lines.length - 1];
}

/** Kills the processes of an earlier run recorded under runDir and removes runDir. */
export async function cleanupControlPlane(runDir: string): Promise<void> {
  await killRecordedProcesses(runDir);
  rmSync(runDir, { recursive: true, force: true });
}

export class ControlPlane {
  readonly state: ControlPlaneState;
  readonly api: KubeApi;
  private readonly opts: Required<ControlPlaneOptions>;
  private etcd: ManagedProcess | undefined;
  private apiserver: ManagedProcess | undefined;
  private kcm: ManagedProcess | undefined;
  private hostBridge: ManagedProcess | undefined;
  private readonly nodeBridges = new Map<string, ManagedProcess>();

  private constructor(opts: Required<ControlPlaneOptions>, state: ControlPlaneState) {
    this.opts = opts;
    this.state = state;
    this.api = new KubeApi({ server: `https://127.0.0.1:${state.apiPort}`, token: state.token, ca: readFileSync(state.caFile, 'utf8') });
  }

  /** Starts etcd, kube-apiserver, kube-controller-manager and the host end of the socket bridge. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const opts: Required<ControlPlaneOptions> = {
      apiPort: 6443,
      etcdPort: 2379,
      kcmPort: 10257,
      detach: false,
      nodePortRange: '30000-32767',
      ...options,
    };
    const { runDir } = opts;
    await cleanupControlPlane(runDir);
    mkdirSync(join(runDir, 'certs'), { recursive: true });
    const token = randomBytes(24).toString('hex');
    // Static token file: token,user,uid,"groups". system:masters is the RBAC superuser group.
    writeFileSync(join(runDir, 'tokens.csv'), `${token},e2e-admin,e2e-admin-uid,"system:masters"\n`, { mode: 0o600 });
    await run(['openssl', 'genrsa', '-out', join(runDir, 'sa.key'), '2048']);
    await run(['openssl', 'rsa', '-in', join(runDir, 'sa.key'), '-pubout', '-out', join(runDir, 'sa.pub')]);

    const caFile = join(runDir, 'certs', 'apiserver.crt');
    const state: ControlPlaneState = {
      runDir,
      binDir: opts.binDir,
      apiPort: opts.apiPort,
      etcdPort: opts.etcdPort,
      kcmPort: opts.kcmPort,
      token,
      kubeconfig: join(runDir, 'admin.kubeconfig'),
      nodeKubeconfig: join(runDir, 'node.kubeconfig'),
      caFile,
      apiSocket: join(runDir, 'api.sock'),
    };
    writeFileSync(state.kubeconfig, kubeconfigYaml(`https://127.0.0.1:${opts.apiPort}`, caFile, token), { mode: 0o600 });
    writeFileSync(state.nodeKubeconfig, kubeconfigYaml(`https://127.0.0.1:${NODE_API_PORT}`, caFile, token), { mode: 0o600 });

    const etcd = startEtcd(opts);
    await waitFor('etcd /health', () => httpOk(`http://127.0.0.1:${opts.etcdPort}/health`), { timeoutMs: 30_000 }).catch((e) => {
      throw new Error(`${e.message}\n${etcd.tail()}`);
    });

    const apiserver = startApiServer(opts);
    // The serving cert is generated at startup; wait for it before building the client.
    await waitFor('apiserver certificate', () => existsSync(caFile), { timeoutMs: 60_000 }).catch((e) => {
      throw new Error(`${e.message}\n${apiserver.tail()}`);
    });
    const cp = new ControlPlane(opts, state);
    cp.etcd = etcd;
    cp.apiserver = apiserver;
    await cp.waitApiReady();

    cp.kcm = new ManagedProcess({
      name: 'kube-controller-manager',
      runDir,
      detach: opts.detach,
      argv: [
        join(opts.binDir, 'kube-controller-manager'),
        `--kubeconfig=${state.kubeconfig}`,
        // EndpointSlices (ready/serving/terminating) are the point; GC deletes slices of deleted
        // Services; namespace + serviceaccount controllers keep namespaces usable.
        '--controllers=endpointslice-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${opts.kcmPort}`,
        // Publish every pod change at once instead of batching for a second.
        '--endpointslice-updates-batch-period=0s',
        '--concurrent-service-endpoint-syncs=5',
        '--v=1',
      ],
    });
    await waitFor('kube-controller-manager /healthz', () => httpsInsecureOk(`https://127.0.0.1:${opts.kcmPort}/healthz`), {
      timeoutMs: 60_000,
    }).catch((e) => {
      throw new Error(`${e.message}\n${cp.kcm?.tail()}`);
    });

    cp.hostBridge = new ManagedProcess({
      name: 'api-bridge-host',
      runDir,
      detach: opts.detach,
      argv: ['socat', `UNIX-LISTEN:${state.apiSocket},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${opts.apiPort}`],
    });
    await waitFor('api socket', () => existsSync(state.apiSocket), { timeoutMs: 10_000 });
    writeFileSync(join(runDir, 'state.json'), JSON.stringify(state, null, 2));
    return cp;
  }

  /** Resolves once /readyz answers 200. */
  async waitApiReady(timeoutMs = 90_000): Promise<void> {
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await this.api.request<string>('GET', '/readyz').then(() => true)) || false,
      { timeoutMs, intervalMs: 250 },
    ).catch((e) => {
      throw new Error(`${e.message}\n${this.apiserver?.tail()}`);
    });
  }

  /**
   * Starts the node end of the bridge: 127.0.0.1:6443 inside `ns` forwards to the host apiserver
   * through the unix socket. Processes in the namespace use state.nodeKubeconfig.
   */
  async startNodeBridge(ns: string): Promise<void> {
    const p = new ManagedProcess({
      name: `api-bridge-${ns}`,
      runDir: this.opts.runDir,
      detach: this.opts.detach,
      argv: nsArgv(ns, ['socat', `TCP-LISTEN:${NODE_API_PORT},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${this.state.apiSocket}`]),
    });
    this.nodeBridges.set(ns, p);
    await waitFor(
      `api bridge in ${ns}`,
      async () => (await run(nsArgv(ns, ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${NODE_API_PORT}/readyz`]), { allowFail: true })).stdout === '200',
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  }

  /** Stops kube-apiserver only (for outage tests); etcd and the controllers keep running. */
  async stopApiServer(): Promise<void> {
    await this.apiserver?.stop('SIGTERM', 15_000);
  }

  /** Starts kube-apiserver again with the same flags, certs and tokens, and waits for /readyz. */
  async restartApiServer(): Promise<void> {
    if (this.apiserver?.running) return;
    this.apiserver = startApiServer(this.opts);
    await this.waitApiReady();
  }

  /** Stops everything this control plane started (bridges, KCM, apiserver, etcd), newest first. */
  async stop(): Promise<void> {
    for (const p of this.nodeBridges.values()) await p.stop('SIGTERM', 2_000);
    await this.hostBridge?.stop('SIGTERM', 2_000);
    await this.kcm?.stop('SIGTERM', 10_000);
    await this.apiserver?.stop('SIGTERM', 15_000);
    await this.etcd?.stop('SIGTERM', 10_000);
    this.api.close();
  }

  /** Connects to an already running control plane described by runDir/state.json (no ownership of processes). */
  static readState(runDir: string): ControlPlaneState | undefined {
    const f = join(runDir, 'state.json');
    if (!existsSync(f)) return undefined;
    return JSON.parse(readFileSync(f, 'utf8')) as ControlPlaneState;
  }
}

function startEtcd(opts: Required<ControlPlaneOptions>): ManagedProcess {
  const client = `http://127.0.0.1:${opts.etcdPort}`;
  const peer = `http://127.0.0.1:${opts.etcdPort + 1}`;
  return new ManagedProcess({
    name: 'etcd',
    runDir: opts.runDir,
    detach: opts.detach,
    argv: [
      join(opts.binDir, 'etcd'),
      '--name=e2e',
      `--data-dir=${join(opts.runDir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=e2e=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
      // Test data is thrown away; fsync only costs time on a 2-core machine.
      '--unsafe-no-fsync',
    ],
  });
}

function startApiServer(opts: Required<ControlPlaneOptions>): ManagedProcess {
  const { runDir } = opts;
  return new ManagedProcess({
    name: 'kube-apiserver',
    runDir,
    detach: opts.detach,
    argv: [
      join(opts.binDir, 'kube-apiserver'),
      `--etcd-servers=http://127.0.0.1:${opts.etcdPort}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${opts.apiPort}`,
      `--cert-dir=${join(runDir, 'certs')}`,
      // Must be non-loopback but need not exist; with the reconciler off nothing uses it.
      '--advertise-address=10.255.0.1',
      '--endpoint-reconciler-type=none',
      `--token-auth-file=${join(runDir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(runDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(runDir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      `--service-node-port-range=${opts.nodePortRange}`,
      // Pods are created right after their namespace; don't race the serviceaccount controller.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ],
  });
}

function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${server}
    certificate-authority: ${caFile}
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: e2e
  context:
    cluster: e2e
    user: admin
current-context: e2e
`;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** GET over TLS without verification: only for health endpoints of components with throwaway certs. */
function httpsInsecureOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

