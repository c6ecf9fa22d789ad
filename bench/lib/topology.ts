// The data-path topology, built with the e2e library's Topology (test/e2e/lib/netns.ts) so the
// benchmarks and the end-to-end tests run on the same network shape:
//
//   npb-cli (client, 10.250.0.1) --bridge-- npb-node1 (node IP 10.250.0.2, cbr0 10.244.1.1) --bridge-- npb-pod1-10 (10.244.1.10)
//
// The node namespace routes between its two links, so "direct" (client -> pod IP) crosses the
// same kernel hops as every proxy minus the proxying itself: the physical limit on this machine.
// This adapter only adds what benchmarks need on top: a client route to the pod network (for
// "direct") and the same sysctl tuning in every namespace.
import { nsArgv, Topology, type NodeNet, type PodNet } from '../../test/e2e/lib/netns.ts';
import { must, run } from './exec.ts';

export interface DataPathTopology {
  clientNs: string;
  nodeNs: string;
  podNs: string[];
  nodeIp: string;
  podIps: string[];
  node: NodeNet;
  pods: PodNet[];
  /** The e2e library's Topology the namespaces belong to (for the Node object of the kube-proxy targets). */
  topology: Topology;
  destroy(): Promise<void>;
}

// Without these a 2-core box runs out of ephemeral ports or accept backlog during the
// new-connection tests; applied to every namespace so no proxy is favoured.
const TUNING = ['net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1', 'net.core.somaxconn=8192', 'net.ipv4.tcp_max_syn_backlog=8192'];

export async function tune(ns: string): Promise<void> {
  for (const t of TUNING) await must(nsArgv(ns, ['sysctl', '-q', '-w', t]));
}

/** Adds the benchmark's extras to a topology that has a client, one node and its pods. */
export async function adaptTopology(topo: Topology, node: NodeNet, pods: PodNet[]): Promise<DataPathTopology> {
  for (const ns of [topo.clientNs, node.ns, ...pods.map((p) => p.ns)]) await tune(ns);
  await must(nsArgv(topo.clientNs, ['ip', 'route', 'replace', '10.244.0.0/16', 'via', node.ip]));
  return {
    clientNs: topo.clientNs, nodeNs: node.ns, podNs: pods.map((p) => p.ns), nodeIp: node.ip, podIps: pods.map((p) => p.ip),
    node, pods, topology: topo, destroy: () => topo.destroy(),
  };
}

/** A control-plane-free topology: client, one node, `pods` pod namespaces. */
export async function createDataPath(pods = 1): Promise<DataPathTopology> {
  const topo = new Topology({ prefix: 'npb-' });
  await topo.destroy();
  await topo.createClient();
  const node = await topo.addNode(1, 'bench-node');
  const ps: PodNet[] = [];
  for (let i = 0; i < pods; i++) ps.push(await topo.addPod(node));
  return adaptTopology(topo, node, ps);
}

/** True once a TCP connect from ns to host:port succeeds. */
export async function tcpReachable(ns: string, host: string, port: number): Promise<boolean> {
  const r = await run(nsArgv(ns, ['bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`]), { timeoutMs: 2000 });
  return r.code === 0;
}
