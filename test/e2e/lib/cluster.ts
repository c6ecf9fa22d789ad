// One test cluster: the control plane on host loopback, a client namespace, N node namespaces
// (each with its apiserver bridge and a registered Node object) and the kubelet stand-in.
// Proxies (kube-proxy, ours) are started by the caller on the nodes it chooses.
//
//   const cluster = await Cluster.start({ name: 'e2e', nodes: 2 });
//   try { ... cluster.kubelet.runPod(...) ... } finally { await cluster.stop(); }
//
// `name` keys everything that must not collide between concurrent users on one machine (the
// e2e suite vs. benchmarks): run dir /tmp/npp-<name>, namespace prefix npp-<name>-. Ports must be
// distinct too when two clusters run at the same time (apiPort/etcdPort/kcmPort).
import { ControlPlane, cleanupControlPlane, k8sBinDir, type ControlPlaneOptions } from './control-plane.ts';
import type { KubeApi } from './kube-api.ts';
import { Kubelet } from './kubelet.ts';
import { KubeProxy } from './kube-proxy.ts';
import { Topology, cleanupNetns, type NodeNet } from './netns.ts';
import { NodePortProxy } from './nodeport-proxy.ts';
import { killRecordedProcesses } from './proc.ts';
import { ensureNamespace } from './services.ts';

export interface ClusterOptions {
  /** Default 'e2e'. */
  name?: string;
  /** Number of node namespaces; default 2. */
  nodes?: number;
  /** Kubernetes namespace created for the workloads; default 'e2e'. */
  namespace?: string;
  apiPort?: number;
  etcdPort?: number;
  kcmPort?: number;
  /** Leave processes running when this process exits (cluster CLI). */
  detach?: boolean;
}

export function runDirFor(name: string): string {
  return `/tmp/npp-${name}`;
}

export function netnsPrefixFor(name: string): string {
  return `npp-${name}-`;
}

/** Removes everything a previous (possibly crashed) cluster with this name left behind. */
export async function cleanupCluster(name: string): Promise<void> {
  await cleanupNetns(netnsPrefixFor(name));
  await cleanupControlPlane(runDirFor(name));
}

export class Cluster {
  readonly name: string;
  readonly namespace: string;
  readonly cp: ControlPlane;
  readonly topology: Topology;
  readonly kubelet: Kubelet;
  readonly nodes: NodeNet[];
  readonly binDir: string;
  private readonly proxies: { stop(): Promise<void> }[] = [];

  private constructor(name: string, namespace: string, cp: ControlPlane, topology: Topology, binDir: string) {
    this.name = name;
    this.namespace = namespace;
    this.cp = cp;
    this.topology = topology;
    this.nodes = topology.nodes;
    this.binDir = binDir;
    this.kubelet = new Kubelet({ api: cp.api, topology });
  }

  get api(): KubeApi {
    return this.cp.api;
  }

  get runDir(): string {
    return this.cp.state.runDir;
  }

  get clientNs(): string {
    return this.topology.clientNs;
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const name = opts.name ?? 'e2e';
    const binDir = await k8sBinDir();
    await cleanupCluster(name);
    const cpOpts: ControlPlaneOptions = {
      runDir: runDirFor(name),
      binDir,
      apiPort: opts.apiPort,
      etcdPort: opts.etcdPort,
      kcmPort: opts.kcmPort,
      detach: opts.detach,
    };
    // Drop undefined so ControlPlane's defaults apply.
    for (const k of Object.keys(cpOpts) as (keyof ControlPlaneOptions)[]) if (cpOpts[k] === undefined) delete cpOpts[k];
    const cp = await ControlPlane.start(cpOpts);
    const topology = new Topology({ prefix: netnsPrefixFor(name) });
    const cluster = new Cluster(name, opts.namespace ?? 'e2e', cp, topology, binDir);
    try {
      await topology.createClient();
      for (let i = 1; i <= (opts.nodes ?? 2); i++) {
        const node = await topology.addNode(i, `node-${i}`);
        await cp.startNodeBridge(node.ns);
        await cluster.kubelet.registerNode(node);
      }
      await ensureNamespace(cp.api, cluster.namespace);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Starts the real kube-proxy on a node; stopped by cluster.stop(). */
  async startKubeProxy(node: NodeNet, mode: 'iptables' | 'nftables', minSyncPeriod?: string): Promise<KubeProxy> {
    const kp = await KubeProxy.start({
      node,
      mode,
      binDir: this.binDir,
      runDir: this.runDir,
      kubeconfig: this.cp.state.nodeKubeconfig,
      minSyncPeriod,
    });
    this.proxies.push(kp);
    return kp;
  }

  /** Starts our proxy on a node; stopped by cluster.stop(). */
  async startNodePortProxy(node: NodeNet, extra: { kubeconfig?: string; extraArgs?: string[] } = {}): Promise<NodePortProxy> {
    const p = await NodePortProxy.start({
      node,
      runDir: this.runDir,
      kubeconfig: extra.kubeconfig ?? this.cp.state.nodeKubeconfig,
      extraArgs: extra.extraArgs,
    });
    this.proxies.push(p);
    return p;
  }

  /** Stops proxies, backends, the control plane, and removes all namespaces and the run dir's processes. */
  async stop(): Promise<void> {
    for (const p of this.proxies.splice(0)) await p.stop().catch(() => undefined);
    await this.kubelet.stopAll().catch(() => undefined);
    await this.cp.stop().catch(() => undefined);
    await this.topology.destroy();
    // Anything still recorded (e.g. a process that ignored SIGTERM) is killed here. The run dir
    // itself (logs) stays for diagnosis until the next start with this name.
    await killRecordedProcesses(this.runDir).catch(() => undefined);
  }
}
