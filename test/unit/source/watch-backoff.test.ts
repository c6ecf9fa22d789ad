import { describe, expect, it } from 'vitest';
import { createBackoff } from '../../../proxy/source/watch-backoff.ts';

describe('watch backoff', () => {
  it('doubles from the initial delay up to the cap, with the top of the jitter range at random() -> 1', () => {
    const b = createBackoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    expect(Array.from({ length: 6 }, () => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.failures).toBe(6);
  });

  it('never goes below half of the capped delay, so a broken server is not hammered', () => {
    const b = createBackoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect(Array.from({ length: 5 }, () => b.next())).toEqual([50, 100, 200, 400, 500]);
  });

  it('spreads delays at the cap (instances of a DaemonSet do not reconnect in lock-step)', () => {
    const b = createBackoff({ initialMs: 100, maxMs: 1000 });
    for (let i = 0; i < 10; i++) b.next();
    const delays = new Set(Array.from({ length: 20 }, () => Math.round(b.next())));
    expect(delays.size).toBeGreaterThan(5);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(500), expect(d).toBeLessThanOrEqual(1000);
  });

  it('starts over after reset and survives very long outages', () => {
    const b = createBackoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    for (let i = 0; i < 5000; i++) expect(Number.isFinite(b.next())).toBe(true);
    b.reset();
    expect(b.failures).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('rejects nonsense options', () => {
    expect(() => createBackoff({ initialMs: 0 })).toThrow(/initialMs=0/);
    expect(() => createBackoff({ initialMs: 100, maxMs: 10 })).toThrow(/maxMs=10/);
  });
});
