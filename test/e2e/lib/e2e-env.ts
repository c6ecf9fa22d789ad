// Whether the e2e suite can run here. It needs root and network namespaces; where the machine
// cannot create them the suite is skipped with the reason, except in CI (CI=1/true), where a
// skip would hide a broken runner, so it fails instead.
import { canCreateNetns } from './netns.ts';

export async function e2eSupport(): Promise<{ run: boolean; reason?: string }> {
  const r = await canCreateNetns();
  if (r.ok) return { run: true };
  const reason = `e2e skipped: this machine cannot create network namespaces (${r.reason})`;
  if (process.env.CI === '1' || process.env.CI === 'true') throw new Error(`${reason}; CI must run the e2e suite`);
  console.warn(reason);
  return { run: false, reason };
}
