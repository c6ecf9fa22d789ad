// Network namespaces for the e2e topology. Everything is named with a fixed prefix so a crashed
// run can be cleaned up by name, and nothing is created in the host namespace (veth ends are
// created directly inside their target namespaces).
//
//   <prefix>cli             br0 10.250.0.1/24; clients run here
//   <prefix>node<N>         eth0 10.250.0.(N+1)/24 (peer on cli br0), cbr0 10.244.N.1/24, ip_forward=1,
//                           routes to the other nodes' pod CIDRs
//   <prefix>pod<N>-<host>   eth0 10.244.N.<host>/24 (peer on node N's cbr0), default via 10.244.N.1
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { run, type RunResult } from './proc.ts';

export const CLIENT_BRIDGE_IP = '10.250.0.1';

export interface NodeNet {
  /** 1-based index; also the third octet of the pod CIDR. */
  index: number;
  /** Kubernetes node name. */
  name: string;
  ns: string;
  /** Address on the client network: the NodePort address and the Node's InternalIP. */
  ip: string;
  podCidr: string;
  podGateway: string;
}

export interface PodNet {
  ns: string;
  ip: string;
  node: NodeNet;
}

/** argv that runs `argv` inside namespace `ns` (ip netns exec execs, so the pid is the command's). */
export function nsArgv(ns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/** Runs a command inside a namespace to completion. */
export function nsExec(
  ns: string,
  argv: string[],
  opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(nsArgv(ns, argv), opts);
}

/** Spawns a command inside a namespace. */
export function nsSpawn(ns: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
  const full = nsArgv(ns, argv);
  return spawn(full[0], full.slice(1), opts);
}

/** True when this machine lets us create network namespaces (root + iproute2). */
export async function canCreateNetns(): Promise<{ ok: boolean; reason?: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root' };
  const probe = `npp-probe-${process.pid}`;
  const r = await run(['ip', 'netns', 'add', probe], { allowFail: true }).catch((e: Error) => ({
    code: 1,
    stdout: '',
    stderr: e.message,
  }));
  if (r.code !== 0) return { ok: false, reason: `ip netns add failed: ${r.stderr.trim()}` };
  await run(['ip', 'netns', 'del', probe], { allowFail: true });
  return { ok: true };
}

/** Names of existing namespaces that start with prefix. */
export async function listNetns(prefix: string): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const list = JSON.parse(r.stdout) as { name: string }[];
  return list.map((n) => n.name).filter((n) => n.startsWith(prefix));
}

/** Kills every process inside the namespace, then deletes it. Idempotent. */
export async function deleteNetns(ns: string): Promise<void> {
  const pids = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
  for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await run(['ip', 'netns', 'del', ns], { allowFail: true });
}

/** Removes every namespace (and the processes in it) left by a run using `prefix`. */
export async function cleanupNetns(prefix: string): Promise<void> {
  // Pods first, nodes next, client last: deleting a namespace destroys its veth ends.
  for (const ns of await listNetns(prefix)) await deleteNetns(ns);
}

/** Builds and tears down the namespaces of one test cluster. */
export class Topology {
  readonly prefix: string;
  readonly clientNs: string;
  readonly nodes: NodeNet[] = [];
  private readonly nextHost = new Map<number, number>();
  private readonly pods = new Set<string>();

  constructor(opts: { prefix: string }) {
    this.prefix = opts.prefix;
    this.clientNs = `${opts.prefix}cli`;
  }

  /** Creates the client namespace with its bridge. Call once, before addNode. */
  async createClient(): Promise<void> {
    const ns = this.clientNs;
    await run(['ip', 'netns', 'add', ns]);
    await ip(ns, 'link set lo up');
    await ip(ns, 'link add br0 type bridge');
    await ip(ns, `addr add ${CLIENT_BRIDGE_IP}/24 dev br0`);
    await ip(ns, 'link set br0 up');
  }

  /** Creates node namespace number `index` (1-based), wired to the client bridge and the other nodes. */
  async addNode(index: number, name: string): Promise<NodeNet> {
    const node: NodeNet = {
      index,
      name,
      ns: `${this.prefix}node${index}`,
      ip: `10.250.0.${index + 1}`,
      podCidr: `10.244.${index}.0/24`,
      podGateway: `10.244.${index}.1`,
    };
    await run(['ip', 'netns', 'add', node.ns]);
    await ip(node.ns, 'link set lo up');
    const peer = `n${index}`;
    await run(['ip', 'link', 'add', 'eth0', 'netns', node.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', this.clientNs]);
    await ip(this.clientNs, `link set ${peer} master br0`);
    await ip(this.clientNs, `link set ${peer} up`);
    await ip(node.ns, `addr add ${node.ip}/24 dev eth0`);
    await ip(node.ns, 'link set eth0 up');
    await ip(node.ns, 'link add cbr0 type bridge');
    await ip(node.ns, `addr add ${node.podGateway}/24 dev cbr0`);
    await ip(node.ns, 'link set cbr0 up');
    // Nodes route pod traffic between eth0 and cbr0 (kube-proxy does not enable this itself).
    await sysctl(node.ns, 'net.ipv4.ip_forward', '1');
    // Cross-node pod routes, both directions, so a proxy on one node can reach pods on another.
    for (const other of this.nodes) {
      await ip(node.ns, `route add ${other.podCidr} via ${other.ip}`);
      await ip(other.ns, `route add ${node.podCidr} via ${node.ip}`);
    }
    this.nodes.push(node);
    this.nextHost.set(index, 10);
    return node;
  }

  /** Creates a pod namespace with a fresh address on its node's bridge. Addresses are never reused in a run. */
  async addPod(node: NodeNet): Promise<PodNet> {
    const host = this.nextHost.get(node.index) ?? 10;
    if (host > 254) throw new Error(`node ${node.name}: out of pod addresses`);
    this.nextHost.set(node.index, host + 1);
    const pod: PodNet = { ns: `${this.prefix}pod${node.index}-${host}`, ip: `10.244.${node.index}.${host}`, node };
    await run(['ip', 'netns', 'add', pod.ns]);
    this.pods.add(pod.ns);
    await ip(pod.ns, 'link set lo up');
    const peer = `vp${host}`;
    await run(['ip', 'link', 'add', 'eth0', 'netns', pod.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', node.ns]);
    await ip(node.ns, `link set ${peer} master cbr0`);
    await ip(node.ns, `link set ${peer} up`);
    await ip(pod.ns, `addr add ${pod.ip}/24 dev eth0`);
    await ip(pod.ns, 'link set eth0 up');
    await ip(pod.ns, `route add default via ${node.podGateway}`);
    return pod;
  }

  /** Deletes a pod namespace (and anything still running in it). */
  async removePod(pod: PodNet): Promise<void> {
    await deleteNetns(pod.ns);
    this.pods.delete(pod.ns);
  }

  /** Deletes every namespace with this topology's prefix. */
  async destroy(): Promise<void> {
    await cleanupNetns(this.prefix);
    this.nodes.length = 0;
    this.pods.clear();
  }
}

async function ip(ns: string, args: string): Promise<void> {
  await run(nsArgv(ns, ['ip', ...args.split(' ')]));
}

async function sysctl(ns: string, key: string, value: string): Promise<void> {
  await run(nsArgv(ns, ['sysctl', '-q', '-w', `${key}=${value}`]));
}

/**
 * One HTTP GET from inside a namespace (curl, new connection). Resolves with the status (0 when
 * the connection failed) and the body, or curl's exit code as `error` when it failed.
 */
export async function httpGetIn(ns: string, url: string, timeoutSec = 3): Promise<{ status: number; body: string; error?: number }> {
  const r = await run(nsArgv(ns, ['curl', '-s', '--max-time', String(timeoutSec), '-w', '\n%{http_code}', url]), { allowFail: true });
  const i = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(i + 1)) || 0;
  return { status, body: r.stdout.slice(0, Math.max(0, i)).trim(), ...(r.code !== 0 ? { error: r.code ?? -1 } : {}) };
}
