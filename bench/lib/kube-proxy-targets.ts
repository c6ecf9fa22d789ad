// The real kube-proxy, iptables and nftables mode, as targets of the data-path scenario (3). It
// runs in the data-path node namespace (the same one the userspace proxies run in) and programs
// NAT rules for a selector-less NodePort Service with the same NodePorts as every other target,
// whose hand-made EndpointSlice points at the same pod(s); the client reaches the node IP at the
// NodePorts and the kernel forwards. The Service and the Node object live in the benchmarks'
// control plane (bench/lib/cluster.ts), started only when a kube-proxy target is selected;
// kube-proxy reaches it through the e2e library's unix-socket bridge.
//
// kube-proxy runs with its default minSyncPeriod (1 s): the rules are written once and are static
// while traffic is measured, so the setting does not change any figure here.
//
// After each kube-proxy target every rule it left is removed (kube-proxy --cleanup, then the empty
// tables iptables-nft keeps, then conntrack entries), and that is checked, before the next target:
// the userspace proxies then listen on the same node IP and NodePorts, and leftover DNAT rules
// would silently bypass them.
import { join } from 'node:path';
import type { ControlPlane } from '../../test/e2e/lib/control-plane.ts';
import { KubeProxy } from '../../test/e2e/lib/kube-proxy.ts';
import { Kubelet } from '../../test/e2e/lib/kubelet.ts';
import { nsExec } from '../../test/e2e/lib/netns.ts';
import { killRecordedProcesses } from '../../test/e2e/lib/proc.ts';
import { ensureNamespace } from '../../test/e2e/lib/services.ts';
import { RUN_DIR, recordK8sVersions, startBenchControlPlane } from './cluster.ts';
import { nodePortOf, objectsFor, ready, type ProxyEnv, type Target } from './proxies.ts';
import type { DataPathTopology } from './topology.ts';

export type KubeProxyMode = 'iptables' | 'nftables';
export const KUBE_PROXY_MODES: KubeProxyMode[] = ['iptables', 'nftables'];
export const kubeProxyTargetName = (mode: KubeProxyMode): string => `kube-proxy-${mode}`;

const NAMESPACE = 'bench';
const SERVICE = 'bench';

/** Throws unless the namespace holds no netfilter rules at all (the state the topology creates). */
export async function assertNoRules(ns: string): Promise<void> {
  const nft = (await nsExec(ns, ['nft', 'list', 'ruleset'])).stdout.trim();
  const ipt = (await nsExec(ns, ['iptables-save'], { allowFail: true })).stdout.split('\n').filter((l) => l.startsWith('-A ')).join('\n');
  if (nft || ipt) throw new Error(`netfilter rules left in ${ns}:\n${nft}\n${ipt}`);
}

export class KubeProxyTargets {
  private readonly cp: ControlPlane;
  private readonly binDir: string;
  private readonly topo: DataPathTopology;
  private readonly env: ProxyEnv;
  private readonly log: (s: string) => void;

  private constructor(cp: ControlPlane, binDir: string, topo: DataPathTopology, env: ProxyEnv, log: (s: string) => void) {
    this.cp = cp;
    this.binDir = binDir;
    this.topo = topo;
    this.env = env;
    this.log = log;
  }

  /** Starts the control plane and creates the Node, the Service and its EndpointSlice. */
  static async start(topo: DataPathTopology, env: ProxyEnv, versions: Record<string, string>, log: (s: string) => void): Promise<KubeProxyTargets> {
    const { cp, binDir } = await startBenchControlPlane();
    const t = new KubeProxyTargets(cp, binDir, topo, env, log);
    try {
      await recordK8sVersions(binDir, versions);
      await cp.startNodeBridge(topo.nodeNs);
      // InternalIP = the data-path node IP, the address kube-proxy serves NodePorts on.
      await new Kubelet({ api: cp.api, topology: topo.topology }).registerNode(topo.node);
      await ensureNamespace(cp.api, NAMESPACE);
      const [service, slice] = objectsFor(SERVICE, env.services, env.podIps, NAMESPACE, null);
      await cp.api.post(`/api/v1/namespaces/${NAMESPACE}/services`, service);
      await cp.api.post(`/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices`, slice);
    } catch (err) {
      await t.stop().catch(() => undefined);
      throw err;
    }
    return t;
  }

  /** Starts kube-proxy in `mode` and resolves once the http NodePort answers from the client namespace. */
  async target(mode: KubeProxyMode): Promise<Target> {
    const kp = await KubeProxy.start({ node: this.topo.node, mode, binDir: this.binDir, runDir: RUN_DIR, kubeconfig: this.cp.state.nodeKubeconfig });
    const stop = async () => {
      await kp.stop();
      await this.removeRules();
    };
    try {
      // No pid: kube-proxy is idle while traffic flows; the forwarding cost is the kernel's.
      return await ready(this.env, { name: kubeProxyTargetName(mode), kind: 'kernel', host: this.env.nodeIp, port: nodePortOf(this.env), stop });
    } catch (err) {
      await stop();
      throw err;
    }
  }

  /** Removes kube-proxy's rules and connection-tracking state from the node namespace, and checks it. */
  private async removeRules(): Promise<void> {
    const ns = this.topo.nodeNs;
    // kube-proxy's own cleanup: its iptables and nftables rules, both families.
    await nsExec(ns, [join(this.binDir, 'kube-proxy'), '--cleanup', '--v=1'], { allowFail: true });
    const left = (await nsExec(ns, ['nft', 'list', 'tables'])).stdout.trim().split('\n').filter(Boolean).map((l) => l.replace(/^table /, ''));
    if (left.length) this.log(`  kube-proxy --cleanup left ${left.length} table(s) in ${ns} (${left.join(', ')}); flushing`);
    // What it leaves are empty tables and base chains (iptables-nft's nat/filter/mangle), which
    // would keep connection tracking on for the next target; the node namespace has no rules of
    // its own, so flushing restores exactly the state the other targets are measured in.
    await nsExec(ns, ['nft', 'flush', 'ruleset']);
    // Tracked connections, with their NAT bindings, outlive the rules: each kube-proxy target
    // starts with an empty table, as on a fresh node.
    await nsExec(ns, ['conntrack', '-F']);
    await assertNoRules(ns);
  }

  /** Stops the control plane (and a kube-proxy a failed start left running) and removes its rules. */
  async stop(): Promise<void> {
    await this.cp.stop().catch(() => undefined);
    await killRecordedProcesses(RUN_DIR).catch(() => undefined);
    await this.removeRules();
  }
}
