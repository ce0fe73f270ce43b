import type { JobsClient } from "../client/client.js";
import type { JobStatus, JobView } from "../client/types.js";
export interface ProgressBarProps {
    value: number;
    label: string;
    /** Read out by screen readers instead of just the percentage. */
    valueText?: string;
    status?: JobStatus | null;
}
export declare function ProgressBar({ value, label, valueText, status }: ProgressBarProps): import("react").JSX.Element;
export declare function StatusBadge({ status }: {
    status: JobStatus | null;
}): import("react").JSX.Element;
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
export declare function JobProgress({ jobId, title, showDetails, onComplete, onError, client, className }: JobProgressProps): import("react").JSX.Element;
export declare function JobDetails({ job }: {
    job: JobView;
}): import("react").JSX.Element;
export interface JobProgressCompactProps extends FollowProps {
    onComplete?: (result: JobView["result"]) => void;
    onError?: (error: string) => void;
    /** The progress bar's accessible name ("Job progress"). */
    label?: string;
    className?: string;
}
export declare function JobProgressCompact({ jobId, onComplete, onError, client, label, className }: JobProgressCompactProps): import("react").JSX.Element;
export interface JobProgressModalProps extends FollowProps {
    title?: string;
    /** Called on Escape, on the close button and on a click outside the dialog. */
    onClose: () => void;
    onComplete?: (result: JobView["result"]) => void;
    onError?: (error: string) => void;
    showDetails?: boolean;
}
export declare function JobProgressModal({ jobId, title, onClose, onComplete, onError, client, showDetails }: JobProgressModalProps): import("react").JSX.Element;
export {};
