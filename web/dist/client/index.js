// The client without React: `import { createJobsClient } from "bookkeeper-jobs-web/client"`.
export { createJobsClient } from "./client.js";
export { ApiError, JobsClientError, NetworkError, parseRetryAfter } from "./errors.js";
export { backoffCeiling, backoffDelay, DEFAULT_BASE_MS, DEFAULT_CAP_MS } from "./backoff.js";
export { EventStreamParser } from "./sse.js";
export * from "./types.js";
