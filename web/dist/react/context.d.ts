import { type ReactNode } from "react";
import type { JobsClient } from "../client/client.js";
export declare function JobsProvider({ client, children }: {
    client: JobsClient;
    children?: ReactNode;
}): import("react").JSX.Element;
export declare function useJobsClient(explicit?: JobsClient): JobsClient;
