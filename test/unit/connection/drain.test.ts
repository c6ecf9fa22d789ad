// applyDrain: connections to an endpoint that stopped being usable are marked draining and keep
// flowing; after the endpoint left the slices, --drain-timeout (if set) closes them.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConnectionRecord, ConnectionTable, stateOf } from '../../../proxy/connection/connection-table.ts';
import { applyDrain } from '../../../proxy/connection/drain.ts';
import { BackendTable } from '../../../proxy/table/backend-table.ts';
import { endpointSlice, service, type EndpointSpec, type ServiceSpec } from '../../support/objects.ts';

const NODE = 'node-a';
const WEB_PORT = 'default/web:http/TCP';

interface FakeRecord extends ConnectionRecord {
  client: any;
  backend: any;
}

/** A BackendTable wired to applyDrain exactly like proxy.ts, over a real ConnectionTable. */
function harness(drainTimeoutMs: number, svc: Partial<ServiceSpec> = {}) {
  const connections = new ConnectionTable();
  const drained: ConnectionRecord[] = [];
  const table = new BackendTable({
    nodeName: NODE,
    onWarning: () => {},
    onChange: (change) => applyDrain(change, { table: connections, drainTimeoutMs, onDrained: (rec) => drained.push(rec) }),
  });
  const webService = service({ name: 'web', nodePort: 30080, ...svc });
  table.upsertService(webService);
  const setEndpoints = (eps: EndpointSpec[], name = 'web-a') => table.upsertEndpointSlice(endpointSlice({ service: 'web', name, port: 80, endpoints: eps }));
  const connect = (backendKey: string, servicePortKey = WEB_PORT): FakeRecord => {
    const id = connections.nextId();
    const rec: FakeRecord = {
      id,
      clientAddress: '192.0.2.1',
      clientPort: 40000 + id,
      nodePort: 30080,
      protocol: 'TCP',
      serviceKey: servicePortKey.split(':')[0]!,
      servicePortKey,
      startedAtMs: 0,
      client: { destroy: vi.fn(), bytesRead: 0, bytesWritten: 0 },
      backend: undefined,
      backendKey: undefined,
      attempts: 1,
      halfClosed: false,
      drain: undefined,
      drainTimer: undefined,
      reportedBytesIn: 0,
      reportedBytesOut: 0,
    };
    connections.add(rec);
    connections.attachBackend(rec, backendKey, { destroy: vi.fn() } as any);
    return rec;
  };
  return { table, connections, drained, setEndpoints, connect, webService };
}

const closed = (r: FakeRecord) => r.client.destroy.mock.calls.length > 0 || r.backend.destroy.mock.calls.length > 0;

describe('applyDrain', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const all = [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }];

  interface Case {
    name: string;
    change: (h: ReturnType<typeof harness>) => void;
    want: 'not-ready' | 'removed' | undefined;
    /** The drain mark of the connection to 10.0.0.2, untouched unless said otherwise. */
    wantTwo?: 'not-ready' | 'removed';
  }
  const cases: Case[] = [
    { name: 'unchanged endpoint: not draining', change: (h) => h.setEndpoints([{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }]), want: undefined },
    { name: 'not ready (still serving): not-ready', change: (h) => h.setEndpoints([{ ip: '10.0.0.1', ready: false, serving: true }, { ip: '10.0.0.2' }]), want: 'not-ready' },
    {
      name: 'terminating while others are ready: not-ready',
      change: (h) => h.setEndpoints([{ ip: '10.0.0.1', ready: false, serving: true, terminating: true }, { ip: '10.0.0.2' }]),
      want: 'not-ready',
    },
    {
      name: 'terminating and serving as the KEP-1669 fallback: still usable, not draining',
      change: (h) => h.setEndpoints([{ ip: '10.0.0.1', ready: false, serving: true, terminating: true }, { ip: '10.0.0.2', ready: false, serving: false }]),
      want: undefined,
      wantTwo: 'not-ready',
    },
    { name: 'removed from the slice: removed', change: (h) => h.setEndpoints([{ ip: '10.0.0.2' }]), want: 'removed' },
    {
      name: 'slice deleted: removed',
      change: (h) => h.table.deleteEndpointSlice(endpointSlice({ service: 'web', name: 'web-a', port: 80, endpoints: [] })),
      want: 'removed',
      wantTwo: 'removed',
    },
    { name: 'Service deleted: removed', change: (h) => h.table.deleteService(h.webService), want: 'removed', wantTwo: 'removed' },
    {
      // Same service port, same ready endpoint: only the NodePort number moved, so nothing drains.
      name: 'Service nodePort changed: endpoint still ready for the service port, not draining',
      change: (h) => h.table.upsertService(service({ name: 'web', nodePort: 30081 })),
      want: undefined,
    },
  ];

  it.each(cases)('$name', ({ change, want, wantTwo }) => {
    const h = harness(0);
    h.setEndpoints(all);
    const onOne = h.connect('10.0.0.1:80');
    const onTwo = h.connect('10.0.0.2:80');
    change(h);
    expect(onOne.drain).toBe(want);
    expect(stateOf(onOne)).toBe(want ? 'draining' : 'open');
    expect(onTwo.drain).toBe(wantTwo);
    vi.advanceTimersByTime(24 * 3600_000);
    expect(closed(onOne)).toBe(false); // drainTimeoutMs 0: never closed
    expect(h.drained).toEqual([]);
  });

  it('ready again clears the drain mark', () => {
    const h = harness(0);
    h.setEndpoints(all);
    const rec = h.connect('10.0.0.1:80');
    h.setEndpoints([{ ip: '10.0.0.1', ready: false }, { ip: '10.0.0.2' }]);
    expect(rec.drain).toBe('not-ready');
    h.setEndpoints(all);
    expect(rec.drain).toBeUndefined();
    h.setEndpoints([{ ip: '10.0.0.2' }]);
    expect(rec.drain).toBe('removed');
    h.setEndpoints(all);
    expect(rec.drain).toBeUndefined();
  });

  it('connections of another service port to the same backend are left alone', () => {
    const h = harness(1000);
    h.setEndpoints(all);
    const mine = h.connect('10.0.0.1:80');
    const other = h.connect('10.0.0.1:80', 'default/api:http/TCP');
    h.setEndpoints([{ ip: '10.0.0.2' }]);
    expect(mine.drain).toBe('removed');
    expect(other.drain).toBeUndefined();
    vi.advanceTimersByTime(5000);
    expect(closed(mine)).toBe(true);
    expect(closed(other)).toBe(false);
  });

  describe('drainTimeoutMs', () => {
    it('closes only removed connections, after the timeout, and calls onDrained', () => {
      const h = harness(5000);
      h.setEndpoints([{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }]);
      const removed = h.connect('10.0.0.1:80');
      const notReady = h.connect('10.0.0.2:80');
      const fine = h.connect('10.0.0.3:80');
      h.setEndpoints([{ ip: '10.0.0.2', ready: false }, { ip: '10.0.0.3' }]);
      expect(removed.drain).toBe('removed');
      expect(notReady.drain).toBe('not-ready');

      vi.advanceTimersByTime(4999);
      expect(closed(removed)).toBe(false);
      expect(h.drained).toEqual([]);

      vi.advanceTimersByTime(1);
      expect(removed.client.destroy).toHaveBeenCalledTimes(1);
      expect(removed.backend.destroy).toHaveBeenCalledTimes(1);
      expect(h.drained).toEqual([removed]);
      expect(removed.drainTimer).toBeUndefined();

      vi.advanceTimersByTime(3600_000);
      expect(closed(notReady)).toBe(false);
      expect(closed(fine)).toBe(false);
      expect(h.drained).toEqual([removed]);
    });

    it('not-ready then removed: the timeout starts at the removal', () => {
      const h = harness(5000);
      h.setEndpoints(all);
      const rec = h.connect('10.0.0.1:80');
      h.setEndpoints([{ ip: '10.0.0.1', ready: false }, { ip: '10.0.0.2' }]);
      vi.advanceTimersByTime(10_000);
      expect(closed(rec)).toBe(false);
      h.setEndpoints([{ ip: '10.0.0.2' }]);
      vi.advanceTimersByTime(4999);
      expect(closed(rec)).toBe(false);
      vi.advanceTimersByTime(1);
      expect(closed(rec)).toBe(true);
    });

    it('an endpoint back before the timeout: the timer is cancelled', () => {
      const h = harness(5000);
      h.setEndpoints(all);
      const rec = h.connect('10.0.0.1:80');
      h.setEndpoints([{ ip: '10.0.0.2' }]);
      vi.advanceTimersByTime(3000);
      h.setEndpoints(all);
      expect(rec.drain).toBeUndefined();
      expect(rec.drainTimer).toBeUndefined();
      vi.advanceTimersByTime(60_000);
      expect(closed(rec)).toBe(false);
      expect(h.drained).toEqual([]);
    });

    it('a repeated removal does not restart the timer', () => {
      const h = harness(5000);
      h.setEndpoints([...all, { ip: '10.0.0.3' }]);
      const rec = h.connect('10.0.0.1:80');
      h.setEndpoints([{ ip: '10.0.0.2' }, { ip: '10.0.0.3' }]);
      vi.advanceTimersByTime(3000);
      h.setEndpoints([{ ip: '10.0.0.3' }]); // another change to the same service
      vi.advanceTimersByTime(2000);
      expect(closed(rec)).toBe(true);
      expect(h.drained).toEqual([rec]);
    });

    it('a connection removed from the table before the timeout is not closed by it', () => {
      const h = harness(5000);
      h.setEndpoints(all);
      const rec = h.connect('10.0.0.1:80');
      h.setEndpoints([{ ip: '10.0.0.2' }]);
      h.connections.remove(rec); // it closed by itself
      vi.advanceTimersByTime(10_000);
      expect(closed(rec)).toBe(false);
      expect(h.drained).toEqual([]);
    });

    it('0 never closes', () => {
      const h = harness(0);
      h.setEndpoints(all);
      const rec = h.connect('10.0.0.1:80');
      h.table.deleteService(h.webService);
      expect(rec.drain).toBe('removed');
      expect(rec.drainTimer).toBeUndefined();
      vi.advanceTimersByTime(365 * 24 * 3600_000);
      expect(closed(rec)).toBe(false);
      expect(h.drained).toEqual([]);
    });
  });
});
