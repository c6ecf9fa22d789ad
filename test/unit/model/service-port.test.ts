// parseService: which Services and ports get a NodePort listener (kube-proxy-semantics.md,
// sections 1, 3, 4). Table-driven, inputs built with the object builders.
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../proxy/errors.ts';
import { DEFAULT_AFFINITY_SECONDS, parseService, type ServiceParse } from '../../../proxy/model/service-port.ts';
import { service } from '../../support/objects.ts';

interface PortExpect {
  key: string;
  portName: string;
  protocol: string;
  port: number;
  nodePort: number;
  externalTrafficPolicy?: string;
  affinitySeconds?: number;
}

interface Case {
  name: string;
  svc: any;
  want: { skipped: string } | { ports: PortExpect[]; warnings?: RegExp[] };
}

const cases: Case[] = [
  {
    name: 'ExternalName is skipped',
    svc: { ...service({ name: 'ext', nodePort: 30001 }), spec: { type: 'ExternalName', externalName: 'example.com' } },
    want: { skipped: 'ExternalName' },
  },
  { name: 'headless (clusterIP None) is skipped', svc: service({ name: 'hl', nodePort: 30001, clusterIP: 'None' }), want: { skipped: 'headless' } },
  { name: 'empty clusterIP is skipped as headless', svc: service({ name: 'hl', nodePort: 30001, clusterIP: '' }), want: { skipped: 'headless' } },
  {
    name: 'ClusterIP type without nodePorts is skipped',
    svc: service({ name: 'cip', nodePort: 30001, type: 'ClusterIP', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
    want: { skipped: 'no-nodeports' },
  },
  {
    name: 'ClusterIP type is skipped even if a stale nodePort is present',
    svc: service({ name: 'cip', nodePort: 30001, type: 'ClusterIP' }),
    want: { skipped: 'no-nodeports' },
  },
  {
    name: 'LoadBalancer without allocated nodePorts is skipped',
    svc: service({ name: 'lb', nodePort: 30001, type: 'LoadBalancer', ports: [{ name: 'http', port: 80 }] }),
    want: { skipped: 'no-nodeports' },
  },
  {
    name: 'NodePort: one port',
    svc: service({ name: 'web', nodePort: 30080 }),
    want: {
      ports: [
        { key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, externalTrafficPolicy: 'Cluster', affinitySeconds: 0 },
      ],
    },
  },
  {
    name: 'LoadBalancer: every port with a nodePort',
    svc: service({ name: 'lb', namespace: 'shop', nodePort: 30080, type: 'LoadBalancer', extraPorts: [{ name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }] }),
    want: {
      ports: [
        { key: 'shop/lb:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
        { key: 'shop/lb:dns/UDP', portName: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 },
      ],
    },
  },
  {
    name: 'protocol defaults to TCP, port name defaults to empty',
    svc: service({ name: 'web', nodePort: 30080, ports: [{ port: 80, nodePort: 30080 }] }),
    want: { ports: [{ key: 'default/web:/TCP', portName: '', protocol: 'TCP', port: 80, nodePort: 30080 }] },
  },
  {
    name: 'a port without a nodePort is left out, the others kept',
    svc: service({ name: 'web', nodePort: 30080, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 30081 }] }),
    want: { ports: [{ key: 'default/web:b/TCP', portName: 'b', protocol: 'TCP', port: 81, nodePort: 30081 }] },
  },
  {
    name: 'bad nodePort skipped with a warning naming the object, good port kept',
    svc: service({
      name: 'web',
      namespace: 'shop',
      nodePort: 0,
      ports: [
        { name: 'bad', port: 80, nodePort: 70000 },
        { name: 'text', port: 81, nodePort: '30081' },
        { name: 'good', port: 82, nodePort: 30082 },
      ],
    }),
    want: {
      ports: [{ key: 'shop/web:good/TCP', portName: 'good', protocol: 'TCP', port: 82, nodePort: 30082 }],
      warnings: [/^Service\/shop\/web: spec\.ports\[0\]\.nodePort 70000/, /^Service\/shop\/web: spec\.ports\[1\]\.nodePort "30081"/],
    },
  },
  {
    name: 'every nodePort bad: no ports, but warnings (not silently skipped)',
    svc: service({ name: 'web', nodePort: 0, ports: [{ name: 'http', port: 80, nodePort: -1 }] }),
    want: { ports: [], warnings: [/Service\/default\/web: spec\.ports\[0\]\.nodePort -1/] },
  },
  {
    name: 'unknown protocol skipped with a warning',
    svc: service({ name: 'web', nodePort: 0, ports: [{ name: 'x', port: 80, nodePort: 30080, protocol: 'ICMP' }] }),
    want: { ports: [], warnings: [/Service\/default\/web: spec\.ports\[0\]\.protocol "ICMP"/] },
  },
  {
    name: 'externalTrafficPolicy Local',
    svc: service({ name: 'web', nodePort: 30080, externalTrafficPolicy: 'Local' }),
    want: { ports: [{ key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, externalTrafficPolicy: 'Local' }] },
  },
  {
    name: 'externalTrafficPolicy unset means Cluster',
    svc: (() => {
      const s = service({ name: 'web', nodePort: 30080 });
      delete s.spec.externalTrafficPolicy;
      return s;
    })(),
    want: { ports: [{ key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, externalTrafficPolicy: 'Cluster' }] },
  },
  {
    name: 'ClientIP affinity without config: default 10800 s',
    svc: service({ name: 'web', nodePort: 30080, clientIPAffinityNoConfig: true }),
    want: { ports: [{ key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, affinitySeconds: 10800 }] },
  },
  {
    name: 'ClientIP affinity with explicit timeout',
    svc: service({ name: 'web', nodePort: 30080, clientIPAffinitySeconds: 60 }),
    want: { ports: [{ key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, affinitySeconds: 60 }] },
  },
  {
    name: 'sessionAffinity None: no affinity even with a config',
    svc: (() => {
      const s = service({ name: 'web', nodePort: 30080, clientIPAffinitySeconds: 60 });
      s.spec.sessionAffinity = 'None';
      return s;
    })(),
    want: { ports: [{ key: 'default/web:http/TCP', portName: 'http', protocol: 'TCP', port: 80, nodePort: 30080, affinitySeconds: 0 }] },
  },
];

function check(got: ServiceParse, want: Case['want']): void {
  if ('skipped' in want) {
    expect(got).toEqual({ kind: 'skipped', reason: want.skipped });
    return;
  }
  expect(got.kind).toBe('ports');
  if (got.kind !== 'ports') return;
  expect(got.ports.map((p) => p.key)).toEqual(want.ports.map((p) => p.key));
  got.ports.forEach((p, i) => {
    expect(p).toMatchObject(want.ports[i]!);
    expect(Object.isFrozen(p)).toBe(true);
  });
  const warnings = want.warnings ?? [];
  expect(got.warnings).toHaveLength(warnings.length);
  warnings.forEach((re, i) => expect(got.warnings[i]).toMatch(re));
}

describe('parseService', () => {
  it.each(cases)('$name', ({ svc, want }) => {
    const before = structuredClone(svc);
    check(parseService(svc), want);
    expect(svc).toEqual(before); // never mutates its input
  });

  it('the default affinity timeout is kube-proxy\'s 3 h', () => {
    expect(DEFAULT_AFFINITY_SECONDS).toBe(10800);
  });

  it('carries namespace, name, uid and serviceKey', () => {
    const got = parseService(service({ name: 'web', namespace: 'shop', nodePort: 30080 }));
    expect(got.kind === 'ports' && got.ports[0]).toMatchObject({ serviceKey: 'shop/web', namespace: 'shop', name: 'web', uid: 'uid-web' });
  });

  it.each([
    { name: 'no name', mutate: (s: any) => delete s.metadata.name, ref: 'Service/default/?' },
    { name: 'no namespace', mutate: (s: any) => delete s.metadata.namespace, ref: 'Service/web' },
    { name: 'no spec', mutate: (s: any) => delete s.spec, ref: 'Service/default/web' },
  ])('malformed ($name): NPP_BAD_OBJECT naming the object', ({ mutate, ref }) => {
    const s = service({ name: 'web', nodePort: 30080 });
    mutate(s);
    let err: unknown;
    try {
      parseService(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('NPP_BAD_OBJECT');
    expect((err as Error).message.startsWith(`${ref}:`)).toBe(true);
  });
});
