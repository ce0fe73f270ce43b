// The company's jobs, a page at a time (the API's cursor), refreshed every few seconds:
// one listing request per refresh however many jobs run, so 10,000 jobs cost one page.
import { useEffect, useState } from "react";
import { isTerminal, type CompanyJobs } from "../src/client/types.js";
import { useJobsClient } from "../src/react/context.js";
import { ProgressBar, StatusBadge } from "../src/react/JobProgress.js";

const PAGE_SIZE = 25;
const REFRESH_MS = 2000;

export function JobsTable({ companyId, selected, onSelect, refreshKey }: { companyId: string; selected: string | null; onSelect: (jobId: string) => void; refreshKey: number }) {
  const client = useJobsClient();
  const [cursors, setCursors] = useState<Array<string | null>>([null]); // cursor of each page seen
  const [page, setPage] = useState<CompanyJobs | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const cursor = cursors[cursors.length - 1] ?? null;

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () => {
      client.listCompanyJobs(companyId, { limit: PAGE_SIZE, cursor, signal: controller.signal }).then(
        (next) => {
          setPage(next);
          setProblem(null);
          timer = setTimeout(load, REFRESH_MS);
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          setProblem(error instanceof Error ? error.message : String(error));
          timer = setTimeout(load, REFRESH_MS * 2);
        },
      );
    };
    load();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [client, companyId, cursor, refreshKey]);

  const jobs = page?.jobs ?? [];
  return (
    <section className="dash-jobs" aria-label="Jobs">
      <h2>Jobs</h2>
      {problem ? <p role="alert" className="bkj-error">{problem}</p> : null}
      <table className="dash-table">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} aria-selected={job.id === selected} data-job-id={job.id} data-status={job.status}>
              <td>
                <button type="button" className="dash-link" onClick={() => onSelect(job.id)}>{job.id}</button>
              </td>
              <td>{job.type}</td>
              <td><StatusBadge status={job.status} /></td>
              <td className="dash-progress">
                <ProgressBar value={job.progress} label={`Progress of ${job.id}`} status={job.status} valueText={`${job.progress}%${isTerminal(job.status) ? "" : `: ${job.message}`}`} />
                <span className="bkj-percent">{job.progress}%</span>
              </td>
              <td>{new Date(job.created_at).toLocaleString()}</td>
            </tr>
          ))}
          {page && jobs.length === 0 ? (
            <tr>
              <td colSpan={5} className="dash-muted">No jobs yet.</td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <nav className="dash-pager" aria-label="Job pages">
        <button type="button" className="bkj-button" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>Newer</button>
        <span className="dash-muted">Page {cursors.length}</span>
        <button type="button" className="bkj-button" disabled={!page?.next_cursor} onClick={() => page?.next_cursor && setCursors((c) => [...c, page.next_cursor ?? null])}>Older</button>
      </nav>
    </section>
  );
}
