import { jsx as _jsx } from "react/jsx-runtime";
// Which client the hooks and components use: the nearest <JobsProvider client={…}>, or the
// `client` option/prop given to one of them.
import { createContext, useContext } from "react";
const JobsClientContext = createContext(null);
export function JobsProvider({ client, children }) {
    return _jsx(JobsClientContext.Provider, { value: client, children: children });
}
export function useJobsClient(explicit) {
    const provided = useContext(JobsClientContext);
    const client = explicit ?? provided;
    if (!client) {
        throw new Error("bookkeeper-jobs-web: wrap the app in <JobsProvider client={createJobsClient(…)}> or pass `client`");
    }
    return client;
}
