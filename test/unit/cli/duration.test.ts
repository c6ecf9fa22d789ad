// Go-style durations for the flags ("500ms", "2s", "1m30s", "24h", "0").
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../proxy/cli/duration.ts';

describe('parseDuration', () => {
  it.each<{ text: string; ms: number | undefined }>([
    { text: '0', ms: 0 },
    { text: '0s', ms: 0 },
    { text: '500ms', ms: 500 },
    { text: '2s', ms: 2000 },
    { text: '1.5s', ms: 1500 },
    { text: '1m30s', ms: 90_000 },
    { text: '1h30m', ms: 5_400_000 },
    { text: '24h', ms: 86_400_000 },
    { text: '1h1m1s1ms', ms: 3_661_001 },
    { text: '1500us', ms: 1.5 },
    { text: '1500µs', ms: 1.5 },
    { text: '2000000ns', ms: 2 },
    { text: ' 2s ', ms: 2000 },
    { text: '', ms: undefined },
    { text: '5', ms: undefined },
    { text: 's', ms: undefined },
    { text: '-1s', ms: undefined },
    { text: '1d', ms: undefined },
    { text: '10 s', ms: undefined },
    { text: '1h30', ms: undefined },
    { text: '2S', ms: undefined },
    { text: 'soon', ms: undefined },
    { text: '1s garbage', ms: undefined },
  ])('"$text" -> $ms', ({ text, ms }) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('formatDuration', () => {
  it.each([
    { ms: 0, text: '0s' },
    { ms: 500, text: '500ms' },
    { ms: 2000, text: '2s' },
    { ms: 90_000, text: '90s' },
    { ms: 120_000, text: '2m' },
    { ms: 86_400_000, text: '24h' },
  ])('$ms -> $text, and back', ({ ms, text }) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
