// kube-proxy's /healthz and /livez semantics (kube-proxy-semantics.md, items 34-36).
import { describe, expect, it } from 'vitest';
import { goTime, HealthState } from '../../../proxy/observe/health.ts';
import { node } from '../../support/objects.ts';

const T0 = Date.UTC(2026, 11, 3, 21, 40, 0, 120);

function state(healthTimeoutMs = 60_000) {
  let now = T0;
  const h = new HealthState({ now: () => now, healthTimeoutMs });
  return { h, advance: (ms: number) => (now += ms), now: () => now };
}

const BODY = /^\{"lastUpdated": "([^"]+)","currentTime": "([^"]+)", "nodeEligible": (true|false)\}$/;
const LIVEZ_BODY = /^\{"lastUpdated": "([^"]+)","currentTime": "([^"]+)"\}$/;

describe('goTime', () => {
  it.each([
    { ms: 0, want: '1970-01-01 00:00:00 +0000 UTC' },
    { ms: T0, want: '2026-12-03 21:40:00.12 +0000 UTC' },
    { ms: Date.UTC(2026, 0, 2, 3, 4, 5, 600), want: '2026-01-02 03:04:05.6 +0000 UTC' },
    { ms: Date.UTC(2026, 0, 2, 3, 4, 5, 7), want: '2026-01-02 03:04:05.007 +0000 UTC' },
    { ms: Date.UTC(2026, 0, 2, 3, 4, 5, 100), want: '2026-01-02 03:04:05.1 +0000 UTC' },
    { ms: Date.UTC(2026, 0, 2, 3, 4, 5), want: '2026-01-02 03:04:05 +0000 UTC' },
  ])('$ms -> $want', ({ ms, want }) => {
    expect(goTime(ms)).toBe(want);
  });
});

describe('HealthState', () => {
  it('503 on both paths before the first sync', () => {
    const { h, advance } = state();
    advance(1000);
    expect(h.isSynced).toBe(false);
    expect(h.healthz().status).toBe(503);
    expect(h.livez().status).toBe(503);
    // lastUpdated stays at start while unhealthy; currentTime moves.
    expect(h.healthz().body).toBe(
      `{"lastUpdated": "${goTime(T0)}","currentTime": "${goTime(T0 + 1000)}", "nodeEligible": true}`,
    );
  });

  it('200 after the first sync, with lastUpdated == currentTime', () => {
    const { h, advance, now } = state();
    h.queued();
    advance(500);
    h.synced();
    advance(10_000);
    const a = h.healthz();
    expect(a.status).toBe(200);
    expect(a.body).toBe(`{"lastUpdated": "${goTime(now())}","currentTime": "${goTime(now())}", "nodeEligible": true}`);
    const l = h.livez();
    expect(l.status).toBe(200);
    expect(l.body).toBe(`{"lastUpdated": "${goTime(now())}","currentTime": "${goTime(now())}"}`);
  });

  it('the body has kube-proxy\'s exact spacing', () => {
    const { h } = state();
    h.synced();
    const m = BODY.exec(h.healthz().body);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(m![3]).toBe('true');
    expect(h.healthz().body).not.toMatch(/\n/);
    expect(LIVEZ_BODY.test(h.livez().body)).toBe(true);
  });

  interface NodeCase {
    name: string;
    node: any;
    healthz: 200 | 503;
    eligible: boolean;
  }
  const nodeCases: NodeCase[] = [
    { name: 'plain node', node: node('node-a'), healthz: 200, eligible: true },
    { name: 'node being deleted (deletionTimestamp)', node: node('node-a', {}, { deleting: true }), healthz: 503, eligible: false },
    {
      name: 'ToBeDeletedByClusterAutoscaler taint',
      node: node('node-a', {}, { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }),
      healthz: 503,
      eligible: false,
    },
    {
      name: 'other taints do not matter',
      node: node('node-a', {}, { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }),
      healthz: 200,
      eligible: true,
    },
  ];
  it.each(nodeCases)('node eligibility: $name -> /healthz $healthz, /livez 200', ({ node: n, healthz, eligible }) => {
    const { h } = state();
    h.synced();
    h.setNode(n);
    const a = h.healthz();
    expect(a.status).toBe(healthz);
    expect(BODY.exec(a.body)![3]).toBe(String(eligible));
    expect(h.livez().status).toBe(200);
    expect(h.livez().body).not.toMatch(/nodeEligible/);
  });

  it('a node that is no longer tainted is eligible again', () => {
    const { h } = state();
    h.synced();
    h.setNode(node('node-a', {}, { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] }));
    expect(h.healthz().status).toBe(503);
    h.setNode(node('node-a'));
    expect(h.healthz().status).toBe(200);
  });

  it('an ineligible node before sync: 503 with nodeEligible false', () => {
    const { h } = state();
    h.setNode(node('node-a', {}, { deleting: true }));
    expect(h.healthz()).toMatchObject({ status: 503 });
    expect(h.healthz().body).toMatch(/"nodeEligible": false\}$/);
  });

  it('an update waiting longer than the health timeout makes both unhealthy until applied', () => {
    const { h, advance, now } = state(60_000);
    h.synced();
    const appliedAt = now();
    h.queued();
    advance(60_000);
    expect(h.healthz().status).toBe(200); // exactly the timeout: still healthy
    advance(1);
    expect(h.healthz().status).toBe(503);
    expect(h.livez().status).toBe(503);
    expect(BODY.exec(h.healthz().body)![1]).toBe(goTime(appliedAt));
    h.applied();
    expect(h.healthz().status).toBe(200);
  });
});
