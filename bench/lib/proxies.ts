// The userspace proxies under test, each started in the node namespace listening on the node IP
// at the same NodePorts and forwarding to the same pod(s). Every one runs with its packaged
// defaults except what the workload needs (timeouts long enough for idle connections, fd and
// connection limits above 10,000), so none is tuned for the benchmark and none is crippled.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { background, fdHardLimit, inNs, must, run, waitFor, type Background } from './exec.ts';
import { tcpReachable } from './topology.ts';
import type { ServicePortSpec } from './backends.ts';

export interface Target {
  name: string;
  /** 'none' = direct to the pod; 'userspace' = a process whose CPU and RSS we can read; 'kernel' = NAT rules. */
  kind: 'none' | 'userspace' | 'kernel';
  host: string;
  port(service: string): number;
  /** pid of the proxy's root process (userspace only). */
  pid?: number;
  stop(): Promise<void>;
}

export interface ProxyEnv {
  nodeNs: string;
  clientNs: string;
  nodeIp: string;
  podIps: string[];
  services: ServicePortSpec[];
  workDir: string;
  node: string;
  repoRoot: string;
}

/** Resolves with t once its http NodePort accepts connections from the client namespace. */
export async function ready(env: ProxyEnv, t: Target, proc?: Background): Promise<Target> {
  const http = env.services.find((s) => s.name === 'http')!;
  await waitFor(`${t.name} on ${t.host}:${t.port('http')}`, async () => {
    if (proc && proc.child.exitCode !== null) throw new Error(`${t.name} exited ${proc.child.exitCode}`);
    return tcpReachable(env.clientNs, t.host, t.port(http.name));
  }, 60_000, 100);
  return t;
}

export function direct(env: ProxyEnv): Target {
  const byName = new Map(env.services.map((s) => [s.name, s.targetPort]));
  return { name: 'direct', kind: 'none', host: env.podIps[0], port: (s) => byName.get(s)!, stop: async () => {} };
}

export const nodePortOf = (env: ProxyEnv) => {
  const byName = new Map(env.services.map((s) => [s.name, s.nodePort]));
  return (s: string) => byName.get(s)!;
};

export async function haproxy(env: ProxyEnv): Promise<Target> {
  const dir = join(env.workDir, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const sections = env.services.map((s) => `
listen ${s.name}
  bind ${env.nodeIp}:${s.nodePort}
  mode tcp
${env.podIps.map((ip, i) => `  server pod${i + 1} ${ip}:${s.targetPort}`).join('\n')}`).join('\n');
  // No global maxconn: HAProxy derives it from the fd limit, which is what an operator gets.
  writeFileSync(join(dir, 'haproxy.cfg'), `global
defaults
  mode tcp
  balance roundrobin
  timeout connect 5s
  timeout client 1h
  timeout server 1h
${sections}
`);
  const proc = background(inNs(env.nodeNs, ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')]), join(dir, 'haproxy.log'));
  return ready(env, { name: 'haproxy', kind: 'userspace', host: env.nodeIp, port: nodePortOf(env), pid: proc.pid, stop: () => proc.stop() }, proc);
}

export async function nginxStream(env: ProxyEnv): Promise<Target> {
  const dir = join(env.workDir, 'nginx-stream');
  mkdirSync(dir, { recursive: true });
  const servers = env.services.map((s) => `
  upstream ${s.name} {
${env.podIps.map((ip) => `    server ${ip}:${s.targetPort};`).join('\n')}
  }
  server { listen ${env.nodeIp}:${s.nodePort} backlog=8192; proxy_pass ${s.name}; proxy_timeout 1h; }`).join('\n');
  writeFileSync(join(dir, 'nginx.conf'), `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes auto;
worker_rlimit_nofile ${fdHardLimit()};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${Math.min(100_000, fdHardLimit() - 100)}; }
stream {${servers}
}
`);
  const proc = background(inNs(env.nodeNs, ['nginx', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']), join(dir, 'nginx.out'));
  return ready(env, { name: 'nginx-stream', kind: 'userspace', host: env.nodeIp, port: nodePortOf(env), pid: proc.pid, stop: () => proc.stop('SIGQUIT') }, proc);
}

/**
 * Kubernetes objects (v1 Service + discovery.k8s.io/v1 EndpointSlice) for the objects file. With
 * proxyName null (kube-proxy through the apiserver): no service-proxy-name label, no selector, and
 * a hand-made slice (managed-by not the EndpointSlice controller's, so no controller touches it).
 */
export function objectsFor(name: string, ports: { name: string; nodePort: number; targetPort: number }[], ips: string[], namespace = 'bench', proxyName: string | null = 'nodeport-proxy'): object[] {
  const labels = proxyName ? { 'service.kubernetes.io/service-proxy-name': proxyName } : {};
  return [
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace, labels },
      spec: {
        // kube-proxy (and so nodeport-proxy) skips a Service without a ClusterIP as headless.
        type: 'NodePort', clusterIP: '10.96.0.10', ...(proxyName ? { selector: { app: name } } : {}),
        ports: ports.map((p) => ({ name: p.name, protocol: 'TCP', port: p.targetPort, targetPort: p.targetPort, nodePort: p.nodePort })),
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace, labels: { ...labels, 'kubernetes.io/service-name': name, ...(proxyName ? {} : { 'endpointslice.kubernetes.io/managed-by': 'bench.nodeport-proxy' }) } },
      addressType: 'IPv4',
      ports: ports.map((p) => ({ name: p.name, protocol: 'TCP', port: p.targetPort })),
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
    },
  ];
}

export function writeObjectsFile(path: string, objects: object[]): void {
  writeFileSync(path, objects.map((o) => stringify(o)).join('---\n'));
}

export interface NodeportProxyOptions {
  extraArgs?: string[];
  label?: string;
  cpuProfDir?: string;
  /** A checkout of another revision (the --baseline of a before/after comparison). */
  root?: string;
}

/**
 * The Node flags the image runs the proxy with: what stands between "node" and the entry point
 * in the Dockerfile's ENTRYPOINT, so the benchmark measures what operators run.
 */
export function imageNodeFlags(root: string): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const argv = line ? (JSON.parse(line[1]!) as string[]) : [];
  const entry = argv.indexOf('proxy/cli/bin.ts');
  if (argv[0] !== 'node' || entry < 0) throw new Error(`${root}/Dockerfile: ENTRYPOINT is not ["node", ..., "proxy/cli/bin.ts"]`);
  return argv.slice(1, entry);
}

export function nodeportProxyArgv(env: ProxyEnv, objectsFile: string, opts: NodeportProxyOptions = {}): string[] {
  const root = opts.root ?? env.repoRoot;
  return [
    env.node,
    ...imageNodeFlags(root),
    ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []),
    join(root, 'proxy/cli/bin.ts'),
    '--objects-file', objectsFile,
    '--nodeport-addresses', `${env.nodeIp}/32`,
    '--metrics-bind-address', '127.0.0.1:10265',
    '--healthz-bind-address', '127.0.0.1:10266',
    '--admin-bind-address', '127.0.0.1:10267',
    // The benchmark stops the proxy between measurements with no connections left open.
    '--shutdown-timeout', '2s',
    ...(opts.extraArgs ?? []),
  ];
}

export async function nodeportProxy(env: ProxyEnv, opts: NodeportProxyOptions = {}): Promise<Target> {
  const dir = join(env.workDir, opts.label ?? 'nodeport-proxy');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'objects.yaml');
  writeObjectsFile(file, objectsFor('bench', env.services, env.podIps));
  const proc = background(inNs(env.nodeNs, nodeportProxyArgv(env, file, opts)), join(dir, 'proxy.log'));
  // SIGTERM lets --cpu-prof write its profile; the proxy drains, so allow it time.
  return ready(env, { name: opts.label ?? 'nodeport-proxy', kind: 'userspace', host: env.nodeIp, port: nodePortOf(env), pid: proc.pid, stop: () => proc.stop('SIGTERM', 15_000) }, proc);
}

export async function toolVersions(node: string): Promise<Record<string, string>> {
  const first = async (argv: string[], re?: RegExp) => {
    const r = await run(argv).catch(() => ({ stdout: '', stderr: 'missing', code: 1 }));
    const text = (r.stdout + r.stderr).trim();
    const m = re ? re.exec(text) : null;
    return m ? m[1] : text.split('\n')[0];
  };
  return {
    node: await first([node, '--version']),
    haproxy: await first(['haproxy', '-v'], /version (\S+)/),
    nginx: await first(['nginx', '-v'], /nginx\/(\S+)/),
    wrk: await first(['wrk', '-v'], /wrk (\S+)/),
    iperf3: await first(['iperf3', '--version'], /iperf (\S+)/),
    iptables: await first(['iptables', '--version']),
    nft: await first(['nft', '--version']),
    'nodeport-proxy': (await must(['git', 'rev-parse', '--short', 'HEAD']).catch(() => '?')).trim(),
  };
}
