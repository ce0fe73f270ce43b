import type { components, paths } from "../api/schema.js";
type Schemas = components["schemas"];
type JsonBody<P extends keyof paths> = paths[P] extends {
    post: {
        requestBody: {
            content: {
                "application/json": infer B;
            };
        };
    };
} ? B : never;
type FormBody<P extends keyof paths> = paths[P] extends {
    post: {
        requestBody: {
            content: {
                "multipart/form-data": infer B;
            };
        };
    };
} ? B : never;
export type JobView = Schemas["JobView"];
export type JobStatus = Schemas["JobPhase"];
export type JobType = JobView["type"];
export type JobStarted = Schemas["JobStarted"];
export type CompanyJobs = Schemas["CompanyJobs"];
export type ReceiptUploaded = Schemas["ReceiptUploaded"];
export type ReceiptView = Schemas["ReceiptView"];
export type ReceiptSummary = Schemas["ReceiptSummary"];
export type CompanyReceipts = Schemas["CompanyReceipts"];
export type ValidationIssue = Schemas["ValidationError"];
export type TransactionView = Schemas["TransactionView"];
export type TransactionDetail = Schemas["TransactionDetail"];
export type TransactionSuggestion = Schemas["Suggestion"];
export type CategoryChange = Schemas["CategoryChange"];
export type CompanyTransactions = Schemas["CompanyTransactions"];
export type CorrectedTransaction = Schemas["Corrected"];
export type TransactionSource = NonNullable<TransactionView["source"]>;
export type RuleView = Schemas["RuleView"];
export type RuleKind = RuleView["kind"];
export type RuleSuggestion = Schemas["RuleSuggestionView"];
type TransactionQuery = NonNullable<paths["/api/companies/{company_id}/transactions"]["get"]["parameters"]["query"]>;
/** The listing's filters: `status`, `category`, `q` (part of the description), `from`/`to` dates. */
export type TransactionFilters = Pick<TransactionQuery, "status" | "category" | "q" | "from" | "to">;
export type TransactionStatusFilter = NonNullable<TransactionQuery["status"]>;
type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;
export type CategorizeRequest = Optional<JsonBody<"/api/jobs/categorize">, "type" | "limit">;
export type BulkApproveRequest = Optional<JsonBody<"/api/jobs/bulk-approve">, "type">;
export type OcrRequest = Optional<JsonBody<"/api/jobs/ocr">, "type">;
export type ExportQboRequest = Optional<JsonBody<"/api/jobs/export-qbo">, "type" | "destination" | "bank_account">;
/** A rule to add: `kind` and `account_code`, with `pattern` (contains, regex) or amounts. */
export type NewRule = Optional<JsonBody<"/api/companies/{company_id}/rules">, "priority">;
type StatementForm = FormBody<"/api/jobs/upload-and-categorize">;
type ReceiptForm = FormBody<"/api/receipts">;
/** A multipart upload: the form fields the API names, with the file as a Blob or File. */
export interface StatementUpload extends Omit<StatementForm, "file"> {
    file: Blob;
    /** The file name sent to the server; a File's own name by default. */
    filename?: string;
}
export interface ReceiptUpload extends Omit<ReceiptForm, "file"> {
    file: Blob;
    filename?: string;
}
export declare const TERMINAL_STATUSES: readonly JobStatus[];
export declare function isTerminal(status: JobStatus | null | undefined): boolean;
export {};
