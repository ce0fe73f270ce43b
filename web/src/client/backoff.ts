// Polling delays: exponential backoff with full jitter (a uniform draw between 0 and the
// capped exponential), so many clients watching many jobs spread out instead of polling in step.

export interface BackoffOptions {
  /** The first ceiling, in ms (the first delay is drawn from [0, baseMs]). */
  baseMs?: number;
  /** The largest ceiling, in ms. */
  capMs?: number;
  /** A number in [0, 1); Math.random by default (tests pass their own). */
  random?: () => number;
}

export const DEFAULT_BASE_MS = 500;
export const DEFAULT_CAP_MS = 10_000;

/** The ceiling of attempt `attempt` (0-based): base × 2^attempt, at most cap. */
export function backoffCeiling(attempt: number, baseMs = DEFAULT_BASE_MS, capMs = DEFAULT_CAP_MS): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}

/** A delay for attempt `attempt`: uniform in [0, ceiling], never below the server's Retry-After. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, retryAfterMs: number | null = null): number {
  const ceiling = backoffCeiling(attempt, options.baseMs, options.capMs);
  const jittered = Math.floor((options.random ?? Math.random)() * ceiling);
  return retryAfterMs == null ? jittered : Math.max(jittered, retryAfterMs);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
