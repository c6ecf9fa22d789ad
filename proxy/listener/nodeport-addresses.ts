// --nodeport-addresses: which local addresses accept NodePort traffic (semantics items 31-32).
// Unset means all local addresses, served by one wildcard listener per NodePort (which also
// covers addresses added later). A CIDR list means one listener per matching local address.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import os from 'node:os';
import { ProxyError } from '../errors.ts';

export interface NodePortAddresses {
  /** The addresses to bind, e.g. ['0.0.0.0'] or ['10.0.0.5', '127.0.0.1']. */
  bindAddresses(): string[];
  /** True when `ip` is one of this host's addresses (a caller on this node). */
  isLocal(ip: string): boolean;
  readonly description: string;
}

export type InterfaceLister = () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;

export function parseCidrList(flag: string): { cidrs: string[]; blockList: BlockList } {
  const blockList = new BlockList();
  const cidrs: string[] = [];
  for (const raw of flag.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(raw);
    const addr = m?.[1];
    const bits = m ? Number(m[2]) : NaN;
    const family = addr && isIPv4(addr) ? 'ipv4' : addr && isIPv6(addr) ? 'ipv6' : undefined;
    if (!family || bits > (family === 'ipv4' ? 32 : 128)) {
      throw new ProxyError('NPP_BAD_FLAG', `--nodeport-addresses: "${raw}" is not a CIDR (like 10.0.0.0/8 or 127.0.0.1/32)`);
    }
    blockList.addSubnet(addr!, bits, family);
    cidrs.push(raw);
  }
  if (cidrs.length === 0) throw new ProxyError('NPP_BAD_FLAG', '--nodeport-addresses: empty CIDR list');
  return { cidrs, blockList };
}

export function createNodePortAddresses(flag: string | undefined, listInterfaces: InterfaceLister = os.networkInterfaces): NodePortAddresses {
  const localIPs = () => {
    const ips: { address: string; family: 'ipv4' | 'ipv6' }[] = [];
    for (const infos of Object.values(listInterfaces())) {
      for (const i of infos ?? []) ips.push({ address: i.address, family: i.family === 'IPv4' ? 'ipv4' : 'ipv6' });
    }
    return ips;
  };
  // The local address set changes rarely; refresh it at most once a second for isLocal().
  let cached: Set<string> = new Set();
  let cachedAt = -Infinity;
  const isLocal = (ip: string) => {
    const now = performance.now();
    if (now - cachedAt > 1000) {
      cached = new Set(localIPs().map((a) => a.address));
      cachedAt = now;
    }
    return cached.has(ip.startsWith('::ffff:') ? ip.slice(7) : ip) || ip.startsWith('127.');
  };
  if (flag === undefined || flag === '') {
    return { bindAddresses: () => ['0.0.0.0'], isLocal, description: 'all local IPv4 addresses (0.0.0.0)' };
  }
  const { cidrs, blockList } = parseCidrList(flag);
  return {
    bindAddresses: () =>
      localIPs()
        .filter((a) => a.family === 'ipv4' && blockList.check(a.address, a.family))
        .map((a) => a.address),
    isLocal,
    description: cidrs.join(','),
  };
}
