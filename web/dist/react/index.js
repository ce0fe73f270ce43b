export { JobsProvider, useJobsClient } from "./context.js";
export { CANCELLED_MESSAGE, useJobStatus } from "./useJobStatus.js";
export { JobDetails, JobProgress, JobProgressCompact, JobProgressModal, ProgressBar, StatusBadge } from "./JobProgress.js";
