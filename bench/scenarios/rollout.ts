// Scenario 1, rollout failures. N pods behind two NodePort Services with the same selector: one
// for kube-proxy (unlabelled), one handed to nodeport-proxy (service-proxy-name label). Every
// proxy configuration runs on its own node at the same time, each with its own clients, so all
// of them see the very same rolling replacement. The rollout is what a Deployment with maxSurge 1,
// maxUnavailable 0 does: start a new pod, once it is Ready delete an old one (without waiting
// for it to finish terminating), until every pod is replaced.
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadGenerator, type LoadStats } from '../../test/e2e/lib/load.ts';
import type { PodHandle } from '../../test/e2e/lib/kubelet.ts';
import { createNodePortService, waitEndpoints } from '../../test/e2e/lib/services.ts';
import { BenchCluster, PROXY_CONFIGS, type RunningProxy } from '../lib/cluster.ts';

export interface RolloutConfig { sizes: number[]; preStops: number[]; reps: number; concurrency: number; intervalMs: number }
export const ROLLOUT_QUICK: RolloutConfig = { sizes: [3, 10], preStops: [0, 5], reps: 2, concurrency: 1, intervalMs: 10 };
export const ROLLOUT_FULL: RolloutConfig = { sizes: [3, 10], preStops: [0, 5], reps: 5, concurrency: 1, intervalMs: 10 };

export interface RolloutSample {
  proxy: string;
  pods: number;
  preStopSeconds: number;
  rep: number;
  client: 'new' | 'keepalive';
  rolloutMs: number;
  stats: LoadStats;
}

const KP_PORT = 30080, NP_PORT = 30081;

export async function runRollout(cluster: BenchCluster, cfg: RolloutConfig, log: (s: string) => void): Promise<RolloutSample[]> {
  const [podNode, ...proxyNodes] = cluster.nodes;
  const ns = cluster.namespace;
  const selector = { app: 'web' };
  await createNodePortService(cluster.api, { namespace: ns, name: 'web-kp', nodePort: KP_PORT, selector });
  await createNodePortService(cluster.api, { namespace: ns, name: 'web-np', nodePort: NP_PORT, selector, proxyName: 'nodeport-proxy' });
  const proxies: RunningProxy[] = [];
  for (const [i, c] of PROXY_CONFIGS.entries()) proxies.push(await cluster.startProxy(c, proxyNodes[i]));
  let seq = 0;
  let pods: PodHandle[] = [];
  const samples: RolloutSample[] = [];
  const newPod = (preStop: number) => cluster.kubelet.runPod({ name: `web-${++seq}`, namespace: ns, node: podNode, labels: selector, preStopSleepSeconds: preStop || undefined, reportConnections: false });
  try {
    for (const n of cfg.sizes) {
      for (const preStop of cfg.preStops) {
        // Fresh pods for each setting so their preStop hook is the one under test.
        await Promise.all(pods.map((p) => cluster.kubelet.deletePod(p)));
        pods = [];
        for (let i = 0; i < n; i++) pods.push(await newPod(preStop));
        for (const svc of ['web-kp', 'web-np']) await waitEndpoints(cluster.api, ns, svc, `${n} ready`, (eps) => eps.filter((e) => e.ready).length === n);
        await sleep(2500); // > minSyncPeriod 1s: every proxy has programmed the new pods
        for (let rep = 1; rep <= cfg.reps; rep++) {
          const loads: { proxy: string; client: 'new' | 'keepalive'; gen: LoadGenerator }[] = [];
          for (const p of proxies) {
            for (const client of ['new', 'keepalive'] as const) {
              const gen = await LoadGenerator.start({ ns: cluster.clientNs, host: p.node.ip, port: p.config.kind === 'kube-proxy' ? KP_PORT : NP_PORT, mode: client, concurrency: cfg.concurrency, intervalMs: cfg.intervalMs, timeoutMs: 3000 });
              loads.push({ proxy: p.config.id, client, gen });
            }
          }
          await sleep(1000);
          const t0 = performance.now();
          const deletions: Promise<unknown>[] = [];
          const next: PodHandle[] = [];
          for (const old of pods) {
            next.push(await newPod(preStop));
            deletions.push(cluster.kubelet.deletePod(old));
          }
          await Promise.all(deletions);
          const rolloutMs = performance.now() - t0;
          pods = next;
          await sleep(2000); // let the last change reach every proxy before the clients stop
          for (const l of loads) {
            const stats = await l.gen.stop();
            samples.push({ proxy: l.proxy, pods: n, preStopSeconds: preStop, rep, client: l.client, rolloutMs, stats });
          }
          const failed = (id: string) => samples.filter((s) => s.proxy === id && s.rep === rep && s.pods === n && s.preStopSeconds === preStop).map((s) => `${s.client} ${s.stats.failed}/${s.stats.sent}`).join(', ');
          log(`rollout N=${n} preStop=${preStop}s rep ${rep}: ${proxies.map((p) => `${p.config.id} [${failed(p.config.id)}]`).join('; ')}`);
        }
      }
    }
  } finally {
    for (const p of proxies) await p.stop().catch(() => undefined);
  }
  return samples;
}

export interface RolloutSummary {
  proxy: string; pods: number; preStopSeconds: number; client: string; reps: number;
  sent: number; failed: number; refused: number; reset: number; timeout: number; other: number;
  repsWithFailures: number; longestFailureWindowMs: number; retried: number;
}

export function summarizeRollout(samples: RolloutSample[]): RolloutSummary[] {
  const keys = [...new Set(samples.map((s) => `${s.proxy}|${s.pods}|${s.preStopSeconds}|${s.client}`))];
  return keys.map((k) => {
    const ss = samples.filter((s) => `${s.proxy}|${s.pods}|${s.preStopSeconds}|${s.client}` === k);
    const sum = (f: (s: RolloutSample) => number) => ss.reduce((a, s) => a + f(s), 0);
    return {
      proxy: ss[0].proxy, pods: ss[0].pods, preStopSeconds: ss[0].preStopSeconds, client: ss[0].client, reps: ss.length,
      sent: sum((s) => s.stats.sent), failed: sum((s) => s.stats.failed),
      refused: sum((s) => s.stats.failures.refused), reset: sum((s) => s.stats.failures.reset),
      timeout: sum((s) => s.stats.failures.timeout), other: sum((s) => s.stats.failures.other),
      repsWithFailures: ss.filter((s) => s.stats.failed > 0).length,
      longestFailureWindowMs: Math.max(...ss.map((s) => s.stats.longestFailureWindowMs)),
      retried: sum((s) => s.stats.retried),
    };
  });
}
