// OUR proxy (proxy/cli/bin.ts) inside a node namespace, talking to the real apiserver through
// the node's socket bridge. The flags below are the CLI contract shared with kube-proxy's names.
// Healthy when GET /healthz on its healthz address (node-namespace loopback) returns 200.
import { join } from 'node:path';
import { nsArgv, nsExec, type NodeNet } from './netns.ts';
import { ManagedProcess, REPO_ROOT, nodeBin, waitFor } from './proc.ts';

export interface NodePortProxyOptions {
  node: NodeNet;
  runDir: string;
  /** kubeconfig valid inside the node namespace. */
  kubeconfig: string;
  proxyName?: string;
  logLevel?: string;
  extraArgs?: string[];
}

export const NPP_HEALTHZ = '127.0.0.1:10266';
export const NPP_METRICS = '127.0.0.1:10265';
export const NPP_ADMIN = '127.0.0.1:10267';

export class NodePortProxy {
  readonly node: NodeNet;
  private readonly proc: ManagedProcess;

  private constructor(node: NodeNet, proc: ManagedProcess) {
    this.node = node;
    this.proc = proc;
  }

  static async start(opts: NodePortProxyOptions): Promise<NodePortProxy> {
    const proc = new ManagedProcess({
      name: `nodeport-proxy-${opts.node.name}`,
      runDir: opts.runDir,
      cwd: REPO_ROOT,
      argv: nsArgv(opts.node.ns, [
        nodeBin(),
        join(REPO_ROOT, 'proxy/cli/bin.ts'),
        '--kubeconfig',
        opts.kubeconfig,
        '--hostname-override',
        opts.node.name,
        '--proxy-name',
        opts.proxyName ?? 'nodeport-proxy',
        '--nodeport-addresses',
        `${opts.node.ip}/32`,
        '--metrics-bind-address',
        NPP_METRICS,
        '--healthz-bind-address',
        NPP_HEALTHZ,
        '--admin-bind-address',
        NPP_ADMIN,
        '--log-level',
        opts.logLevel ?? 'info',
        ...(opts.extraArgs ?? []),
      ]),
    });
    const p = new NodePortProxy(opts.node, proc);
    await waitFor(`nodeport-proxy on ${opts.node.name} healthy`, () => p.healthy(), { timeoutMs: 60_000, intervalMs: 250 }).catch((e) => {
      throw new Error(`${e.message}\n${proc.tail()}`);
    });
    return p;
  }

  async healthy(): Promise<boolean> {
    if (!this.proc.running) throw new Error(`nodeport-proxy exited:\n${this.proc.tail()}`);
    return (await this.get(NPP_HEALTHZ, '/healthz')).status === 200;
  }

  /** GET on one of the proxy's loopback endpoints inside its namespace. */
  async get(address: string, path: string): Promise<{ status: number; body: string }> {
    const r = await nsExec(this.node.ns, ['curl', '-s', '--max-time', '3', '-w', '\n%{http_code}', `http://${address}${path}`], { allowFail: true });
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)) || 0, body: r.stdout.slice(0, i) };
  }

  get logFile(): string {
    return this.proc.logFile;
  }

  tail(lines = 40): string {
    return this.proc.tail(lines);
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 10_000);
  }
}
