// Command-line flags, named like kube-proxy's where the meaning carries over. Every bad flag
// becomes one line naming the flag (exit code 2 in bin.ts).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ProxyError } from '../errors.ts';
import { parseCidrList } from '../listener/nodeport-addresses.ts';
import { parseHostPort } from '../observe/http-servers.ts';
import { formatDuration, parseDuration } from './duration.ts';

interface FlagSpec {
  type: 'string' | 'boolean';
  default?: string;
  kind?: 'duration' | 'hostport' | 'int' | 'enum';
  values?: string[];
  help: string;
  arg?: string;
}

export const FLAGS: Record<string, FlagSpec> = {
  'objects-file': { type: 'string', arg: 'PATH', help: 'Standalone source: a YAML/JSON file of Services, EndpointSlices and Nodes, watched for changes.' },
  kubeconfig: { type: 'string', arg: 'PATH', help: 'Kubernetes source: kubeconfig file. Without this and --objects-file: in-cluster config, then ~/.kube/config.' },
  'hostname-override': { type: 'string', arg: 'NAME', help: "This node's name (endpoint locality, the Node object). Default: $NODE_NAME, else the host name." },
  'proxy-name': { type: 'string', default: 'nodeport-proxy', arg: 'NAME', help: 'Serve Services labelled service.kubernetes.io/service-proxy-name=NAME.' },
  'nodeport-addresses': { type: 'string', arg: 'CIDR[,CIDR]', help: 'Local addresses that accept NodePort traffic. Default: all local IPv4 addresses (wildcard listener).' },
  'metrics-bind-address': { type: 'string', default: '127.0.0.1:10265', kind: 'hostport', arg: 'HOST:PORT', help: 'Prometheus /metrics (kube-proxy uses 10249).' },
  'healthz-bind-address': { type: 'string', default: '0.0.0.0:10266', kind: 'hostport', arg: 'HOST:PORT', help: '/healthz and /livez for kubelet probes (kube-proxy uses 10256).' },
  'admin-bind-address': { type: 'string', default: '127.0.0.1:10267', kind: 'hostport', arg: 'HOST:PORT', help: '/debug/connections and /debug/table.' },
  'log-level': { type: 'string', default: 'info', kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], arg: 'LEVEL', help: 'Log level.' },
  'drain-timeout': { type: 'string', default: '0', kind: 'duration', arg: 'DURATION', help: 'Close connections to an endpoint this long after it left the EndpointSlices. 0: let them finish (as kube-proxy does).' },
  'connect-timeout': { type: 'string', default: '2s', kind: 'duration', arg: 'DURATION', help: 'Per-attempt timeout of a backend connect.' },
  'max-connect-attempts': { type: 'string', default: '3', kind: 'int', arg: 'N', help: 'Backend connect attempts per client connection (each on a different endpoint).' },
  'connect-retry-budget': { type: 'string', default: '5s', kind: 'duration', arg: 'DURATION', help: 'Total time for all connect attempts of one client connection.' },
  'idle-timeout': { type: 'string', default: '24h', kind: 'duration', arg: 'DURATION', help: 'Close a connection idle in both directions this long (conntrack established timeout: 24h). 0 disables.' },
  'failed-endpoint-cooldown': { type: 'string', default: '2s', kind: 'duration', arg: 'DURATION', help: 'Avoid an endpoint this long after a failed connect, while others are available.' },
  'lb-algorithm': { type: 'string', default: 'least-connections', kind: 'enum', values: ['least-connections', 'random'], arg: 'NAME', help: 'Load balancing for new connections: least-connections or random (as kube-proxy).' },
  'shutdown-timeout': { type: 'string', default: '25s', kind: 'duration', arg: 'DURATION', help: 'On SIGTERM: stop accepting, wait this long for open connections, then exit.' },
  'health-timeout': { type: 'string', default: '60s', kind: 'duration', arg: 'DURATION', help: '/healthz fails when an update has waited longer than this (kube-proxy: 2 x syncPeriod).' },
  workers: { type: 'string', default: '1', kind: 'int', arg: 'N', help: 'Worker processes sharing every NodePort (SO_REUSEPORT); the primary runs the source and the HTTP servers. 1: one process.' },
  'reuse-port': { type: 'boolean', help: 'Bind NodePorts with SO_REUSEPORT so a new instance can start beside the old one (rolling update).' },
  help: { type: 'boolean', help: 'Show this help.' },
  version: { type: 'boolean', help: 'Show the version.' },
};

export interface Flags {
  objectsFile?: string;
  kubeconfig?: string;
  hostnameOverride: string;
  proxyName: string;
  nodePortAddresses?: string;
  metricsBindAddress: { host: string; port: number };
  healthzBindAddress: { host: string; port: number };
  adminBindAddress: { host: string; port: number };
  logLevel: string;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnectAttempts: number;
  connectRetryBudgetMs: number;
  idleTimeoutMs: number;
  failedEndpointCooldownMs: number;
  lbAlgorithm: 'least-connections' | 'random';
  shutdownTimeoutMs: number;
  healthTimeoutMs: number;
  reusePort: boolean;
  workers: number;
  help: boolean;
  version: boolean;
}

/** More processes than this only add memory and context switches on any node we know. */
const MAX_WORKERS = 64;

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): Flags {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type }]));
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    // node:util's messages name the flag; keep only their first line.
    throw new ProxyError('NPP_BAD_FLAG', String((err as Error).message).split('\n')[0]!.replace(/^Unknown option '(.*)'.*/, 'unknown flag $1'));
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(FLAGS)) {
    const raw = values[name] ?? spec.default;
    const key = camel(name);
    if (spec.type === 'boolean' || raw === undefined) {
      out[key] = spec.type === 'boolean' ? raw === true : raw;
      continue;
    }
    const text = String(raw);
    if (text === '' && spec.kind) throw new ProxyError('NPP_BAD_FLAG', `--${name}: a value is required`);
    switch (spec.kind) {
      case 'duration': {
        const ms = parseDuration(text);
        if (ms === undefined) throw new ProxyError('NPP_BAD_FLAG', `--${name}: "${text}" is not a duration (like 500ms, 2s, 1m30s)`);
        out[`${key}Ms`] = ms;
        break;
      }
      case 'hostport':
        try {
          out[key] = parseHostPort(`--${name}`, text);
        } catch (err) {
          throw new ProxyError('NPP_BAD_FLAG', (err as Error).message);
        }
        break;
      case 'int': {
        // Decimal digits only, like Go's strconv.Atoi: Number() alone takes "0x3", "1e1" and " 3".
        const n = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!Number.isInteger(n) || n < 1) throw new ProxyError('NPP_BAD_FLAG', `--${name}: "${text}" is not a positive integer`);
        out[key] = n;
        break;
      }
      case 'enum':
        if (!spec.values!.includes(text)) throw new ProxyError('NPP_BAD_FLAG', `--${name}: "${text}" is not one of ${spec.values!.join(', ')}`);
        out[key] = text;
        break;
      default:
        out[key] = text;
    }
  }
  const flags = out as unknown as Flags;
  flags.nodePortAddresses = out.nodeportAddresses as string | undefined; // kube-proxy spells it "nodeport"
  if (flags.objectsFile !== undefined && flags.kubeconfig !== undefined) {
    throw new ProxyError('NPP_BAD_FLAG', '--objects-file and --kubeconfig: choose one source');
  }
  if (flags.workers > MAX_WORKERS) throw new ProxyError('NPP_BAD_FLAG', `--workers: ${flags.workers} is more than ${MAX_WORKERS}`);
  if (flags.nodePortAddresses !== undefined) parseCidrList(flags.nodePortAddresses); // validates, throws NPP_BAD_FLAG
  flags.hostnameOverride = (values['hostname-override'] as string | undefined) || env.NODE_NAME || os.hostname();
  return flags;
}

export function helpText(): string {
  const lines = [
    'nodeport-proxy: a userspace NodePort proxy for Kubernetes Services labelled',
    'service.kubernetes.io/service-proxy-name=<proxy name>.',
    '',
    'Usage:',
    '  nodeport-proxy [flags]',
    '  nodeport-proxy connections [--admin-address HOST:PORT]   list proxied connections (like conntrack -L)',
    '',
    'Flags:',
  ];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    const def = spec.default !== undefined ? ` (default ${spec.kind === 'duration' ? formatDuration(parseDuration(spec.default)!) : spec.default})` : '';
    lines.push(`${left.padEnd(40)} ${spec.help}${def}`);
  }
  return lines.join('\n');
}
