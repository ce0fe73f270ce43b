import { type Transport } from "./http.js";
import { type JobView } from "./types.js";
import type { JobsClient } from "./client.js";
export interface FollowOptions {
    /** Every new state of the job, the current one first. */
    onUpdate?: (job: JobView) => void;
    /** Stops following (this follower only); the promise rejects with the signal's reason. */
    signal?: AbortSignal;
}
export interface FollowTuning {
    /** "auto" (default): SSE, falling back to polling; "poll" or "sse" to force one. */
    transport?: "auto" | "sse" | "poll";
    /** The first polling ceiling in ms (500). */
    baseMs?: number;
    /** The largest polling delay ceiling in ms (10,000). */
    capMs?: number;
    /** Dropped SSE connections in a row before switching to polling (3). */
    maxStreamRetries?: number;
    /** [0, 1) source for jitter; Math.random by default. */
    random?: () => number;
}
interface Follower {
    onUpdate?: (job: JobView) => void;
    resolve: (job: JobView) => void;
    reject: (error: unknown) => void;
}
export declare class FollowHub {
    private readonly client;
    private readonly transport;
    private readonly tuning;
    private readonly channels;
    constructor(client: JobsClient, transport: Transport, tuning: FollowTuning);
    /** How many jobs are followed right now (one per job, however many followers). */
    get size(): number;
    join(jobId: string, follower: Follower): () => void;
    private close;
    private run;
    private follow;
    /** One SSE connection: every `status` event published, until the terminal one or a drop. */
    private stream;
    /** Polls GET /api/jobs/{id} with If-None-Match until the job ends. */
    private poll;
}
export declare function followJob(hub: FollowHub, jobId: string, options?: FollowOptions): Promise<JobView>;
export {};
