// Scenarios 1 (rollout failures) and 2 (programming latency at scale) on the real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-proxy built by test/k8s-bins/build.sh),
// through the e2e library. One cluster: node-1 runs the pods, nodes 2-6 one proxy configuration each.
import { BenchCluster, PROXY_CONFIGS, recordK8sVersions } from '../lib/cluster.ts';
import { runRollout, summarizeRollout, ROLLOUT_FULL, ROLLOUT_QUICK } from './rollout.ts';
import { runProgramming, summarizeProgramming, PROGRAMMING_FULL, PROGRAMMING_QUICK, ROUND_LIMIT_MS } from './programming.ts';

export interface ControlPlaneContext {
  quick: boolean;
  only: Set<string>;
  workDir: string;
  repoRoot: string;
  log(s: string): void;
  scenario(name: string, fn: () => Promise<unknown>): Promise<void>;
  versions: Record<string, string>;
}

export async function runControlPlaneScenarios(ctx: ControlPlaneContext): Promise<void> {
  if (ctx.only.has('rollout')) {
    await ctx.scenario('rollout', async () => {
      const cluster = await BenchCluster.start(1 + PROXY_CONFIGS.length);
      await recordK8sVersions(cluster.binDir, ctx.versions);
      try {
        const cfg = ctx.quick ? ROLLOUT_QUICK : ROLLOUT_FULL;
        const samples = await runRollout(cluster, cfg, ctx.log);
        return { config: cfg, proxies: PROXY_CONFIGS, summary: summarizeRollout(samples), samples };
      } finally {
        await cluster.stop();
      }
    });
  }
  if (ctx.only.has('programming')) {
    await ctx.scenario('programming', async () => {
      const cluster = await BenchCluster.start(1 + PROXY_CONFIGS.length);
      await recordK8sVersions(cluster.binDir, ctx.versions);
      try {
        const cfg = ctx.quick ? PROGRAMMING_QUICK : PROGRAMMING_FULL;
        const samples = await runProgramming(cluster, cfg, ctx.log);
        return { config: cfg, roundLimitMs: ROUND_LIMIT_MS, proxies: PROXY_CONFIGS, summary: summarizeProgramming(samples), samples };
      } finally {
        await cluster.stop();
      }
    });
  }
}
