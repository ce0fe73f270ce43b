// The seed's three progress components: <JobProgress> (a card), <JobProgressCompact> (inline)
// and <JobProgressModal> (a dialog). Plain elements with `bkj-` classes, themed by the CSS
// variables in styles.css; job text is rendered as text, never as HTML.
import { type KeyboardEvent, type ReactNode, useEffect, useId, useRef } from "react";
import type { JobsClient } from "../client/client.js";
import type { JobStatus, JobView } from "../client/types.js";
import { useJobStatus } from "./useJobStatus.js";

export interface ProgressBarProps {
  value: number;
  label: string;
  /** Read out by screen readers instead of just the percentage. */
  valueText?: string;
  status?: JobStatus | null;
}

export function ProgressBar({ value, label, valueText, status }: ProgressBarProps) {
  const clamped = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className="bkj-bar"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={clamped}
      aria-valuetext={valueText ?? `${clamped}%`}
      data-status={status ?? "unknown"}
    >
      <div className="bkj-bar-fill" style={{ width: `${clamped}%` }} />
    </div>
  );
}

const STATUS_LABELS: Record<JobStatus, string> = {
  pending: "Queued",
  running: "Running",
  complete: "Complete",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function StatusBadge({ status }: { status: JobStatus | null }) {
  return (
    <span className="bkj-badge" data-status={status ?? "unknown"}>
      {status ? STATUS_LABELS[status] : "Loading"}
    </span>
  );
}

interface FollowProps {
  jobId: string;
  /** A client to use instead of the one from <JobsProvider>. */
  client?: JobsClient;
}

export interface JobProgressProps extends FollowProps {
  title?: string;
  /** Also show attempts, times, the result and the error. */
  showDetails?: boolean;
  onComplete?: (result: JobView["result"]) => void;
  onError?: (error: string) => void;
  className?: string;
}

export function JobProgress({ jobId, title = "Background job", showDetails = false, onComplete, onError, client, className }: JobProgressProps) {
  const state = useJobStatus(jobId, { onComplete, onError, client });
  const headingId = useId();
  return (
    <section className={classes("bkj-card", className)} aria-labelledby={headingId} data-status={state.status ?? "unknown"}>
      <header className="bkj-card-header">
        <h3 id={headingId} className="bkj-title">{title}</h3>
        <StatusBadge status={state.status} />
      </header>
      <ProgressBar value={state.progress} label={title} status={state.status} valueText={valueText(state.progress, state.message)} />
      <p className="bkj-message" aria-live="polite">
        <span className="bkj-percent">{state.progress}%</span> {state.message}
      </p>
      {state.error ? (
        <p className="bkj-error" role="alert">{state.error}</p>
      ) : null}
      {showDetails && state.job ? <JobDetails job={state.job} /> : null}
    </section>
  );
}

export function JobDetails({ job }: { job: JobView }) {
  return (
    <dl className="bkj-details">
      <Detail term="Job">{job.id}</Detail>
      <Detail term="Type">{job.type}</Detail>
      <Detail term="Attempts">{job.attempts}</Detail>
      <Detail term="Created">{formatTime(job.created_at)}</Detail>
      <Detail term="Started">{formatTime(job.started_at)}</Detail>
      <Detail term="Finished">{formatTime(job.finished_at)}</Detail>
      {job.result != null ? (
        <Detail term="Result">
          <pre className="bkj-result">{JSON.stringify(job.result, null, 2)}</pre>
        </Detail>
      ) : null}
    </dl>
  );
}

function Detail({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="bkj-detail">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export interface JobProgressCompactProps extends FollowProps {
  onComplete?: (result: JobView["result"]) => void;
  onError?: (error: string) => void;
  /** The progress bar's accessible name ("Job progress"). */
  label?: string;
  className?: string;
}

export function JobProgressCompact({ jobId, onComplete, onError, client, label = "Job progress", className }: JobProgressCompactProps) {
  const state = useJobStatus(jobId, { onComplete, onError, client });
  return (
    <span className={classes("bkj-compact", className)} data-status={state.status ?? "unknown"} title={state.error ?? state.message}>
      <ProgressBar value={state.progress} label={label} status={state.status} valueText={valueText(state.progress, state.error ?? state.message)} />
      <span className="bkj-percent">{state.error ? STATUS_LABELS[state.status ?? "failed"] : `${state.progress}%`}</span>
    </span>
  );
}

export interface JobProgressModalProps extends FollowProps {
  title?: string;
  /** Called on Escape, on the close button and on a click outside the dialog. */
  onClose: () => void;
  onComplete?: (result: JobView["result"]) => void;
  onError?: (error: string) => void;
  showDetails?: boolean;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function JobProgressModal({ jobId, title = "Background job", onClose, onComplete, onError, client, showDetails = true }: JobProgressModalProps) {
  const dialog = useRef<HTMLDivElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const headingId = useId();
  const state = useJobStatus(jobId, { onComplete, onError, client });

  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    closeButton.current?.focus();
    return () => before?.focus();
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      onClose();
      return;
    }
    if (event.key !== "Tab" || !dialog.current) return;
    const items = [...dialog.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };

  return (
    <div className="bkj-overlay" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div ref={dialog} className="bkj-modal" role="dialog" aria-modal="true" aria-labelledby={headingId} onKeyDown={onKeyDown}>
        <header className="bkj-card-header">
          <h2 id={headingId} className="bkj-title">{title}</h2>
          <StatusBadge status={state.status} />
        </header>
        <ProgressBar value={state.progress} label={title} status={state.status} valueText={valueText(state.progress, state.message)} />
        <p className="bkj-message" aria-live="polite">
          <span className="bkj-percent">{state.progress}%</span> {state.message}
        </p>
        {state.error ? <p className="bkj-error" role="alert">{state.error}</p> : null}
        {showDetails && state.job ? <JobDetails job={state.job} /> : null}
        <div className="bkj-actions">
          <button ref={closeButton} type="button" className="bkj-button" onClick={onClose}>
            {state.isLoading ? "Hide" : "Close"}
          </button>
        </div>
      </div>
    </div>
  );
}

function valueText(progress: number, message: string): string {
  return message ? `${progress}%: ${message}` : `${progress}%`;
}

function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

function classes(...names: Array<string | undefined>): string {
  return names.filter(Boolean).join(" ");
}
