// `nodeport-proxy connections`: the connection table as text, like `conntrack -L`.
import { parseArgs } from 'node:util';
import type { ConnectionView } from '../connection/connection-table.ts';
import { ProxyError } from '../errors.ts';

export async function connectionsCommand(argv: string[], out: (line: string) => void): Promise<void> {
  let adminAddress = '127.0.0.1:10267';
  let json = false;
  try {
    const { values } = parseArgs({ args: argv, options: { 'admin-address': { type: 'string' }, json: { type: 'boolean' } }, strict: true });
    adminAddress = values['admin-address'] ?? adminAddress;
    json = values.json ?? false;
  } catch (err) {
    throw new ProxyError('NPP_BAD_FLAG', `connections: ${String((err as Error).message).split('\n')[0]}`);
  }
  let rows: ConnectionView[];
  try {
    const res = await fetch(`http://${adminAddress}/debug/connections`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    rows = (await res.json()) as ConnectionView[];
  } catch (err) {
    throw new Error(`connections: cannot read http://${adminAddress}/debug/connections: ${(err as Error).message} (is the proxy running with --admin-bind-address ${adminAddress}?)`);
  }
  if (json) {
    out(JSON.stringify(rows, null, 1));
    return;
  }
  out(formatConnections(rows));
}

export function formatConnections(rows: ConnectionView[]): string {
  const withWorker = rows.some((r) => r.worker !== undefined);
  const header = ['PROTO', 'NODEPORT', 'CLIENT', 'BACKEND', 'SERVICE', 'STATE', 'AGE', 'BYTES_IN', 'BYTES_OUT', ...(withWorker ? ['WORKER'] : [])];
  const body = rows.map((r) => [
    r.protocol,
    String(r.nodePort),
    r.client,
    r.backend ?? '-',
    r.servicePort,
    r.drainReason ? `draining(${r.drainReason})` : r.state,
    `${r.ageSeconds}s`,
    String(r.bytesIn),
    String(r.bytesOut),
    ...(withWorker ? [String(r.worker ?? '-')] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(header), ...body.map(fmt), `nodeport-proxy: ${rows.length} connections`].join('\n');
}
