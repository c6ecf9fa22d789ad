// Property: whatever sequence of EndpointSlice upserts and deletes arrives, the table's endpoints
// for a service port equal a straightforward re-computation from the final set of slices.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendTable } from '../../../proxy/table/backend-table.ts';
import { endpointSlice, service } from '../../support/objects.ts';

const NODE = 'node-a';
const IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.10'];
const SLICE_NAMES = ['web-a', 'web-b', 'web-c'];
const PORTS = [
  { name: 'http', port: 8080, protocol: 'TCP' },
  { name: 'http', port: 8081, protocol: 'TCP' },
  { name: 'http', port: 8080, protocol: 'UDP' },
  { name: 'metrics', port: 9090, protocol: 'TCP' },
];

type Cond = { ready?: boolean; serving?: boolean; terminating?: boolean };
interface EpGen {
  ip: string;
  cond: Cond | undefined;
  local: boolean;
}
type Op = { type: 'upsert'; name: string; portIdx: number[]; eps: EpGen[] } | { type: 'delete'; name: string };

const condArb: fc.Arbitrary<Cond | undefined> = fc.option(
  fc.record({ ready: fc.boolean(), serving: fc.boolean(), terminating: fc.boolean() }, { requiredKeys: [] }),
  { nil: undefined },
);
const epArb: fc.Arbitrary<EpGen> = fc.record({ ip: fc.constantFrom(...IPS), cond: condArb, local: fc.boolean() });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('upsert' as const),
      name: fc.constantFrom(...SLICE_NAMES),
      portIdx: fc.uniqueArray(fc.integer({ min: 0, max: PORTS.length - 1 }), { minLength: 1, maxLength: 2 }),
      eps: fc.array(epArb, { maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('delete' as const), name: fc.constantFrom(...SLICE_NAMES) }) },
);

function sliceObject(op: Extract<Op, { type: 'upsert' }>): any {
  return endpointSlice({
    service: 'web',
    name: op.name,
    port: 0,
    ports: op.portIdx.map((i) => PORTS[i]!),
    endpoints: op.eps.map((e) => ({ ip: e.ip, ...(e.cond ? { conditions: e.cond } : { noConditions: true }), ...(e.local ? { nodeName: NODE } : {}) })),
  });
}

interface Expected {
  key: string;
  /** Every (ready, serving, terminating, isLocal) the merged record may legitimately carry. */
  candidates: { ready: boolean; serving: boolean; terminating: boolean; isLocal: boolean }[];
}

/** The reference: read the final slices directly, without any incremental state. */
function expectedEndpoints(final: Map<string, Extract<Op, { type: 'upsert' }>>): Expected[] {
  const all = new Map<string, Expected['candidates']>();
  for (const op of final.values()) {
    for (const i of op.portIdx) {
      const p = PORTS[i]!;
      if (p.name !== 'http' || p.protocol !== 'TCP') continue;
      for (const e of op.eps) {
        const key = `${e.ip}:${p.port}`;
        const c = {
          ready: e.cond?.ready !== false,
          serving: e.cond?.serving !== false,
          terminating: e.cond?.terminating === true,
          isLocal: e.local,
        };
        all.set(key, [...(all.get(key) ?? []), c]);
      }
    }
  }
  return [...all.entries()]
    .map(([key, copies]) => {
      // A non-terminating copy wins over a terminating one; among equals any copy may win.
      const nonTerminating = copies.filter((c) => !c.terminating);
      return { key, candidates: nonTerminating.length > 0 ? nonTerminating : copies };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

describe('BackendTable (property)', () => {
  it('endpoints after any upsert/delete sequence equal a re-computation from the final slices', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.boolean(), (ops, serviceFirst) => {
        const table = new BackendTable({ nodeName: NODE, onChange: () => {}, onWarning: () => {} });
        const svc = service({ name: 'web', nodePort: 30080, externalTrafficPolicy: 'Local' });
        if (serviceFirst) table.upsertService(svc);
        const final = new Map<string, Extract<Op, { type: 'upsert' }>>();
        for (const op of ops) {
          if (op.type === 'upsert') {
            table.upsertEndpointSlice(sliceObject(op));
            final.set(op.name, op);
          } else {
            table.deleteEndpointSlice(endpointSlice({ service: 'web', name: op.name, port: 8080, endpoints: [] }));
            final.delete(op.name);
          }
        }
        if (!serviceFirst) table.upsertService(svc);

        const route = table.route('TCP', 30080)!;
        const want = expectedEndpoints(final);
        expect(route.endpoints.map((e) => e.key)).toEqual(want.map((w) => w.key));
        route.endpoints.forEach((e, i) => {
          const got = { ready: e.ready, serving: e.serving, terminating: e.terminating, isLocal: e.isLocal };
          expect(want[i]!.candidates).toContainEqual(got);
        });

        // The usable sets follow from the merged endpoints (kube-proxy's CategorizeEndpoints).
        const ready = route.endpoints.filter((e) => e.ready);
        const st = route.endpoints.filter((e) => e.serving && e.terminating);
        const cluster = ready.length > 0 ? ready : st;
        const localReady = ready.filter((e) => e.isLocal);
        const local = localReady.length > 0 ? localReady : st.filter((e) => e.isLocal);
        expect(route.clusterEndpoints.map((e) => e.key)).toEqual(cluster.map((e) => e.key));
        expect(route.localEndpoints.map((e) => e.key)).toEqual(local.map((e) => e.key));
        for (const e of [...route.clusterEndpoints, ...route.localEndpoints]) expect(e.ready || (e.serving && e.terminating)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the result does not depend on the order in which the final slices were last written', () => {
    fc.assert(
      fc.property(fc.uniqueArray(opArb.filter((o) => o.type === 'upsert'), { selector: (o) => o.name, minLength: 1, maxLength: 3 }), (ups) => {
        const run = (order: typeof ups) => {
          const table = new BackendTable({ nodeName: NODE, onChange: () => {}, onWarning: () => {} });
          table.upsertService(service({ name: 'web', nodePort: 30080 }));
          for (const op of order) table.upsertEndpointSlice(sliceObject(op as Extract<Op, { type: 'upsert' }>));
          return table.route('TCP', 30080)!;
        };
        const a = run(ups);
        const b = run([...ups].reverse());
        expect(b.endpoints.map((e) => e.key)).toEqual(a.endpoints.map((e) => e.key));
        expect(b.endpoints.map((e) => e.terminating)).toEqual(a.endpoints.map((e) => e.terminating));
      }),
      { numRuns: 300 },
    );
  });
});
