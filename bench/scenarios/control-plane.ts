// Scenarios 1 (rollout failures) and 2 (programming latency at scale) on the real control plane.
export interface ControlPlaneContext {
  quick: boolean;
  only: Set<string>;
  workDir: string;
  repoRoot: string;
  log(s: string): void;
  scenario(name: string, fn: () => Promise<unknown>): Promise<void>;
}

export async function runControlPlaneScenarios(ctx: ControlPlaneContext): Promise<void> {
  for (const s of ['rollout', 'programming']) {
    if (ctx.only.has(s)) await ctx.scenario(s, async () => { throw new Error('control-plane scenarios are not wired yet'); });
  }
}
