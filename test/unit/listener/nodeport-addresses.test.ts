// --nodeport-addresses: which local addresses accept NodePort traffic (semantics items 31-32).
import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../proxy/errors.ts';
import { createNodePortAddresses, parseCidrList } from '../../../proxy/listener/nodeport-addresses.ts';

const iface = (address: string): os.NetworkInterfaceInfo =>
  ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', netmask: '', mac: '', internal: false, cidr: null }) as os.NetworkInterfaceInfo;

const lister = () => ({ lo: [iface('127.0.0.1'), iface('::1')], eth0: [iface('10.0.0.5'), iface('fd00::5')], eth1: [iface('192.168.1.7')] });

describe('parseCidrList', () => {
  it.each([
    { flag: '10.0.0.0/8', cidrs: ['10.0.0.0/8'] },
    { flag: ' 10.0.0.0/8 , 127.0.0.1/32,', cidrs: ['10.0.0.0/8', '127.0.0.1/32'] },
    { flag: 'fd00::/64', cidrs: ['fd00::/64'] },
  ])('"$flag"', ({ flag, cidrs }) => {
    expect(parseCidrList(flag).cidrs).toEqual(cidrs);
  });

  it.each(['', ',', '10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'eth0', '10.0.0.0/8/1', 'primary'])('"%s" -> NPP_BAD_FLAG naming the flag', (flag) => {
    try {
      parseCidrList(flag);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).code).toBe('NPP_BAD_FLAG');
      expect((err as Error).message).toMatch(/^--nodeport-addresses: /);
    }
  });
});

describe('createNodePortAddresses', () => {
  it.each([
    { flag: undefined, bind: ['0.0.0.0'] },
    { flag: '', bind: ['0.0.0.0'] },
    { flag: '10.0.0.0/8', bind: ['10.0.0.5'] },
    { flag: '10.0.0.0/8,127.0.0.0/8', bind: ['127.0.0.1', '10.0.0.5'] },
    { flag: '0.0.0.0/0', bind: ['127.0.0.1', '10.0.0.5', '192.168.1.7'] },
    { flag: '172.16.0.0/12', bind: [] },
    { flag: 'fd00::/8', bind: [] }, // IPv4 only for now
  ])('bind addresses for $flag', ({ flag, bind }) => {
    expect(createNodePortAddresses(flag, lister).bindAddresses()).toEqual(bind);
  });

  it.each([
    { ip: '10.0.0.5', local: true },
    { ip: '::ffff:10.0.0.5', local: true },
    { ip: '192.168.1.7', local: true },
    { ip: '127.0.0.53', local: true },
    { ip: 'fd00::5', local: true },
    { ip: '10.0.0.6', local: false },
    { ip: '203.0.113.9', local: false },
  ])('isLocal($ip) = $local', ({ ip, local }) => {
    expect(createNodePortAddresses(undefined, lister).isLocal(ip)).toBe(local);
    expect(createNodePortAddresses('10.0.0.0/8', lister).isLocal(ip)).toBe(local);
  });
});
