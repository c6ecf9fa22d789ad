// Scenario 3, the data path: the same client (wrk, iperf3) and the same backend (nginx, iperf3)
// through each proxy in the node namespace (a userspace process, or kube-proxy's NAT rules), one
// proxy at a time, interleaved per repetition so a slow drift of the machine affects all proxies alike.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { nsArgv } from '../../test/e2e/lib/netns.ts';
import { cpuSeconds, machineCpu, must, type MachineCpu } from '../lib/exec.ts';
import { iperf, wrk, type WrkResult } from '../lib/load.ts';
import type { Target } from '../lib/proxies.ts';
import type { DataPathTopology } from '../lib/topology.ts';

export interface DataPathConfig {
  reps: number;
  seconds: number;         // each wrk measurement
  iperfSeconds: number;
  iperfStreams: number;
  keepAliveConnections: number;
  newConnConnections: number;
}

export const DATAPATH_QUICK: DataPathConfig = { reps: 1, seconds: 5, iperfSeconds: 5, iperfStreams: 4, keepAliveConnections: 50, newConnConnections: 50 };
export const DATAPATH_FULL: DataPathConfig = { reps: 5, seconds: 10, iperfSeconds: 10, iperfStreams: 4, keepAliveConnections: 50, newConnConnections: 50 };

export interface DataPathSample {
  rep: number;
  target: string;
  latency: WrkResult;
  keepAlive: WrkResult & Cpu;
  newConn: WrkResult & Cpu;
  /** 1-minute load average before this proxy's measurements: other work on the machine shows here. */
  loadavg: number;
  bulk: { bitsPerSecond: number; bytes: number; seconds: number; retransmits: number } & Cpu;
}

interface Cpu {
  /** The proxy process tree's user+system seconds (userspace proxies only). */
  cpuSeconds: number | null;
  /**
   * The whole machine's CPU seconds during the measurement (client, proxy, backend, kernel NAT,
   * and anything else running): the only CPU figure there is for the kernel-NAT targets.
   * Absent in results written before it was recorded.
   */
  machine?: MachineCpu;
}

export interface TargetFactory { name: string; kind: Target['kind']; start(): Promise<Target> }

async function measured<T>(t: Target, fn: () => Promise<T>): Promise<T & Cpu> {
  const before = t.pid ? cpuSeconds(t.pid) : null;
  const m0 = machineCpu();
  const r = await fn();
  const m1 = machineCpu();
  const machine: MachineCpu = { user: m1.user - m0.user, system: m1.system - m0.system, irq: m1.irq - m0.irq, softirq: m1.softirq - m0.softirq };
  return { ...r, cpuSeconds: t.pid && before !== null ? cpuSeconds(t.pid) - before : null, machine };
}

/**
 * Destroys the TIME_WAIT sockets the previous target left in the topology, so every target starts
 * from the same state. The backend closes each new-connection request first, so the pod holds tens
 * of thousands of them for 60 s. Behind kube-proxy they belong to masqueraded 4-tuples (node
 * address, random port) that the next kube-proxy's fresh conntrack table does not know; a new SYN
 * that lands on one is answered with the old connection's ACK, reset, and retried a second later
 * (measured: kube-proxy nftables right after kube-proxy iptables fell from ~7,000 to ~500 new
 * connections per second).
 */
async function clearTimeWait(net: Pick<DataPathTopology, 'clientNs' | 'nodeNs' | 'podNs'>): Promise<void> {
  for (const ns of [net.clientNs, net.nodeNs, ...net.podNs]) await must(nsArgv(ns, ['ss', '-K', '-tn', 'state', 'time-wait']));
}

export async function runDataPath(net: Pick<DataPathTopology, 'clientNs' | 'nodeNs' | 'podNs'>, factories: TargetFactory[], cfg: DataPathConfig, log: (s: string) => void): Promise<DataPathSample[]> {
  const { clientNs } = net;
  const samples: DataPathSample[] = [];
  for (let rep = 1; rep <= cfg.reps; rep++) {
    for (const f of factories) {
      log(`datapath rep ${rep}/${cfg.reps}: ${f.name}`);
      await clearTimeWait(net);
      const loadavg = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
      const t = await f.start();
      try {
        const url = `http://${t.host}:${t.port('http')}/`;
        // Warm-up so JIT compilation and first-connection costs are not in the numbers of any proxy.
        await wrk(clientNs, url, { threads: 1, connections: 10, seconds: 2 });
        // Added latency: one connection, one request at a time, so the figure is round-trip time
        // and not queueing behind other requests.
        const latency = await wrk(clientNs, url, { threads: 1, connections: 1, seconds: cfg.seconds });
        const keepAlive = await measured(t, () => wrk(clientNs, url, { threads: 1, connections: cfg.keepAliveConnections, seconds: cfg.seconds }));
        const newConn = await measured(t, () => wrk(clientNs, url, { threads: 1, connections: cfg.newConnConnections, seconds: cfg.seconds, close: true }));
        await sleep(500);
        const bulk = await measured(t, () => iperf(clientNs, t.host, t.port('iperf'), cfg.iperfStreams, cfg.iperfSeconds));
        samples.push({ rep, target: t.name, loadavg, latency, keepAlive, newConn, bulk });
        log(`  ${t.name}: ka ${keepAlive.rps.toFixed(0)} rps, nc ${newConn.rps.toFixed(0)} conn/s, bulk ${(bulk.bitsPerSecond / 1e9).toFixed(2)} Gbit/s, p50 ${latency.latencyMs.p50} ms p99 ${latency.latencyMs.p99} ms`);
      } finally {
        await t.stop();
      }
      await sleep(1000);
    }
  }
  return samples;
}

export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface DataPathSummary {
  target: string;
  keepAliveRps: number;
  newConnPerSec: number;
  bulkGbps: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  addedP50Ms: number;
  addedP99Ms: number;
  cpuSecondsPerGB: number | null;
  cpuSecondsPer10kConn: number | null;
  cpuSecondsPer100kReq: number | null;
  /** Whole machine, kernel (system + irq + softirq) and user seconds; see Cpu.machine. */
  machineKernelSecondsPerGB?: number | null;
  machineUserSecondsPerGB?: number | null;
  machineKernelSecondsPer10kConn?: number | null;
  machineUserSecondsPer10kConn?: number | null;
  errors: number;
}

export function summarizeDataPath(samples: DataPathSample[]): DataPathSummary[] {
  const targets = [...new Set(samples.map((s) => s.target))];
  const of = (t: string) => samples.filter((s) => s.target === t);
  const directP50 = median(of('direct').map((s) => s.latency.latencyMs.p50));
  const directP99 = median(of('direct').map((s) => s.latency.latencyMs.p99));
  return targets.map((t) => {
    const ss = of(t);
    const cpu = (f: (s: DataPathSample) => number | null) => { const v = ss.map(f).filter((x): x is number => x !== null); return v.length ? median(v) : null; };
    const p50 = median(ss.map((s) => s.latency.latencyMs.p50));
    const p99 = median(ss.map((s) => s.latency.latencyMs.p99));
    const kernel = (c: Cpu) => c.machine ? c.machine.system + c.machine.irq + c.machine.softirq : null;
    const user = (c: Cpu) => c.machine ? c.machine.user : null;
    const perGB = (f: (c: Cpu) => number | null) => cpu((s) => { const v = f(s.bulk); return v === null ? null : v / (s.bulk.bytes / 1e9); });
    const per10k = (f: (c: Cpu) => number | null) => cpu((s) => { const v = f(s.newConn); return v === null ? null : v / (s.newConn.requests / 10_000); });
    const errs = (w: WrkResult) => w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout + w.errors.non2xx;
    return {
      target: t,
      keepAliveRps: median(ss.map((s) => s.keepAlive.rps)),
      newConnPerSec: median(ss.map((s) => s.newConn.rps)),
      bulkGbps: median(ss.map((s) => s.bulk.bitsPerSecond / 1e9)),
      latencyP50Ms: p50,
      latencyP99Ms: p99,
      addedP50Ms: p50 - directP50,
      addedP99Ms: p99 - directP99,
      cpuSecondsPerGB: perGB((c) => c.cpuSeconds),
      cpuSecondsPer10kConn: per10k((c) => c.cpuSeconds),
      cpuSecondsPer100kReq: cpu((s) => s.keepAlive.cpuSeconds === null ? null : s.keepAlive.cpuSeconds / (s.keepAlive.requests / 100_000)),
      machineKernelSecondsPerGB: perGB(kernel),
      machineUserSecondsPerGB: perGB(user),
      machineKernelSecondsPer10kConn: per10k(kernel),
      machineUserSecondsPer10kConn: per10k(user),
      errors: ss.reduce((a, s) => a + errs(s.latency) + errs(s.keepAlive) + errs(s.newConn), 0),
    };
  });
}
