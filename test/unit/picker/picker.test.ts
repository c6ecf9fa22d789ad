// The picker: traffic policy -> not tried -> ClientIP affinity -> avoid recent failures ->
// least connections or random (kube-proxy-semantics.md items 18, 24-26).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { candidateEndpoints } from '../../../proxy/picker/endpoint-set.ts';
import { type Algorithm, Picker, type PickRequest } from '../../../proxy/picker/picker.ts';
import { BackendTable } from '../../../proxy/table/backend-table.ts';
import { endpointSlice, service, type EndpointSpec, type ServiceSpec } from '../../support/objects.ts';

const NODE = 'node-a';

/** A real table fed with builder objects; returns it and a function for the current route. */
function routeOf(eps: EndpointSpec[], svc: Partial<ServiceSpec> = {}) {
  const table = new BackendTable({ nodeName: NODE, onChange: () => {}, onWarning: () => {} });
  table.upsertService(service({ name: 'web', nodePort: 30080, ...svc }));
  table.upsertEndpointSlice(endpointSlice({ service: 'web', port: 80, endpoints: eps }));
  return {
    table,
    route: () => table.route('TCP', 30080)!,
    setEndpoints: (next: EndpointSpec[]) => table.upsertEndpointSlice(endpointSlice({ service: 'web', port: 80, endpoints: next })),
  };
}

const eps3 = [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }];

function req(clientIP = '192.0.2.1', tried: string[] = [], clientIsLocal = false): PickRequest {
  return { clientIP, clientIsLocal, tried: new Set(tried) };
}

/** A deterministic "random": cycles through the given values. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

function picker(opts: { algorithm?: Algorithm; conns?: Record<string, number>; random?: () => number; cooldownMs?: number } = {}) {
  return new Picker({
    algorithm: opts.algorithm ?? 'least-connections',
    activeConnections: (k) => opts.conns?.[k] ?? 0,
    failureCooldownMs: opts.cooldownMs ?? 60_000,
    random: opts.random,
  });
}

describe('Picker', () => {
  describe('never returns an endpoint already tried', () => {
    it.each<{ algorithm: Algorithm; affinity: boolean }>([
      { algorithm: 'least-connections', affinity: false },
      { algorithm: 'random', affinity: false },
      { algorithm: 'least-connections', affinity: true },
      { algorithm: 'random', affinity: true },
    ])('$algorithm, affinity $affinity', ({ algorithm, affinity }) => {
      const { route } = routeOf(eps3, affinity ? { clientIPAffinitySeconds: 60 } : {});
      const p = picker({ algorithm });
      for (let round = 0; round < 20; round++) {
        const tried: string[] = [];
        for (let i = 0; i < 3; i++) {
          const e = p.pick(route(), req('192.0.2.1', tried));
          expect(e).toBeDefined();
          expect(tried).not.toContain(e!.key);
          tried.push(e!.key);
        }
        expect(new Set(tried).size).toBe(3);
        expect(p.pick(route(), req('192.0.2.1', tried))).toBeUndefined();
      }
    });
  });

  it('no usable endpoint: undefined', () => {
    const { route } = routeOf([{ ip: '10.0.0.1', ready: false, serving: false }]);
    expect(picker().pick(route(), req())).toBeUndefined();
  });

  describe('least connections', () => {
    it.each<{ name: string; conns: Record<string, number>; tried?: string[]; want: string }>([
      { name: 'the minimum', conns: { '10.0.0.1:80': 5, '10.0.0.2:80': 1, '10.0.0.3:80': 3 }, want: '10.0.0.2:80' },
      { name: 'zero beats any', conns: { '10.0.0.1:80': 1, '10.0.0.2:80': 1 }, want: '10.0.0.3:80' },
      { name: 'the minimum among those not tried', conns: { '10.0.0.1:80': 0, '10.0.0.2:80': 7, '10.0.0.3:80': 9 }, tried: ['10.0.0.1:80'], want: '10.0.0.2:80' },
    ])('picks $name', ({ conns, tried, want }) => {
      const { route } = routeOf(eps3);
      const p = picker({ conns, random: sequence(0, 0.5, 0.99) });
      for (let i = 0; i < 10; i++) expect(p.pick(route(), req('192.0.2.1', tried))!.key).toBe(want);
    });

    it('spreads ties (through the injected random)', () => {
      const { route } = routeOf([...eps3, { ip: '10.0.0.4' }]);
      const p = picker({ conns: { '10.0.0.4:80': 2 }, random: sequence(0, 0.34, 0.67) });
      const got = Array.from({ length: 6 }, () => p.pick(route(), req())!.key);
      expect(got).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
    });

    it('spreads ties with the default Math.random', () => {
      const { route } = routeOf(eps3);
      const p = picker();
      const counts = new Map<string, number>();
      for (let i = 0; i < 600; i++) {
        const k = p.pick(route(), req())!.key;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
      for (const n of counts.values()) expect(n).toBeGreaterThan(100);
    });

    it('reads the live counts at each pick', () => {
      const { route } = routeOf(eps3);
      const conns: Record<string, number> = {};
      const p = picker({ conns, random: () => 0 });
      const got: string[] = [];
      for (let i = 0; i < 6; i++) {
        const k = p.pick(route(), req())!.key;
        conns[k] = (conns[k] ?? 0) + 1;
        got.push(k);
      }
      expect(got).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
    });
  });

  describe('random', () => {
    it.each([
      { r: 0, want: '10.0.0.1:80' },
      { r: 0.34, want: '10.0.0.2:80' },
      { r: 0.999, want: '10.0.0.3:80' },
    ])('uses the injected random ($r -> $want), ignoring connection counts', ({ r, want }) => {
      const { route } = routeOf(eps3);
      const p = picker({ algorithm: 'random', random: () => r, conns: { '10.0.0.1:80': 100, '10.0.0.2:80': 100, '10.0.0.3:80': 100 } });
      expect(p.pick(route(), req())!.key).toBe(want);
    });
  });

  describe('ClientIP affinity', () => {
    it('sticks to the first pick for the same client, not for another client', () => {
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = picker({ algorithm: 'random', random: sequence(0, 0.5, 0.99) });
      const first = p.pick(route(), req('192.0.2.1'))!.key;
      expect(first).toBe('10.0.0.1:80');
      for (let i = 0; i < 5; i++) expect(p.pick(route(), req('192.0.2.1'))!.key).toBe(first);
      expect(p.pick(route(), req('192.0.2.2'))!.key).toBe('10.0.0.2:80');
      expect(p.pick(route(), req('192.0.2.1'))!.key).toBe(first);
    });

    it('sticks even when least-connections would choose another', () => {
      const conns: Record<string, number> = {};
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = picker({ conns, random: () => 0 });
      const first = p.pick(route(), req())!.key;
      conns[first] = 50;
      expect(p.pick(route(), req())!.key).toBe(first);
    });

    it('without affinity the same client is balanced', () => {
      const { route } = routeOf(eps3);
      const p = picker({ algorithm: 'random', random: sequence(0, 0.5, 0.99) });
      const got = new Set(Array.from({ length: 3 }, () => p.pick(route(), req('192.0.2.1'))!.key));
      expect(got.size).toBe(3);
    });

    it.each([
      { name: 'not ready', next: [{ ip: '10.0.0.1', ready: false, serving: false }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }] },
      { name: 'removed', next: [{ ip: '10.0.0.2' }, { ip: '10.0.0.3' }] },
    ])('moves when the pinned endpoint leaves the usable set ($name), and sticks to the new one', ({ next }) => {
      const r = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = picker({ algorithm: 'random', random: sequence(0, 0.99, 0) });
      expect(p.pick(r.route(), req())!.key).toBe('10.0.0.1:80');
      r.setEndpoints(next);
      const moved = p.pick(r.route(), req())!.key;
      expect(moved).not.toBe('10.0.0.1:80');
      r.setEndpoints(eps3); // the old endpoint comes back: the client stays where it is now
      expect(p.pick(r.route(), req())!.key).toBe(moved);
    });

    it('a pinned endpoint already tried for this connection is not used', () => {
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = picker({ algorithm: 'random', random: () => 0 });
      expect(p.pick(route(), req())!.key).toBe('10.0.0.1:80');
      expect(p.pick(route(), req('192.0.2.1', ['10.0.0.1:80']))!.key).toBe('10.0.0.2:80');
    });

    it('is per service port: another Service has its own pin', () => {
      const a = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const b = routeOf(eps3, { clientIPAffinitySeconds: 60, name: 'api' });
      b.table.upsertEndpointSlice(endpointSlice({ service: 'api', port: 80, endpoints: eps3 }));
      const p = picker({ algorithm: 'random', random: sequence(0, 0.99) });
      expect(p.pick(a.route(), req())!.key).toBe('10.0.0.1:80');
      expect(p.pick(b.route(), req())!.key).toBe('10.0.0.3:80');
      expect(p.pick(a.route(), req())!.key).toBe('10.0.0.1:80');
    });
  });

  describe("ClientIP affinity with 'client-hash' placement (--workers)", () => {
    const hashPicker = (conns: Record<string, number> = {}) =>
      new Picker({ algorithm: 'least-connections', activeConnections: (k) => conns[k] ?? 0, failureCooldownMs: 60_000, affinityPlacement: 'client-hash' });
    const clients = Array.from({ length: 60 }, (_, i) => `192.0.2.${i + 1}`);

    it('independent pickers (workers) place each client on the same endpoint, whatever their load', () => {
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const w1 = hashPicker({ '10.0.0.1:80': 9 });
      const w2 = hashPicker({ '10.0.0.2:80': 9 });
      for (const c of clients) expect(w2.pick(route(), req(c))!.key).toBe(w1.pick(route(), req(c))!.key);
    });

    it('spreads clients over every endpoint', () => {
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = hashPicker();
      const counts = new Map<string, number>();
      for (const c of clients) counts.set(p.pick(route(), req(c))!.key, (counts.get(p.pick(route(), req(c))!.key) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
      for (const n of counts.values()) expect(n).toBeGreaterThanOrEqual(8); // 20 expected each
    });

    it('when the pinned endpoint goes, every picker moves the client to the same new one', () => {
      const r = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const w1 = hashPicker();
      const w2 = hashPicker();
      const before = new Map(clients.map((c) => [c, w1.pick(r.route(), req(c))!.key]));
      r.setEndpoints([{ ip: '10.0.0.2' }, { ip: '10.0.0.3' }]);
      for (const c of clients) {
        const a = w1.pick(r.route(), req(c))!.key;
        expect(w2.pick(r.route(), req(c))!.key).toBe(a); // w2 never saw this client before
        if (before.get(c) !== '10.0.0.1:80') expect(a).toBe(before.get(c)); // only the removed one's clients move
      }
    });

    it('Services without affinity keep the base balancer', () => {
      const { route } = routeOf(eps3);
      const p = hashPicker({ '10.0.0.1:80': 5, '10.0.0.2:80': 5 });
      for (const c of clients.slice(0, 10)) expect(p.pick(route(), req(c))!.key).toBe('10.0.0.3:80');
    });
  });

  describe('recent connect failures', () => {
    it('avoided while others exist', () => {
      const { route } = routeOf(eps3);
      const p = picker({ random: () => 0 });
      p.reportConnectFailure('10.0.0.1:80');
      p.reportConnectFailure('10.0.0.2:80');
      for (let i = 0; i < 5; i++) expect(p.pick(route(), req())!.key).toBe('10.0.0.3:80');
    });

    it('used when they are the only ones', () => {
      const { route } = routeOf(eps3);
      const p = picker({ random: () => 0 });
      for (const e of eps3) p.reportConnectFailure(`${e.ip}:80`);
      expect(p.pick(route(), req())!.key).toBe('10.0.0.1:80');
      expect(p.pick(route(), req('192.0.2.1', ['10.0.0.1:80', '10.0.0.2:80']))!.key).toBe('10.0.0.3:80');
    });

    it('a failed pinned endpoint is left for another while it cools down', () => {
      const { route } = routeOf(eps3, { clientIPAffinitySeconds: 60 });
      const p = picker({ algorithm: 'random', random: () => 0 });
      expect(p.pick(route(), req())!.key).toBe('10.0.0.1:80');
      p.reportConnectFailure('10.0.0.1:80');
      expect(p.pick(route(), req())!.key).toBe('10.0.0.2:80');
    });

    it('forgotten after the cooldown', async () => {
      const { route } = routeOf(eps3);
      const p = picker({ random: () => 0, cooldownMs: 30 });
      p.reportConnectFailure('10.0.0.1:80');
      expect(p.pick(route(), req())!.key).toBe('10.0.0.2:80');
      await sleep(80);
      expect(p.pick(route(), req())!.key).toBe('10.0.0.1:80');
    });
  });

  describe('externalTrafficPolicy', () => {
    const mixed = [{ ip: '10.0.0.1', nodeName: 'node-b' }, { ip: '10.0.0.2', nodeName: NODE }, { ip: '10.0.0.3', nodeName: 'node-c' }];
    it.each([
      { name: 'Cluster, off-node client: cluster set', policy: 'Cluster' as const, local: false, eps: mixed, want: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'] },
      { name: 'Local, off-node client: local set only', policy: 'Local' as const, local: false, eps: mixed, want: ['10.0.0.2:80'] },
      { name: 'Local, client on this node: cluster set', policy: 'Local' as const, local: true, eps: mixed, want: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'] },
      { name: 'Local, no local endpoint, off-node client: nothing', policy: 'Local' as const, local: false, eps: [mixed[0]!, mixed[2]!], want: [] },
      {
        name: 'Local, no local endpoint, client on this node: still works',
        policy: 'Local' as const,
        local: true,
        eps: [mixed[0]!, mixed[2]!],
        want: ['10.0.0.1:80', '10.0.0.3:80'],
      },
    ])('$name', ({ policy, local, eps, want }) => {
      const { route } = routeOf(eps, { externalTrafficPolicy: policy });
      expect(candidateEndpoints(route(), local).map((e) => e.key)).toEqual(want);
      const p = picker({ algorithm: 'random', random: sequence(0, 0.5, 0.99) });
      const picked = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const e = p.pick(route(), req('192.0.2.1', [], local));
        if (e) picked.add(e.key);
      }
      expect([...picked].sort()).toEqual(want);
    });
  });
});
