// useJobStatus: the seed's hook. Follows one job (sharing the stream with every other
// component following it) and returns { status, progress, message, result, error, isLoading }.
import { useEffect, useRef, useState } from "react";
import type { JobsClient } from "../client/client.js";
import { isTerminal, type JobStatus, type JobView } from "../client/types.js";
import { useJobsClient } from "./context.js";

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

export const CANCELLED_MESSAGE = "The job was cancelled.";

export function errorOf(job: JobView): string | null {
  if (job.status === "failed") return job.error || "The job failed.";
  if (job.status === "cancelled") return job.error || CANCELLED_MESSAGE;
  return null;
}

export function useJobStatus(jobId: string | null | undefined, options: UseJobStatusOptions = {}): JobStatusState {
  const client = useJobsClient(options.client);
  const callbacks = useRef(options);
  callbacks.current = options;
  const [job, setJob] = useState<JobView | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    setJob(null);
    setFailure(null);
    if (!jobId) return undefined;
    const controller = new AbortController();
    client
      .followJob(jobId, { onUpdate: setJob, signal: controller.signal })
      .then((final) => {
        setJob(final);
        const why = errorOf(final);
        if (why === null) callbacks.current.onComplete?.(final.result ?? null);
        else callbacks.current.onError?.(why);
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        const why = error instanceof Error ? error.message : String(error);
        setFailure(why);
        callbacks.current.onError?.(why);
      });
    return () => controller.abort(new DOMException("useJobStatus: unmounted or job changed", "AbortError"));
  }, [client, jobId]);

  const current = job && job.id === jobId ? job : null;
  const error = failure ?? (current ? errorOf(current) : null);
  return {
    status: current?.status ?? null,
    progress: current?.progress ?? 0,
    message: current?.message ?? "",
    result: current?.result ?? null,
    error,
    isLoading: Boolean(jobId) && failure === null && !isTerminal(current?.status),
    job: current,
  };
}
