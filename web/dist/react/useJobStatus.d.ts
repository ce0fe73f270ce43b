import type { JobsClient } from "../client/client.js";
import { type JobStatus, type JobView } from "../client/types.js";
export interface UseJobStatusOptions {
    /** Called once when the job completes, with its result. */
    onComplete?: (result: JobView["result"]) => void;
    /** Called once when the job fails or is cancelled, or cannot be followed, with why. */
    onError?: (error: string) => void;
    /** A client to use instead of the one from <JobsProvider>. */
    client?: JobsClient;
}
export interface JobStatusState {
    /** null until the first answer. */
    status: JobStatus | null;
    /** 0-100. */
    progress: number;
    message: string;
    /** What the job returned, once complete (its shape depends on the job type). */
    result: JobView["result"];
    /** Why the job failed or was cancelled, or why it could not be followed; null otherwise. */
    error: string | null;
    /** True while the job has not ended (and there is a job to follow). */
    isLoading: boolean;
    /** The whole last view of the job (timestamps, attempts, conditions), null until known. */
    job: JobView | null;
}
export declare const CANCELLED_MESSAGE = "The job was cancelled.";
export declare function errorOf(job: JobView): string | null;
export declare function useJobStatus(jobId: string | null | undefined, options?: UseJobStatusOptions): JobStatusState;
