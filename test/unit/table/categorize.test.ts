// categorizeEndpoints: kube-proxy's CategorizeEndpoints (kube-proxy-semantics.md, items 12-14).
import { describe, expect, it } from 'vitest';
import { categorizeEndpoints } from '../../../proxy/table/categorize.ts';
import { endpointKey, type Endpoint } from '../../../proxy/table/endpoint.ts';

interface EpSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  local?: boolean;
  zones?: string[];
}

function ep(s: EpSpec): Endpoint {
  return Object.freeze({
    key: endpointKey(s.ip, 80),
    ip: s.ip,
    port: 80,
    ready: s.ready ?? true,
    serving: s.serving ?? s.ready ?? true,
    terminating: s.terminating ?? false,
    nodeName: s.local ? 'this-node' : 'other-node',
    zoneHints: s.zones,
    isLocal: s.local ?? false,
  });
}

const terminatingServing = { ready: false, serving: true, terminating: true };
const terminatingNotServing = { ready: false, serving: false, terminating: true };

interface Case {
  name: string;
  endpoints: EpSpec[];
  zone?: string;
  cluster: string[];
  local: string[];
  hasAny: boolean;
}

const cases: Case[] = [
  { name: 'no endpoints', endpoints: [], cluster: [], local: [], hasAny: false },
  {
    name: 'all ready: all in the cluster set, the local one in the local set',
    endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', local: true }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: ['10.0.0.2'],
    hasAny: true,
  },
  {
    name: 'not ready endpoints are left out while others are ready',
    endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false, serving: false }, { ip: '10.0.0.3', ...terminatingServing }],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'KEP-1669: none ready -> serving+terminating fallback',
    endpoints: [{ ip: '10.0.0.1', ...terminatingServing }, { ip: '10.0.0.2', ...terminatingNotServing }, { ip: '10.0.0.3', ready: false, serving: false }],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'terminating and not serving is never used, even as a last resort',
    endpoints: [{ ip: '10.0.0.1', ...terminatingNotServing, local: true }],
    cluster: [],
    local: [],
    hasAny: false,
  },
  {
    name: 'not ready, serving, not terminating is not a fallback either',
    endpoints: [{ ip: '10.0.0.1', ready: false, serving: true, terminating: false }],
    cluster: [],
    local: [],
    hasAny: false,
  },
  {
    name: 'local set: local ready only',
    endpoints: [{ ip: '10.0.0.1', local: true }, { ip: '10.0.0.2', local: true, ...terminatingServing }, { ip: '10.0.0.3' }],
    cluster: ['10.0.0.1', '10.0.0.3'],
    local: ['10.0.0.1'],
    hasAny: true,
  },
  {
    name: 'local set: no local ready -> local serving+terminating (even if remote ready exist)',
    endpoints: [{ ip: '10.0.0.1', local: true, ...terminatingServing }, { ip: '10.0.0.2' }],
    cluster: ['10.0.0.2'],
    local: ['10.0.0.1'],
    hasAny: true,
  },
  {
    name: 'local set: no local endpoint at all -> empty',
    endpoints: [{ ip: '10.0.0.2' }],
    cluster: ['10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: all hinted and one names this zone -> filtered',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: ['z2'] }, { ip: '10.0.0.3', zones: ['z2', 'z1'] }],
    cluster: ['10.0.0.1', '10.0.0.3'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: partial hints -> all ready used',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2' }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: empty hint list counts as unhinted -> all',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: [] }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: none for this zone -> all',
    zone: 'z3',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: ['z2'] }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: node has no zone -> all',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: ['z2'] }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'zone hints: only ready endpoints count (an unhinted not-ready one does not disable hints)',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: ['z2'] }, { ip: '10.0.0.3', ready: false, serving: false }],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'fallback ignores topology',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z2'], ...terminatingServing }, { ip: '10.0.0.2', zones: ['z1'], ...terminatingServing }],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'local set ignores zone hints',
    zone: 'z1',
    endpoints: [{ ip: '10.0.0.1', zones: ['z1'] }, { ip: '10.0.0.2', zones: ['z2'], local: true }],
    cluster: ['10.0.0.1'],
    local: ['10.0.0.2'],
    hasAny: true,
  },
];

describe('categorizeEndpoints', () => {
  it.each(cases)('$name', ({ endpoints, zone, cluster, local, hasAny }) => {
    const eps = Object.freeze(endpoints.map(ep));
    const got = categorizeEndpoints(eps, zone);
    expect(got.cluster.map((e) => e.ip)).toEqual(cluster);
    expect(got.local.map((e) => e.ip)).toEqual(local);
    expect(got.hasAnyEndpoints).toBe(hasAny);
    expect(Object.isFrozen(got.cluster)).toBe(true);
    expect(Object.isFrozen(got.local)).toBe(true);
    // The sets hold the very endpoint records of the input (drain compares by identity).
    for (const e of [...got.cluster, ...got.local]) expect(eps).toContain(e);
  });
});
