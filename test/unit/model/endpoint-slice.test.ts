// parseEndpointSlice: how an EndpointSlice is read (kube-proxy-semantics.md, section 2, items 7-11
// and 15). Table-driven, inputs built with the object builders.
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../proxy/errors.ts';
import { parseEndpointSlice, type SliceEndpoint, type SlicePort } from '../../../proxy/model/endpoint-slice.ts';
import { endpointSlice } from '../../support/objects.ts';

type Want =
  | { ignored: RegExp }
  | { ports?: SlicePort[]; endpoints?: Partial<SliceEndpoint>[]; triggerTimeMs?: number | undefined; family?: string; serviceKey?: string };

interface Case {
  name: string;
  slice: any;
  want: Want;
}

const base = { service: 'web', port: 8080 };

const cases: Case[] = [
  {
    name: 'no service-name label: ignored',
    slice: (() => {
      const s = endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1' }] });
      delete s.metadata.labels['kubernetes.io/service-name'];
      return s;
    })(),
    want: { ignored: /kubernetes\.io\/service-name/ },
  },
  {
    name: 'empty service-name label: ignored',
    slice: (() => {
      const s = endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1' }] });
      s.metadata.labels['kubernetes.io/service-name'] = '';
      return s;
    })(),
    want: { ignored: /kubernetes\.io\/service-name/ },
  },
  { name: 'FQDN slice: ignored', slice: endpointSlice({ ...base, addressType: 'FQDN', endpoints: [{ ip: 'a.example.com' }] }), want: { ignored: /FQDN/ } },
  {
    name: 'IPv4 slice: service key from the label and namespace',
    slice: endpointSlice({ ...base, namespace: 'shop', endpoints: [{ ip: '10.0.0.1' }] }),
    want: { family: 'IPv4', serviceKey: 'shop/web', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ ip: '10.0.0.1' }] },
  },
  {
    name: 'IPv6 slice: parsed as IPv6, addresses lower-cased',
    slice: endpointSlice({ ...base, addressType: 'IPv6', endpoints: [{ ip: 'FD00::1' }] }),
    want: { family: 'IPv6', endpoints: [{ ip: 'fd00::1' }] },
  },
  {
    name: 'nil port name and zero / nil port number skipped; empty name kept; protocol defaults to TCP',
    slice: endpointSlice({
      ...base,
      ports: [
        { name: null, port: 80, protocol: 'TCP' },
        { port: 81 },
        { name: 'zero', port: 0 },
        { name: 'nil', port: null },
        { name: '', port: 82 },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'noproto', port: 83 },
      ],
      endpoints: [{ ip: '10.0.0.1' }],
    }),
    want: {
      ports: [
        { name: '', port: 82, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'noproto', port: 83, protocol: 'TCP' },
      ],
    },
  },
  {
    name: 'nil conditions: ready and serving, not terminating',
    slice: endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1', noConditions: true }] }),
    want: { endpoints: [{ ip: '10.0.0.1', ready: true, serving: true, terminating: false }] },
  },
  {
    name: 'nil fields inside conditions: nil ready => ready, nil serving => serving, nil terminating => not',
    slice: endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1', conditions: {} }, { ip: '10.0.0.2', conditions: { ready: null, serving: null, terminating: null } }] }),
    want: {
      endpoints: [
        { ip: '10.0.0.1', ready: true, serving: true, terminating: false },
        { ip: '10.0.0.2', ready: true, serving: true, terminating: false },
      ],
    },
  },
  {
    name: 'nil serving is serving even when not ready (kube-proxy, not the API docs)',
    slice: endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1', conditions: { ready: false } }] }),
    want: { endpoints: [{ ip: '10.0.0.1', ready: false, serving: true, terminating: false }] },
  },
  {
    name: 'explicit conditions are taken as they are; terminating only when true',
    slice: endpointSlice({
      ...base,
      endpoints: [
        { ip: '10.0.0.1', conditions: { ready: false, serving: true, terminating: true } },
        { ip: '10.0.0.2', conditions: { ready: false, serving: false, terminating: true } },
        { ip: '10.0.0.3', conditions: { ready: true, serving: true, terminating: false } },
      ],
    }),
    want: {
      endpoints: [
        { ip: '10.0.0.1', ready: false, serving: true, terminating: true },
        { ip: '10.0.0.2', ready: false, serving: false, terminating: true },
        { ip: '10.0.0.3', ready: true, serving: true, terminating: false },
      ],
    },
  },
  {
    name: 'only addresses[0] is used',
    slice: endpointSlice({ ...base, endpoints: [{ ip: 'unused', addresses: ['10.0.0.1', '10.0.0.2'] }] }),
    want: { endpoints: [{ ip: '10.0.0.1' }] },
  },
  {
    name: 'endpoints with no addresses are skipped',
    slice: endpointSlice({ ...base, endpoints: [{ ip: 'unused', addresses: [] }, { ip: '10.0.0.2' }] }),
    want: { endpoints: [{ ip: '10.0.0.2' }] },
  },
  {
    name: 'leading zeros in IPv4 octets are normalised (ParseIPSloppy)',
    slice: endpointSlice({ ...base, endpoints: [{ ip: '010.000.001.002' }] }),
    want: { endpoints: [{ ip: '10.0.1.2' }] },
  },
  {
    name: 'garbage and other-family addresses are skipped',
    slice: endpointSlice({ ...base, endpoints: [{ ip: 'not-an-ip' }, { ip: 'fd00::1' }, { ip: '10.0.0.300' }, { ip: '10.0.0.3' }] }),
    want: { endpoints: [{ ip: '10.0.0.3' }] },
  },
  {
    name: 'nodeName and zone hints carried',
    slice: endpointSlice({ ...base, endpoints: [{ ip: '10.0.0.1', nodeName: 'n1', zones: ['z1', 'z2'] }, { ip: '10.0.0.2' }] }),
    want: {
      endpoints: [
        { ip: '10.0.0.1', nodeName: 'n1', zoneHints: ['z1', 'z2'] },
        { ip: '10.0.0.2', nodeName: undefined, zoneHints: undefined },
      ],
    },
  },
  {
    name: 'trigger time parsed (RFC 3339 with fraction)',
    slice: endpointSlice({ ...base, endpoints: [], triggerTime: '2026-01-02T03:04:05.678Z' }),
    want: { triggerTimeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) },
  },
  {
    name: 'trigger time with offset',
    slice: endpointSlice({ ...base, endpoints: [], triggerTime: '2026-01-02T05:04:05+02:00' }),
    want: { triggerTimeMs: Date.UTC(2026, 0, 2, 3, 4, 5) },
  },
  { name: 'bad trigger time ignored', slice: endpointSlice({ ...base, endpoints: [], triggerTime: 'yesterday-ish' }), want: { triggerTimeMs: undefined } },
  { name: 'no trigger time', slice: endpointSlice({ ...base, endpoints: [] }), want: { triggerTimeMs: undefined } },
];

describe('parseEndpointSlice', () => {
  it.each(cases)('$name', ({ slice, want }) => {
    const before = structuredClone(slice);
    const got = parseEndpointSlice(slice);
    expect(slice).toEqual(before); // never mutates its input
    if ('ignored' in want) {
      expect(got.kind).toBe('ignored');
      if (got.kind === 'ignored') expect(got.reason).toMatch(want.ignored);
      return;
    }
    expect(got.kind).toBe('slice');
    if (got.kind !== 'slice') return;
    if (want.family) expect(got.slice.family).toBe(want.family);
    if (want.serviceKey) expect(got.slice.serviceKey).toBe(want.serviceKey);
    if (want.ports) expect(got.slice.ports).toEqual(want.ports);
    if (want.endpoints) {
      expect(got.slice.endpoints).toHaveLength(want.endpoints.length);
      want.endpoints.forEach((e, i) => expect(got.slice.endpoints[i]).toMatchObject(e));
    }
    if ('triggerTimeMs' in want) expect(got.slice.triggerTimeMs).toBe(want.triggerTimeMs);
  });

  it('slice key and name come from the metadata', () => {
    const got = parseEndpointSlice(endpointSlice({ ...base, name: 'web-xyz', namespace: 'shop', endpoints: [] }));
    expect(got).toMatchObject({ kind: 'slice', slice: { sliceKey: 'shop/web-xyz', sliceName: 'web-xyz', serviceKey: 'shop/web' } });
  });

  it('a Date trigger time (from a deserialising client) is accepted', () => {
    const s = endpointSlice({ ...base, endpoints: [] });
    s.metadata.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': new Date(1_700_000_000_000) };
    const got = parseEndpointSlice(s);
    expect(got.kind === 'slice' && got.slice.triggerTimeMs).toBe(1_700_000_000_000);
  });

  it('no name: NPP_BAD_OBJECT', () => {
    const s = endpointSlice({ ...base, endpoints: [] });
    delete s.metadata.name;
    expect(() => parseEndpointSlice(s)).toThrow(ProxyError);
    try {
      parseEndpointSlice(s);
    } catch (err) {
      expect((err as ProxyError).code).toBe('NPP_BAD_OBJECT');
      expect((err as Error).message).toMatch(/^EndpointSlice\/default\/\?: /);
    }
  });
});
