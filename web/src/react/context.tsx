// Which client the hooks and components use: the nearest <JobsProvider client={…}>, or the
// `client` option/prop given to one of them.
import { createContext, type ReactNode, useContext } from "react";
import type { JobsClient } from "../client/client.js";

const JobsClientContext = createContext<JobsClient | null>(null);

export function JobsProvider({ client, children }: { client: JobsClient; children?: ReactNode }) {
  return <JobsClientContext.Provider value={client}>{children}</JobsClientContext.Provider>;
}

export function useJobsClient(explicit?: JobsClient): JobsClient {
  const provided = useContext(JobsClientContext);
  const client = explicit ?? provided;
  if (!client) {
    throw new Error("bookkeeper-jobs-web: wrap the app in <JobsProvider client={createJobsClient(…)}> or pass `client`");
  }
  return client;
}
