export class JobsClientError extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = new.target.name;
    }
}
export class ApiError extends JobsClientError {
    /** The HTTP status. */
    status;
    /** The server's `detail`: a sentence naming the field, or FastAPI's list for a 422. */
    detail;
    /** `Retry-After` in milliseconds, when the server sent one (429, 503, 507). */
    retryAfterMs;
    constructor(status, detail, retryAfterMs) {
        super(describe(status, detail));
        this.status = status;
        this.detail = detail;
        this.retryAfterMs = retryAfterMs;
    }
    /** Whether asking again later may succeed (a timeout, rate limit or server trouble). */
    get retryable() {
        return this.status === 408 || this.status === 425 || this.status === 429 || this.status >= 500;
    }
}
export class NetworkError extends JobsClientError {
}
function describe(status, detail) {
    if (typeof detail === "string" && detail)
        return detail;
    if (Array.isArray(detail) && detail.length > 0) {
        return detail.map((issue) => `${issue.loc.slice(1).join(".") || "body"}: ${issue.msg}`).join("; ");
    }
    return `HTTP ${status}`;
}
/** `Retry-After` as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value, now = Date.now()) {
    if (value == null || value.trim() === "")
        return null;
    const text = value.trim();
    if (/^\d+$/.test(text))
        return Number(text) * 1000;
    const date = Date.parse(text);
    return Number.isNaN(date) ? null : Math.max(0, date - now);
}
export async function apiErrorFrom(response) {
    let detail = null;
    try {
        const body = await response.json();
        if (body && typeof body === "object" && "detail" in body) {
            const value = body.detail;
            if (typeof value === "string" || Array.isArray(value))
                detail = value;
        }
    }
    catch {
        // not JSON (a proxy's HTML page): the status says enough
    }
    return new ApiError(response.status, detail, parseRetryAfter(response.headers.get("Retry-After")));
}
export function isAbort(error) {
    return error instanceof DOMException && error.name === "AbortError";
}
