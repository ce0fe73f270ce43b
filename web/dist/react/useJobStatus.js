// useJobStatus: the seed's hook. Follows one job (sharing the stream with every other
// component following it) and returns { status, progress, message, result, error, isLoading }.
import { useEffect, useRef, useState } from "react";
import { isTerminal } from "../client/types.js";
import { useJobsClient } from "./context.js";
export const CANCELLED_MESSAGE = "The job was cancelled.";
export function errorOf(job) {
    if (job.status === "failed")
        return job.error || "The job failed.";
    if (job.status === "cancelled")
        return job.error || CANCELLED_MESSAGE;
    return null;
}
export function useJobStatus(jobId, options = {}) {
    const client = useJobsClient(options.client);
    const callbacks = useRef(options);
    callbacks.current = options;
    const [job, setJob] = useState(null);
    const [failure, setFailure] = useState(null);
    useEffect(() => {
        setJob(null);
        setFailure(null);
        if (!jobId)
            return undefined;
        const controller = new AbortController();
        client
            .followJob(jobId, { onUpdate: setJob, signal: controller.signal })
            .then((final) => {
            setJob(final);
            const why = errorOf(final);
            if (why === null)
                callbacks.current.onComplete?.(final.result ?? null);
            else
                callbacks.current.onError?.(why);
        })
            .catch((error) => {
            if (controller.signal.aborted)
                return;
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
