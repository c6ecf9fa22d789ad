// Capped exponential backoff with jitter for watch reconnects and list retries.
// Every proxy instance of a DaemonSet loses its watches at the same moment when the API server
// restarts; without jitter they would all come back in lock-step and hit it together. We use
// "equal jitter": the delay is drawn from [d/2, d], so it never collapses to ~0 (a tight loop
// against a broken server) and at the cap the instances are still spread over half the cap.

export interface BackoffOptions {
  /** First delay before jitter, in ms. client-go's reflector uses 800 ms. */
  initialMs?: number;
  /** Upper bound of the delay, in ms. client-go caps at 30 s. */
  maxMs?: number;
  /** Growth per consecutive failure. */
  factor?: number;
  /** Source of randomness in [0, 1), injectable for tests. */
  random?: () => number;
}

export interface Backoff {
  /** The delay to wait before the next attempt; each call counts one more consecutive failure. */
  next(): number;
  /** Called after a success: the next failure starts again from `initialMs`. */
  reset(): void;
  /** Consecutive failures since the last reset. */
  readonly failures: number;
}

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 800;
  const maxMs = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1)) {
    throw new RangeError(`invalid backoff options: initialMs=${initialMs} maxMs=${maxMs} factor=${factor}`);
  }
  let failures = 0;
  return {
    next() {
      // Math.min before the power would overflow for long outages: clamp the exponent instead.
      const exponent = Math.min(failures, 64);
      const capped = Math.min(maxMs, initialMs * factor ** exponent);
      failures++;
      return capped / 2 + random() * (capped / 2);
    },
    reset() {
      failures = 0;
    },
    get failures() {
      return failures;
    },
  };
}
