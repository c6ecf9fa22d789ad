// A thin adapter over the e2e library (test/e2e/lib) for the control-plane scenarios. It composes
// the library's ControlPlane, Topology, Kubelet, KubeProxy and NodePortProxy like its Cluster
// does, with what benchmarks need on top: a NodePort range wide enough for 10,000 Services, ports
// and names that do not collide with an e2e run on the same machine, and the pids / metrics of
// the proxies (CPU time, network_programming_duration_seconds).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPlane, cleanupControlPlane, k8sBinDir } from '../../test/e2e/lib/control-plane.ts';
import { Kubelet } from '../../test/e2e/lib/kubelet.ts';
import { KubeProxy } from '../../test/e2e/lib/kube-proxy.ts';
import { nsExec, Topology, type NodeNet } from '../../test/e2e/lib/netns.ts';
import { NodePortProxy } from '../../test/e2e/lib/nodeport-proxy.ts';
import { killRecordedProcesses } from '../../test/e2e/lib/proc.ts';
import { ensureNamespace } from '../../test/e2e/lib/services.ts';
import { cpuSeconds, run } from './exec.ts';
import { tune } from './topology.ts';

export const RUN_DIR = '/tmp/npp-bench';
export const NODEPORT_RANGE = '20000-32767';

export interface ProxyConfig {
  /** e.g. kube-proxy-iptables-1s */
  id: string;
  kind: 'kube-proxy' | 'nodeport-proxy';
  mode?: 'iptables' | 'nftables';
  minSyncPeriod?: string;
}

// minSyncPeriod 1s is kube-proxy's default, as operators run it. "0s" cannot be asked for through
// the config file: kube-proxy's defaulting replaces a zero minSyncPeriod with 1s (its startup log
// then says minSyncPeriod="1s"; measured, the 0s runs behaved exactly like 1s). 1ms is the
// smallest setting that takes effect and stands for "no rate limit".
export const PROXY_CONFIGS: ProxyConfig[] = [
  { id: 'kube-proxy-iptables-1s', kind: 'kube-proxy', mode: 'iptables', minSyncPeriod: '1s' },
  { id: 'kube-proxy-iptables-1ms', kind: 'kube-proxy', mode: 'iptables', minSyncPeriod: '1ms' },
  { id: 'kube-proxy-nftables-1s', kind: 'kube-proxy', mode: 'nftables', minSyncPeriod: '1s' },
  { id: 'kube-proxy-nftables-1ms', kind: 'kube-proxy', mode: 'nftables', minSyncPeriod: '1ms' },
  { id: 'nodeport-proxy', kind: 'nodeport-proxy' },
];

/**
 * The benchmarks' control plane in RUN_DIR (leftovers of a crashed run killed first). One at a
 * time: scenario 3 (kube-proxy targets) and scenarios 1-2 each start and stop their own.
 */
export async function startBenchControlPlane(): Promise<{ cp: ControlPlane; binDir: string }> {
  const binDir = await k8sBinDir();
  await cleanupControlPlane(RUN_DIR);
  // Ports away from the e2e suite's defaults (6443/2379/10257) so both can run at once.
  const cp = await ControlPlane.start({ runDir: RUN_DIR, binDir, apiPort: 16443, etcdPort: 12379, kcmPort: 20257, nodePortRange: NODEPORT_RANGE });
  return { cp, binDir };
}

/** Records the first line of `--version` of each Kubernetes binary the benchmarks run. */
export async function recordK8sVersions(binDir: string, versions: Record<string, string>): Promise<void> {
  for (const bin of ['kube-proxy', 'kube-apiserver', 'kube-controller-manager', 'etcd']) {
    const r = await run([`${binDir}/${bin}`, '--version']).catch(() => ({ stdout: '?', stderr: '', code: 1 }));
    versions[bin] = (r.stdout + r.stderr).trim().split('\n')[0];
  }
}

export interface RunningProxy {
  config: ProxyConfig;
  node: NodeNet;
  pid: number;
  cpuSeconds(): number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export class BenchCluster {
  readonly cp: ControlPlane;
  readonly topology: Topology;
  readonly kubelet: Kubelet;
  readonly binDir: string;
  readonly namespace = 'bench';
  private readonly running: RunningProxy[] = [];

  private constructor(cp: ControlPlane, topology: Topology, binDir: string) {
    this.cp = cp;
    this.topology = topology;
    this.binDir = binDir;
    this.kubelet = new Kubelet({ api: cp.api, topology });
  }

  get api() { return this.cp.api; }
  get nodes() { return this.topology.nodes; }
  get clientNs() { return this.topology.clientNs; }

  static async start(nodes: number): Promise<BenchCluster> {
    const topology = new Topology({ prefix: 'npp-bench-' });
    await topology.destroy();
    const { cp, binDir } = await startBenchControlPlane();
    const c = new BenchCluster(cp, topology, binDir);
    try {
      await topology.createClient();
      await tune(topology.clientNs);
      for (let i = 1; i <= nodes; i++) {
        const node = await topology.addNode(i, `node-${i}`);
        await tune(node.ns);
        await cp.startNodeBridge(node.ns);
        await c.kubelet.registerNode(node);
      }
      await ensureNamespace(cp.api, c.namespace);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  async startProxy(config: ProxyConfig, node: NodeNet): Promise<RunningProxy> {
    let stop: () => Promise<void>;
    let pidName: string;
    let metricsAddr: string;
    if (config.kind === 'kube-proxy') {
      const kp = await KubeProxy.start({ node, mode: config.mode!, binDir: this.binDir, runDir: RUN_DIR, kubeconfig: this.cp.state.nodeKubeconfig, minSyncPeriod: config.minSyncPeriod });
      stop = () => kp.stop();
      pidName = `kube-proxy-${node.name}-${config.mode}`;
      metricsAddr = '127.0.0.1:10249';
    } else {
      const np = await NodePortProxy.start({ node, runDir: RUN_DIR, kubeconfig: this.cp.state.nodeKubeconfig, logLevel: 'warn' });
      stop = () => np.stop();
      pidName = `nodeport-proxy-${node.name}`;
      metricsAddr = '127.0.0.1:10265';
    }
    // The library records each process's pid (ip netns exec execs, so it is the proxy itself).
    const pid = Number(readFileSync(join(RUN_DIR, 'pids', `${pidName}.pid`), 'utf8').split('\n')[0]);
    const rp: RunningProxy = {
      config, node, pid,
      cpuSeconds: () => cpuSeconds(pid),
      metrics: async () => (await nsExec(node.ns, ['curl', '-s', '--max-time', '5', `http://${metricsAddr}/metrics`], { allowFail: true })).stdout,
      stop: async () => { await stop(); this.running.splice(this.running.indexOf(rp), 1); },
    };
    this.running.push(rp);
    return rp;
  }

  async stop(): Promise<void> {
    for (const p of [...this.running]) await p.stop().catch(() => undefined);
    await this.kubelet.stopAll().catch(() => undefined);
    await this.cp.stop().catch(() => undefined);
    await this.topology.destroy();
    await killRecordedProcesses(RUN_DIR).catch(() => undefined);
  }
}

export interface Histogram { buckets: [number, number][]; count: number; sum: number }

/** Reads one Prometheus histogram (all label sets summed) from a /metrics text. */
export function parseHistogram(text: string, name: string): Histogram {
  const byLe = new Map<number, number>();
  let count = 0, sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      const k = le === '+Inf' ? Infinity : Number(le);
      byLe.set(k, (byLe.get(k) ?? 0) + v);
    } else if (line.startsWith(`${name}_count`)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${name}_sum`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]), count, sum };
}

/** Observations between two snapshots of the same histogram. */
export function histogramDelta(after: Histogram, before: Histogram): Histogram {
  const prev = new Map(before.buckets);
  return { buckets: after.buckets.map(([le, v]) => [le, v - (prev.get(le) ?? 0)]), count: after.count - before.count, sum: after.sum - before.sum };
}

/** Quantile by linear interpolation inside the bucket, as Prometheus' histogram_quantile does. */
export function histogramQuantile(h: Histogram, q: number): number {
  if (h.count <= 0) return NaN;
  const rank = q * h.count;
  let prevLe = 0, prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1e-9, c - prevCount));
    }
    prevLe = le; prevCount = c;
  }
  return prevLe;
}
