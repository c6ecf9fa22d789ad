// kube-proxy's /healthz and /livez semantics (kube-proxy-semantics.md, items 34-36).
// "Healthy" means no update has been waiting to be applied for longer than the health timeout.
// Ours apply at once, so the only waiting state is before the source's first complete list:
// events received then are held (listeners are not open yet), and /healthz says 503.
import type { NodeObject } from '../source/events.ts';

export interface HealthAnswer {
  status: 200 | 503;
  body: string;
}

export class HealthState {
  readonly #now: () => number;
  readonly #healthTimeoutMs: number;
  #synced = false;
  #lastUpdatedMs: number;
  #oldestQueuedMs: number | undefined;
  #nodeEligible = true;

  constructor(opts: { now: () => number; healthTimeoutMs: number }) {
    this.#now = opts.now;
    this.#healthTimeoutMs = opts.healthTimeoutMs;
    this.#lastUpdatedMs = opts.now();
  }

  /** A change arrived but cannot be applied yet (before the first complete list). */
  queued(): void {
    if (this.#oldestQueuedMs === undefined) this.#oldestQueuedMs = this.#now();
  }

  /** A change was applied to the table (or the first sync completed). */
  applied(): void {
    this.#lastUpdatedMs = this.#now();
    if (this.#synced) this.#oldestQueuedMs = undefined;
  }

  synced(): void {
    this.#synced = true;
    this.#oldestQueuedMs = undefined;
    this.#lastUpdatedMs = this.#now();
  }

  get isSynced(): boolean {
    return this.#synced;
  }

  /** The node is ineligible while being deleted or marked for deletion by the cluster autoscaler. */
  setNode(node: NodeObject | undefined): void {
    if (!node) return;
    const deleting = Boolean(node.metadata?.deletionTimestamp);
    const toBeDeleted = (node.spec?.taints ?? []).some((t) => t.key === 'ToBeDeletedByClusterAutoscaler');
    this.#nodeEligible = !deleting && !toBeDeleted;
  }

  isHealthy(): boolean {
    if (!this.#synced) return false;
    return this.#oldestQueuedMs === undefined || this.#now() - this.#oldestQueuedMs <= this.#healthTimeoutMs;
  }

  /** `/healthz`: 200 only when healthy and the node is eligible. kube-proxy's exact body spacing. */
  healthz(): HealthAnswer {
    const now = this.#now();
    const healthy = this.isHealthy();
    const lastUpdated = healthy ? now : this.#lastUpdatedMs;
    const body = `{"lastUpdated": ${JSON.stringify(goTime(lastUpdated))},"currentTime": ${JSON.stringify(goTime(now))}, "nodeEligible": ${this.#nodeEligible}}`;
    return { status: healthy && this.#nodeEligible ? 200 : 503, body };
  }

  /** `/livez`: like /healthz without node eligibility. */
  livez(): HealthAnswer {
    const now = this.#now();
    const healthy = this.isHealthy();
    const lastUpdated = healthy ? now : this.#lastUpdatedMs;
    const body = `{"lastUpdated": ${JSON.stringify(goTime(lastUpdated))},"currentTime": ${JSON.stringify(goTime(now))}}`;
    return { status: healthy ? 200 : 503, body };
  }
}

/** Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC". */
export function goTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-12-03T21:40:00.120Z
  const [date, rest] = iso.split('T') as [string, string];
  const [hms, frac] = rest.replace('Z', '').split('.') as [string, string];
  const f = frac.replace(/0+$/, '');
  return `${date} ${hms}${f ? `.${f}` : ''} +0000 UTC`;
}
