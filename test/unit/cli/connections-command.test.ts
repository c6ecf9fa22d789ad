// `nodeport-proxy connections`: the connection table as text, like `conntrack -L`.
import { describe, expect, it } from 'vitest';
import { formatConnections } from '../../../proxy/cli/connections-command.ts';
import type { ConnectionView } from '../../../proxy/connection/connection-table.ts';

function row(over: Partial<ConnectionView>): ConnectionView {
  return {
    id: 1,
    client: '192.0.2.1:40001',
    nodePort: 30080,
    protocol: 'TCP',
    service: 'default/web',
    servicePort: 'default/web:http/TCP',
    backend: '10.0.0.1:8080',
    state: 'open',
    drainReason: null,
    startedAt: '2026-12-03T21:40:00.000Z',
    ageSeconds: 12.5,
    bytesIn: 100,
    bytesOut: 2048,
    attempts: 1,
    ...over,
  };
}

const HEADER = ['PROTO', 'NODEPORT', 'CLIENT', 'BACKEND', 'SERVICE', 'STATE', 'AGE', 'BYTES_IN', 'BYTES_OUT'];
const cells = (line: string) => line.trim().split(/\s{2,}/);

describe('formatConnections', () => {
  it('no connections: header and count', () => {
    const lines = formatConnections([]).split('\n');
    expect(cells(lines[0]!)).toEqual(HEADER);
    expect(lines.slice(1)).toEqual(['nodeport-proxy: 0 connections']);
  });

  it.each([
    { name: 'open', r: row({}), want: ['TCP', '30080', '192.0.2.1:40001', '10.0.0.1:8080', 'default/web:http/TCP', 'open', '12.5s', '100', '2048'] },
    { name: 'connecting, no backend yet', r: row({ backend: null, state: 'connecting', bytesIn: 0, bytesOut: 0, ageSeconds: 0 }), want: ['TCP', '30080', '192.0.2.1:40001', '-', 'default/web:http/TCP', 'connecting', '0s', '0', '0'] },
    { name: 'draining, not ready', r: row({ state: 'draining', drainReason: 'not-ready' }), want: ['TCP', '30080', '192.0.2.1:40001', '10.0.0.1:8080', 'default/web:http/TCP', 'draining(not-ready)', '12.5s', '100', '2048'] },
    { name: 'draining, removed; IPv6 client', r: row({ client: '[fd00::1]:5000', state: 'draining', drainReason: 'removed' }), want: ['TCP', '30080', '[fd00::1]:5000', '10.0.0.1:8080', 'default/web:http/TCP', 'draining(removed)', '12.5s', '100', '2048'] },
  ])('row: $name', ({ r, want }) => {
    const lines = formatConnections([r]).split('\n');
    expect(lines).toHaveLength(3);
    expect(cells(lines[0]!)).toEqual(HEADER);
    expect(cells(lines[1]!)).toEqual(want);
    expect(lines[2]).toBe('nodeport-proxy: 1 connections');
  });

  it('columns are aligned across rows', () => {
    const out = formatConnections([
      row({ id: 1 }),
      row({ id: 2, client: '198.51.100.200:65000', backend: '10.0.0.222:18080', servicePort: 'longnamespace/web:http/TCP', bytesOut: 1234567 }),
    ]);
    const lines = out.split('\n');
    expect(lines).toHaveLength(4);
    for (const col of HEADER.slice(1)) {
      const at = lines[0]!.indexOf(col);
      expect(at).toBeGreaterThan(0);
      // Each data cell starts where its header starts.
      const idx = HEADER.indexOf(col);
      for (const l of lines.slice(1, 3)) expect(l.indexOf(cells(l)[idx]!, at)).toBe(at);
    }
    expect(lines.every((l) => l === l.trimEnd())).toBe(true);
    expect(lines[3]).toBe('nodeport-proxy: 2 connections');
  });
});
