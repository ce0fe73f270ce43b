// Polling delays: exponential backoff with full jitter (a uniform draw between 0 and the
// capped exponential), so many clients watching many jobs spread out instead of polling in step.
export const DEFAULT_BASE_MS = 500;
export const DEFAULT_CAP_MS = 10_000;
/** The ceiling of attempt `attempt` (0-based): base × 2^attempt, at most cap. */
export function backoffCeiling(attempt, baseMs = DEFAULT_BASE_MS, capMs = DEFAULT_CAP_MS) {
    return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}
/** A delay for attempt `attempt`: uniform in [0, ceiling], never below the server's Retry-After. */
export function backoffDelay(attempt, options = {}, retryAfterMs = null) {
    const ceiling = backoffCeiling(attempt, options.baseMs, options.capMs);
    const jittered = Math.floor((options.random ?? Math.random)() * ceiling);
    return retryAfterMs == null ? jittered : Math.max(jittered, retryAfterMs);
}
/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms, signal) {
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
