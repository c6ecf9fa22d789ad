// Scenario 2, programming latency at scale. For each size, `size` NodePort Services exist: one
// probed Service backed by two real pods (A, B; its EndpointSlice is the controller's, so it has
// the last-change-trigger-time annotation the proxies' network_programming_duration_seconds is
// computed from) and size-1 selector-less Services with 2-10 endpoints each in hand-made
// EndpointSlices (addresses of no host: nothing ever connects to them; they are the weight the
// proxies must carry). One proxy runs at a time, on its own node, so none is slowed by another.
// Per round: pod A's Ready condition is set to False at t0 and a client opening a new connection
// every few ms tells when it stops reaching A; then A is made Ready again.
// kube-proxy ignores Services with the service-proxy-name label and nodeport-proxy serves only
// those, so the Services (and slices) are labelled for nodeport-proxy after the kube-proxy runs.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { nsArgv } from '../../test/e2e/lib/netns.ts';
import type { PodHandle } from '../../test/e2e/lib/kubelet.ts';
import { LABEL_SERVICE_PROXY_NAME, waitEndpoints } from '../../test/e2e/lib/services.ts';
import { BenchCluster, PROXY_CONFIGS, histogramDelta, histogramQuantile, parseHistogram, type RunningProxy } from '../lib/cluster.ts';
import { median } from './datapath.ts';

export interface ProgrammingConfig { sizes: number[]; rounds: number; probeIntervalMs: number }
export const PROGRAMMING_QUICK: ProgrammingConfig = { sizes: [100, 1000], rounds: 4, probeIntervalMs: 5 };
export const PROGRAMMING_FULL: ProgrammingConfig = { sizes: [100, 1000, 10_000], rounds: 12, probeIntervalMs: 5 };

export interface ProgrammingSample {
  proxy: string;
  services: number;
  endpoints: number;
  /** ms from the Ready=False update to the first probe that could no longer reach pod A, per round */
  stopReachingMs: number[];
  /** the proxy's own kubeproxy_network_programming_duration_seconds over the rounds, seconds */
  programming: { count: number; p50: number; p99: number };
  cpuSecondsPerChange: number;
  baselineCpuPerSecond: number;
  readyMs: number;
  /**
   * Rounds in which the probe still reached pod A ROUND_LIMIT_MS after Ready=False (the proxy
   * had not applied the change); the remaining rounds at that size are skipped for that proxy.
   */
  timedOutRounds?: number;
  /** Set when the measurement could not be made at all (the proxy never served, say). */
  error?: string;
}

/** How long one round waits for a proxy to stop sending to the not-ready pod. */
export const ROUND_LIMIT_MS = 60_000;

const PROBE_PORT = 32700;
const METRIC = 'kubeproxy_network_programming_duration_seconds';

class Probe {
  private readonly child;
  private readonly waiting: ((l: string) => void)[] = [];
  constructor(ns: string, node: string, host: string, port: number, intervalMs: number) {
    const argv = nsArgv(ns, [node, 'bench/tools/probe.ts', host, String(port), String(intervalMs), '600']);
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.waiting.shift()?.(l));
  }
  dump(): Promise<[number, string][]> {
    return new Promise((resolve) => { this.waiting.push((l) => resolve(JSON.parse(l))); this.child.stdin!.write('dump\n'); });
  }
  stop(): void { this.child.stdin!.write('stop\n'); setTimeout(() => this.child.kill('SIGKILL'), 3000).unref(); }
}

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (i < items.length) await fn(items[i++]); }));
}

async function setProxyLabel(cluster: BenchCluster, names: string[], on: boolean): Promise<void> {
  const ns = cluster.namespace;
  const labels = { [LABEL_SERVICE_PROXY_NAME]: on ? 'nodeport-proxy' : null };
  await pool(names, 16, async (n) => {
    await cluster.api.mergePatch(`/api/v1/namespaces/${ns}/services/${n}`, { metadata: { labels } });
    if (n !== 'probe') await cluster.api.mergePatch(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${n}-1`, { metadata: { labels } });
  });
}

export async function runProgramming(cluster: BenchCluster, cfg: ProgrammingConfig, log: (s: string) => void): Promise<ProgrammingSample[]> {
  const [podNode, ...proxyNodes] = cluster.nodes;
  const ns = cluster.namespace;
  const api = cluster.api;
  const samples: ProgrammingSample[] = [];
  await api.post(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'probe' },
    spec: { type: 'NodePort', selector: { app: 'probe' }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: PROBE_PORT }] },
  });
  const podA: PodHandle = await cluster.kubelet.runPod({ name: 'probe-a', namespace: ns, node: podNode, labels: { app: 'probe' }, reportConnections: false });
  await cluster.kubelet.runPod({ name: 'probe-b', namespace: ns, node: podNode, labels: { app: 'probe' }, reportConnections: false });
  await waitEndpoints(api, ns, 'probe', '2 ready', (eps) => eps.filter((e) => e.ready).length === 2);
  let created = 1, endpoints = 2;
  const names: string[] = ['probe'];
  for (const size of cfg.sizes) {
    // Grow to `size` Services; sizes only increase, so earlier objects are reused.
    const toCreate = Array.from({ length: size - created }, (_, i) => created + i);
    const started = performance.now();
    await pool(toCreate, 16, async (i) => {
      const name = `s-${i}`;
      const nEp = 2 + (i % 9); // 2..10 endpoints, 6 on average
      endpoints += nEp;
      names.push(name);
      await api.post(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1', kind: 'Service', metadata: { name },
        spec: { type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 20000 + i }] },
      });
      await api.post(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'bench.nodeport-proxy.invalid' } },
        addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
        endpoints: Array.from({ length: nEp }, (_, j) => {
          const n = i * 10 + j;
          return { addresses: [`10.${245 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`], conditions: { ready: true, serving: true, terminating: false } };
        }),
      });
    });
    created = size;
    log(`programming: ${size} Services / ${endpoints} endpoints created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const [i, pc] of PROXY_CONFIGS.entries()) {
      if (pc.kind === 'nodeport-proxy') await setProxyLabel(cluster, names, true);
      const t0 = performance.now();
      try {
        const proxy = await cluster.startProxy(pc, proxyNodes[i]);
        try {
          const sample = await measure(cluster, proxy, podA, cfg, size, endpoints, performance.now() - t0);
          samples.push(sample);
          log(`programming ${size}: ${pc.id}: stop reaching p50 ${median(sample.stopReachingMs).toFixed(0)} ms (${sample.stopReachingMs.map((x) => x.toFixed(0)).join(',')})${sample.timedOutRounds ? `, ${sample.timedOutRounds} round(s) still reaching pod A after ${ROUND_LIMIT_MS / 1000} s` : ''}, own metric p50 ${(sample.programming.p50 * 1000).toFixed(0)} ms p99 ${(sample.programming.p99 * 1000).toFixed(0)} ms, CPU/change ${(sample.cpuSecondsPerChange * 1000).toFixed(1)} ms`);
        } finally {
          await proxy.stop();
        }
      } catch (err) {
        // One proxy failing at one size is a result to report, not a reason to lose the others.
        const error = (err as Error).message;
        samples.push({ proxy: pc.id, services: size, endpoints, stopReachingMs: [], programming: { count: 0, p50: NaN, p99: NaN }, cpuSecondsPerChange: NaN, baselineCpuPerSecond: NaN, readyMs: NaN, error });
        log(`programming ${size}: ${pc.id}: FAILED: ${error}`);
      }
      if (pc.kind === 'nodeport-proxy') await setProxyLabel(cluster, names, false);
    }
  }
  return samples;
}

async function measure(cluster: BenchCluster, proxy: RunningProxy, podA: PodHandle, cfg: ProgrammingConfig, size: number, endpoints: number, startMs: number): Promise<ProgrammingSample> {
  const host = proxy.node.ip;
  const probe = new Probe(cluster.clientNs, process.execPath, host, PROBE_PORT, cfg.probeIntervalMs);
  try {
    // Ready = the probe reaches both pods through this proxy.
    const seen = new Set<string>();
    const deadline = performance.now() + 120_000;
    while (!(seen.has('probe-a') && seen.has('probe-b'))) {
      if (performance.now() > deadline) throw new Error(`${proxy.config.id}: probe never reached both pods`);
      await sleep(200);
      for (const [, pod] of await probe.dump()) if (pod) seen.add(pod);
    }
    const readyMs = startMs;
    // Baseline CPU with the probe running and no endpoint change, so the per-change figure does
    // not charge the probe's own traffic (a userspace proxy carries it, kernel NAT does not).
    await sleep(1500);
    const b0 = proxy.cpuSeconds(), bt0 = performance.now();
    await sleep(3000);
    const baselineCpuPerSecond = (proxy.cpuSeconds() - b0) / ((performance.now() - bt0) / 1000);
    await probe.dump();
    const h0 = parseHistogram(await proxy.metrics(), METRIC);
    const c0 = proxy.cpuSeconds(), ct0 = performance.now();
    const stopReachingMs: number[] = [];
    let timedOutRounds = 0;
    for (let r = 0; r < cfg.rounds && timedOutRounds === 0; r++) {
      const t0 = performance.timeOrigin + performance.now();
      await cluster.kubelet.setReady(podA, false);
      const recs: [number, string][] = [];
      let lastA = -Infinity;
      const roundDeadline = performance.now() + ROUND_LIMIT_MS;
      // Done when pod A has not been reached for 1.5 s (or, for the kernel modes, by any probe sent since).
      for (;;) {
        await sleep(250);
        for (const rec of await probe.dump()) { recs.push(rec); if (rec[1] === 'probe-a') lastA = Math.max(lastA, rec[0]); }
        const latest = recs.length ? recs[recs.length - 1][0] : 0;
        if (latest - Math.max(lastA, t0) > 1500) break;
        if (performance.now() > roundDeadline) { timedOutRounds++; break; }
      }
      if (timedOutRounds === 0) {
        const firstMiss = recs.find((x) => x[0] > lastA && x[0] >= t0 && x[1] !== 'probe-a');
        stopReachingMs.push(firstMiss ? Math.max(0, firstMiss[0] - t0) : NaN);
      }
      await cluster.kubelet.setReady(podA, true);
      const back = performance.now() + 60_000;
      let reached = false;
      while (!reached) {
        await sleep(200);
        reached = (await probe.dump()).some((x) => x[1] === 'probe-a');
        if (!reached && performance.now() > back) throw new Error(`${proxy.config.id}: pod A not reached again 60 s after Ready=True`);
      }
    }
    const cpu = proxy.cpuSeconds() - c0 - baselineCpuPerSecond * ((performance.now() - ct0) / 1000);
    // Give a proxy with minSyncPeriod time to record its last observation.
    await sleep(1200);
    const h = histogramDelta(parseHistogram(await proxy.metrics(), METRIC), h0);
    return {
      proxy: proxy.config.id, services: size, endpoints, stopReachingMs, readyMs,
      programming: { count: h.count, p50: histogramQuantile(h, 0.5), p99: histogramQuantile(h, 0.99) },
      // Changes made: two per completed round, one for a round that timed out (and its restore).
      cpuSecondsPerChange: Math.max(0, cpu) / (2 * (stopReachingMs.length + timedOutRounds)),
      baselineCpuPerSecond,
      timedOutRounds,
    };
  } finally {
    probe.stop();
  }
}

const p99 = (xs: number[]) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] : NaN; };

export function summarizeProgramming(samples: ProgrammingSample[]) {
  return samples.map((s) => ({
    proxy: s.proxy, services: s.services, endpoints: s.endpoints, rounds: s.stopReachingMs.length,
    stopReachingP50Ms: median(s.stopReachingMs), stopReachingP99Ms: p99(s.stopReachingMs),
    ownMetricCount: s.programming.count, ownMetricP50Ms: s.programming.p50 * 1000, ownMetricP99Ms: s.programming.p99 * 1000,
    cpuMsPerChange: s.cpuSecondsPerChange * 1000, startMs: s.readyMs,
    timedOutRounds: s.timedOutRounds ?? 0, error: s.error,
  }));
}

