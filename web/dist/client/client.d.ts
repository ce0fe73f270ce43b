import { type FollowOptions, type FollowTuning } from "./follow.js";
import { type TokenSource } from "./http.js";
import type { BulkApproveRequest, CategorizeRequest, CompanyJobs, CompanyReceipts, CompanyTransactions, CorrectedTransaction, ExportQboRequest, NewRule, JobStarted, JobView, OcrRequest, ReceiptUpload, ReceiptUploaded, ReceiptView, RuleSuggestion, RuleView, StatementUpload, TransactionDetail, TransactionFilters } from "./types.js";
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
/** A page of a company's transactions (newest first), filtered. */
export interface TransactionPageOptions extends PageOptions, TransactionFilters {
}
/** The answer to addRule: the rule, and whether it is new (201) or was there already (200). */
export interface AddedRule {
    rule: RuleView;
    created: boolean;
}
type Abortable = {
    signal?: AbortSignal;
};
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
    listTransactions(companyId: string, options?: TransactionPageOptions): Promise<CompanyTransactions>;
    getTransaction(transactionId: string, options?: Abortable): Promise<TransactionDetail>;
    /** A person's category (source `user`); `changed: false` when it had it already. */
    correctTransaction(transactionId: string, category: string, options?: Abortable): Promise<CorrectedTransaction>;
    listRuleSuggestions(companyId: string, options?: Abortable): Promise<RuleSuggestion[]>;
    listRules(companyId: string, options?: Abortable): Promise<RuleView[]>;
    addRule(companyId: string, rule: NewRule, options?: Abortable): Promise<AddedRule>;
    deleteRule(companyId: string, ruleId: number, options?: Abortable): Promise<void>;
    /** Follows a job until it ends; resolves with its terminal view. See followJob in README. */
    followJob(jobId: string, options?: FollowOptions): Promise<JobView>;
    /** The URL of a route, for links (`/api/jobs/{id}/error-report`); never carries the token. */
    url(path: string): string;
}
export declare function createJobsClient(options?: JobsClientOptions): JobsClient;
export {};
