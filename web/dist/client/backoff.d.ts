export interface BackoffOptions {
    /** The first ceiling, in ms (the first delay is drawn from [0, baseMs]). */
    baseMs?: number;
    /** The largest ceiling, in ms. */
    capMs?: number;
    /** A number in [0, 1); Math.random by default (tests pass their own). */
    random?: () => number;
}
export declare const DEFAULT_BASE_MS = 500;
export declare const DEFAULT_CAP_MS = 10000;
/** The ceiling of attempt `attempt` (0-based): base × 2^attempt, at most cap. */
export declare function backoffCeiling(attempt: number, baseMs?: number, capMs?: number): number;
/** A delay for attempt `attempt`: uniform in [0, ceiling], never below the server's Retry-After. */
export declare function backoffDelay(attempt: number, options?: BackoffOptions, retryAfterMs?: number | null): number;
/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export declare function sleep(ms: number, signal?: AbortSignal): Promise<void>;
