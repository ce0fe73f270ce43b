// The client without React: `import { createJobsClient } from "bookkeeper-jobs-web/client"`.
export { createJobsClient } from "./client.js";
export type {
  AddedRule,
  ConditionalJob,
  JobsClient,
  JobsClientOptions,
  PageOptions,
  StartOptions,
  TransactionPageOptions,
} from "./client.js";
export type { FollowOptions, FollowTuning } from "./follow.js";
export { ApiError, JobsClientError, NetworkError, parseRetryAfter } from "./errors.js";
export { backoffCeiling, backoffDelay, DEFAULT_BASE_MS, DEFAULT_CAP_MS } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { EventStreamParser } from "./sse.js";
export type { ServerSentEvent } from "./sse.js";
export * from "./types.js";
export type { components, paths } from "../api/schema.js";
