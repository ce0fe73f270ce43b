import type { ValidationIssue } from "./types.js";
export declare class JobsClientError extends Error {
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
export declare class ApiError extends JobsClientError {
    /** The HTTP status. */
    readonly status: number;
    /** The server's `detail`: a sentence naming the field, or FastAPI's list for a 422. */
    readonly detail: string | ValidationIssue[] | null;
    /** `Retry-After` in milliseconds, when the server sent one (429, 503, 507). */
    readonly retryAfterMs: number | null;
    constructor(status: number, detail: string | ValidationIssue[] | null, retryAfterMs: number | null);
    /** Whether asking again later may succeed (a timeout, rate limit or server trouble). */
    get retryable(): boolean;
}
export declare class NetworkError extends JobsClientError {
}
/** `Retry-After` as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export declare function parseRetryAfter(value: string | null, now?: number): number | null;
export declare function apiErrorFrom(response: Response): Promise<ApiError>;
export declare function isAbort(error: unknown): boolean;
