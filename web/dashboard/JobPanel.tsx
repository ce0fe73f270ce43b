// One job: its progress, result and error (the package's <JobProgress>) and a cancel button.
import { useState } from "react";
import { useJobsClient } from "../src/react/context.js";
import { JobProgress } from "../src/react/JobProgress.js";
import { useJobStatus } from "../src/react/useJobStatus.js";

export function JobPanel({ jobId, onClose }: { jobId: string; onClose: () => void }) {
  const client = useJobsClient();
  const { isLoading, job } = useJobStatus(jobId); // shares the stream with <JobProgress> below
  const [problem, setProblem] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const cancel = () => {
    setCancelling(true);
    setProblem(null);
    client
      .cancelJob(jobId)
      .catch((error: unknown) => setProblem(error instanceof Error ? error.message : String(error)))
      .finally(() => setCancelling(false));
  };
  return (
    <aside className="dash-panel" aria-label="Job details">
      <JobProgress key={jobId} jobId={jobId} title={job ? `${job.type} ${job.id}` : jobId} showDetails />
      <div className="bkj-actions">
        <button type="button" className="bkj-button dash-danger" onClick={cancel} disabled={!isLoading || cancelling}>
          Cancel job
        </button>
        <button type="button" className="bkj-button" onClick={onClose}>Close</button>
      </div>
      {problem ? <p role="alert" className="bkj-error">{problem}</p> : null}
    </aside>
  );
}
