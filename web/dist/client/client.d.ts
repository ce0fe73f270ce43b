import { type FollowOptions, type FollowTuning } from "./follow.js";
import { type TokenSource } from "./http.js";
import type { BulkApproveRequest, CategorizeRequest, CompanyJobs, CompanyReceipts, ExportQboRequest, JobStarted, JobView, OcrRequest, ReceiptUpload, ReceiptUploaded, ReceiptView, StatementUpload } from "./types.js";
export interface JobsClientOptions {
    /** Where the API is: "" (the default) for the page's own origin, or "https://jobs.example.com". */
    baseUrl?: string;
    /** An API key or JWT sent as `Authorization: Bearer …`. */
    token?: string;
    /** Called before every request instead (a JWT that is refreshed, a key kept elsewhere). */
    getToken?: TokenSource;
    /** A fetch to use instead of the global one (tests, server-side rendering). */
    fetch?: typeof fetch;
    /** followJob's timings and transport (defaults: SSE, then polling from 500 ms to 10 s). */
    follow?: FollowTuning;
}
export interface StartOptions {
    /** The same key and body answer with the same job (safe to retry a start). */
    idempotencyKey?: string;
    signal?: AbortSignal;
}
export interface PageOptions {
    limit?: number;
    cursor?: string | null;
    signal?: AbortSignal;
}
/** A conditional read: `job` is null when the server answered 304 (unchanged since `etag`). */
export interface ConditionalJob {
    job: JobView | null;
    etag: string | null;
    retryAfterMs: number | null;
}
export interface JobsClient {
    startCategorize(body: CategorizeRequest, options?: StartOptions): Promise<JobStarted>;
    startBulkApprove(body: BulkApproveRequest, options?: StartOptions): Promise<JobStarted>;
    startUploadAndCategorize(upload: StatementUpload, options?: StartOptions): Promise<JobStarted>;
    /** The same as startUploadAndCategorize: a statement is imported by that job. */
    uploadStatement(upload: StatementUpload, options?: StartOptions): Promise<JobStarted>;
    startOcr(body: OcrRequest, options?: StartOptions): Promise<JobStarted>;
    startExportQbo(body: ExportQboRequest, options?: StartOptions): Promise<JobStarted>;
    getJob(jobId: string, options?: {
        signal?: AbortSignal;
    }): Promise<JobView>;
    getJobIfChanged(jobId: string, etag: string | null, options?: {
        signal?: AbortSignal;
    }): Promise<ConditionalJob>;
    listCompanyJobs(companyId: string, options?: PageOptions): Promise<CompanyJobs>;
    cancelJob(jobId: string, options?: {
        signal?: AbortSignal;
    }): Promise<JobView>;
    uploadReceipt(upload: ReceiptUpload, options?: {
        signal?: AbortSignal;
    }): Promise<ReceiptUploaded>;
    getReceipt(receiptId: string, options?: {
        signal?: AbortSignal;
    }): Promise<ReceiptView>;
    listReceipts(companyId: string, options?: PageOptions): Promise<CompanyReceipts>;
    /** Follows a job until it ends; resolves with its terminal view. See followJob in README. */
    followJob(jobId: string, options?: FollowOptions): Promise<JobView>;
    /** The URL of a route, for links (`/api/jobs/{id}/error-report`); never carries the token. */
    url(path: string): string;
}
export declare function createJobsClient(options?: JobsClientOptions): JobsClient;
