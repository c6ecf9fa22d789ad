// Wrappers around the real load generators (iperf3, wrk) run in the client namespace, with
// parsers for their output. Every run is bounded by a duration and a hard timeout.
import { inNs, run } from './exec.ts';

export interface IperfResult { bitsPerSecond: number; bytes: number; seconds: number; retransmits: number }

export async function iperf(ns: string, host: string, port: number, streams: number, seconds: number): Promise<IperfResult> {
  const r = await run(inNs(ns, ['iperf3', '-c', host, '-p', String(port), '-P', String(streams), '-t', String(seconds), '-J']), { timeoutMs: (seconds + 30) * 1000 });
  const j = JSON.parse(r.stdout) as { error?: string; end?: { sum_received: { bits_per_second: number; bytes: number; seconds: number }; sum_sent: { retransmits?: number } } };
  if (j.error || !j.end) throw new Error(`iperf3 to ${host}:${port}: ${j.error ?? r.stderr}`);
  return { bitsPerSecond: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes, seconds: j.end.sum_received.seconds, retransmits: j.end.sum_sent.retransmits ?? 0 };
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  /** percentiles in milliseconds, from wrk --latency */
  latencyMs: { p50: number; p75: number; p90: number; p99: number };
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
}

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
  const pct = (p: string) => { const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out); return m ? toMs(m[1]) : NaN; };
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!reqs) throw new Error(`cannot parse wrk output:\n${out}`);
  return {
    requests: Number(reqs[1]),
    seconds: toMs(`${reqs[2]}${reqs[3]}`) / 1000,
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    latencyMs: { p50: pct('50'), p75: pct('75'), p90: pct('90'), p99: pct('99') },
    errors: {
      connect: se ? Number(se[1]) : 0, read: se ? Number(se[2]) : 0, write: se ? Number(se[3]) : 0, timeout: se ? Number(se[4]) : 0,
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    },
  };
}

export async function wrk(ns: string, url: string, o: { threads: number; connections: number; seconds: number; close?: boolean }): Promise<WrkResult> {
  const argv = ['wrk', '-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '--timeout', '5s'];
  // A request header of Connection: close makes the backend close after each response, so wrk
  // opens a fresh TCP connection for every request: the new-connections-per-second workload.
  if (o.close) argv.push('-H', 'Connection: close');
  argv.push(url);
  const r = await run(inNs(ns, argv), { timeoutMs: (o.seconds + 30) * 1000 });
  return parseWrk(r.stdout);
}
