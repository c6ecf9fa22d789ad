// The real kube-proxy (iptables or nftables mode) inside a node namespace, configured through a
// KubeProxyConfiguration file (docs/real-control-plane.md section 3.5). The Node object must
// exist before it starts, and must not change while it runs (kube-proxy >= 1.37 exits then).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsArgv, nsExec, type NodeNet } from './netns.ts';
import { ManagedProcess, waitFor } from './proc.ts';

export interface KubeProxyOptions {
  node: NodeNet;
  mode: 'iptables' | 'nftables';
  binDir: string;
  runDir: string;
  /** kubeconfig valid inside the node namespace (ControlPlane.state.nodeKubeconfig). */
  kubeconfig: string;
  /** Default 1s, kube-proxy's own default; 0s resyncs on every change. */
  minSyncPeriod?: string;
  /** Extra config fields merged at the top level (YAML-compatible JSON values). */
  extra?: Record<string, unknown>;
}

export class KubeProxy {
  readonly node: NodeNet;
  readonly mode: 'iptables' | 'nftables';
  private readonly proc: ManagedProcess;

  private constructor(node: NodeNet, mode: 'iptables' | 'nftables', proc: ManagedProcess) {
    this.node = node;
    this.mode = mode;
    this.proc = proc;
  }

  /** Starts kube-proxy and waits until its /healthz reports a completed sync. */
  static async start(opts: KubeProxyOptions): Promise<KubeProxy> {
    const dir = join(opts.runDir, opts.node.name);
    mkdirSync(dir, { recursive: true });
    const minSync = opts.minSyncPeriod ?? '1s';
    const config = {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: opts.kubeconfig },
      hostnameOverride: opts.node.name,
      bindAddress: opts.node.ip,
      mode: opts.mode,
      // Only the node's client-facing address: the same address our proxy binds for its Services.
      nodePortAddresses: [`${opts.node.ip}/32`],
      clusterCIDR: '10.244.0.0/16',
      detectLocalMode: 'ClusterCIDR',
      // Loopback of the node namespace: no clash between nodes, nothing exposed.
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // Zeros: leave conntrack sysctls alone (some are global, not per-namespace).
      conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false, minSyncPeriod: minSync, syncPeriod: '30s' },
      nftables: { minSyncPeriod: minSync, syncPeriod: '30s' },
      ...opts.extra,
    };
    const file = join(dir, `kube-proxy-${opts.mode}.yaml`);
    // JSON is valid YAML.
    writeFileSync(file, JSON.stringify(config, null, 2));
    const proc = new ManagedProcess({
      name: `kube-proxy-${opts.node.name}-${opts.mode}`,
      runDir: opts.runDir,
      argv: nsArgv(opts.node.ns, [join(opts.binDir, 'kube-proxy'), `--config=${file}`, '--v=2']),
    });
    const kp = new KubeProxy(opts.node, opts.mode, proc);
    await waitFor(`kube-proxy ${opts.mode} on ${opts.node.name} healthy`, () => kp.healthy(), { timeoutMs: 60_000, intervalMs: 250 }).catch(
      (e) => {
        throw new Error(`${e.message}\n${proc.tail()}`);
      },
    );
    return kp;
  }

  async healthy(): Promise<boolean> {
    if (!this.proc.running) throw new Error(`kube-proxy exited:\n${this.proc.tail()}`);
    const r = await nsExec(this.node.ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', 'http://127.0.0.1:10256/healthz'], {
      allowFail: true,
    });
    return r.stdout === '200';
  }

  get logFile(): string {
    return this.proc.logFile;
  }

  /** Stops kube-proxy. Its rules stay in the namespace (as on a real node) until the namespace goes. */
  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 5_000);
  }
}
