// createJobsClient: every route a frontend needs, typed from the OpenAPI document.
import { followJob as follow, type FollowOptions, type FollowTuning, FollowHub } from "./follow.js";
import { jsonBody, segment, send, sendJson, type TokenSource, type Transport } from "./http.js";
import type {
  BulkApproveRequest,
  CategorizeRequest,
  CompanyJobs,
  CompanyReceipts,
  CompanyTransactions,
  CorrectedTransaction,
  ExportQboRequest,
  NewRule,
  JobStarted,
  JobView,
  OcrRequest,
  ReceiptUpload,
  ReceiptUploaded,
  ReceiptView,
  RuleSuggestion,
  RuleView,
  StatementUpload,
  TransactionDetail,
  TransactionFilters,
} from "./types.js";
import { parseRetryAfter } from "./errors.js";

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
export interface TransactionPageOptions extends PageOptions, TransactionFilters {}

/** The answer to addRule: the rule, and whether it is new (201) or was there already (200). */
export interface AddedRule {
  rule: RuleView;
  created: boolean;
}

type Abortable = { signal?: AbortSignal };

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
  getJob(jobId: string, options?: { signal?: AbortSignal }): Promise<JobView>;
  getJobIfChanged(jobId: string, etag: string | null, options?: { signal?: AbortSignal }): Promise<ConditionalJob>;
  listCompanyJobs(companyId: string, options?: PageOptions): Promise<CompanyJobs>;
  cancelJob(jobId: string, options?: { signal?: AbortSignal }): Promise<JobView>;
  uploadReceipt(upload: ReceiptUpload, options?: { signal?: AbortSignal }): Promise<ReceiptUploaded>;
  getReceipt(receiptId: string, options?: { signal?: AbortSignal }): Promise<ReceiptView>;
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

export function createJobsClient(options: JobsClientOptions = {}): JobsClient {
  const fixed = options.token;
  const transport: Transport = {
    baseUrl: options.baseUrl ?? "",
    fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
    token: options.getToken ?? (() => fixed),
  };
  const start = (type: string, body: unknown, opts: StartOptions = {}) =>
    sendJson<JobStarted>(transport, `/api/jobs/${type}`, {
      method: "POST",
      ...withKey(jsonBody(body), opts.idempotencyKey),
      signal: opts.signal,
    });
  const uploadStatement = (upload: StatementUpload, opts: StartOptions = {}) => {
    const { headers } = withKey<{ headers?: Record<string, string> }>({}, opts.idempotencyKey);
    return sendJson<JobStarted>(transport, "/api/jobs/upload-and-categorize", {
      method: "POST",
      body: formOf(upload),
      headers,
      signal: opts.signal,
    });
  };
  const client: JobsClient = {
    startCategorize: (body, opts) => start("categorize", body, opts),
    startBulkApprove: (body, opts) => start("bulk-approve", body, opts),
    startOcr: (body, opts) => start("ocr", body, opts),
    startExportQbo: (body, opts) => start("export-qbo", body, opts),
    startUploadAndCategorize: uploadStatement,
    uploadStatement,
    getJob: (jobId, opts = {}) => sendJson<JobView>(transport, `/api/jobs/${segment(jobId)}`, opts),
    async getJobIfChanged(jobId, etag, opts = {}) {
      const response = await send(transport, `/api/jobs/${segment(jobId)}`, {
        headers: etag ? { "If-None-Match": etag } : {},
        accept: [304],
        signal: opts.signal,
      });
      const retryAfterMs = parseRetryAfter(response.headers.get("Retry-After"));
      const nextTag = response.headers.get("ETag") ?? etag;
      if (response.status === 304) return { job: null, etag: nextTag, retryAfterMs };
      return { job: (await response.json()) as JobView, etag: nextTag, retryAfterMs };
    },
    listCompanyJobs: (companyId, opts = {}) =>
      sendJson<CompanyJobs>(transport, `/api/jobs/company/${segment(companyId)}`, {
        query: { limit: opts.limit, cursor: opts.cursor },
        signal: opts.signal,
      }),
    cancelJob: (jobId, opts = {}) =>
      sendJson<JobView>(transport, `/api/jobs/${segment(jobId)}/cancel`, { method: "POST", signal: opts.signal }),
    uploadReceipt: (upload, opts = {}) =>
      sendJson<ReceiptUploaded>(transport, "/api/receipts", { method: "POST", body: formOf(upload), signal: opts.signal }),
    getReceipt: (receiptId, opts = {}) =>
      sendJson<ReceiptView>(transport, `/api/receipts/${segment(receiptId)}`, opts),
    listReceipts: (companyId, opts = {}) =>
      sendJson<CompanyReceipts>(transport, `/api/companies/${segment(companyId)}/receipts`, {
        query: { limit: opts.limit, cursor: opts.cursor },
        signal: opts.signal,
      }),
    listTransactions: (companyId, opts = {}) =>
      sendJson<CompanyTransactions>(transport, `/api/companies/${segment(companyId)}/transactions`, {
        query: {
          status: opts.status,
          category: opts.category,
          q: opts.q,
          from: opts.from,
          to: opts.to,
          limit: opts.limit,
          cursor: opts.cursor,
        },
        signal: opts.signal,
      }),
    getTransaction: (transactionId, opts = {}) =>
      sendJson<TransactionDetail>(transport, `/api/transactions/${segment(transactionId)}`, opts),
    correctTransaction: (transactionId, category, opts = {}) =>
      sendJson<CorrectedTransaction>(transport, `/api/transactions/${segment(transactionId)}`, {
        method: "PATCH",
        ...jsonBody({ category }),
        signal: opts.signal,
      }),
    listRuleSuggestions: (companyId, opts = {}) =>
      sendJson<RuleSuggestion[]>(transport, `/api/companies/${segment(companyId)}/rule-suggestions`, opts),
    listRules: (companyId, opts = {}) =>
      sendJson<RuleView[]>(transport, `/api/companies/${segment(companyId)}/rules`, opts),
    async addRule(companyId, rule, opts = {}) {
      const response = await send(transport, `/api/companies/${segment(companyId)}/rules`, {
        method: "POST",
        ...jsonBody(rule),
        signal: opts.signal,
      });
      return { rule: (await response.json()) as RuleView, created: response.status === 201 };
    },
    async deleteRule(companyId, ruleId, opts = {}) {
      await send(transport, `/api/companies/${segment(companyId)}/rules/${segment(String(ruleId))}`, {
        method: "DELETE",
        signal: opts.signal,
      });
    },
    followJob: (jobId, opts) => follow(hub, jobId, opts),
    url: (path) => `${transport.baseUrl.replace(/\/+$/, "")}${path}`,
  };
  const hub = new FollowHub(client, transport, options.follow ?? {});
  return client;
}

function withKey<T extends { headers?: Record<string, string> }>(options: T, key: string | undefined): T {
  if (!key) return options;
  return { ...options, headers: { ...options.headers, "Idempotency-Key": key } };
}

function formOf(upload: StatementUpload | ReceiptUpload): FormData {
  const form = new FormData();
  const name = upload.filename ?? (upload.file instanceof File ? upload.file.name : "upload");
  form.append("file", upload.file, name);
  form.append("company_id", upload.company_id);
  form.append("tenant_id", upload.tenant_id);
  return form;
}
