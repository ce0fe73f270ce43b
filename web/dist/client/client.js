// createJobsClient: every route a frontend needs, typed from the OpenAPI document.
import { followJob as follow, FollowHub } from "./follow.js";
import { jsonBody, segment, send, sendJson } from "./http.js";
import { parseRetryAfter } from "./errors.js";
export function createJobsClient(options = {}) {
    const fixed = options.token;
    const transport = {
        baseUrl: options.baseUrl ?? "",
        fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
        token: options.getToken ?? (() => fixed),
    };
    const start = (type, body, opts = {}) => sendJson(transport, `/api/jobs/${type}`, {
        method: "POST",
        ...withKey(jsonBody(body), opts.idempotencyKey),
        signal: opts.signal,
    });
    const uploadStatement = (upload, opts = {}) => {
        const { headers } = withKey({}, opts.idempotencyKey);
        return sendJson(transport, "/api/jobs/upload-and-categorize", {
            method: "POST",
            body: formOf(upload),
            headers,
            signal: opts.signal,
        });
    };
    const client = {
        startCategorize: (body, opts) => start("categorize", body, opts),
        startBulkApprove: (body, opts) => start("bulk-approve", body, opts),
        startOcr: (body, opts) => start("ocr", body, opts),
        startExportQbo: (body, opts) => start("export-qbo", body, opts),
        startUploadAndCategorize: uploadStatement,
        uploadStatement,
        getJob: (jobId, opts = {}) => sendJson(transport, `/api/jobs/${segment(jobId)}`, opts),
        async getJobIfChanged(jobId, etag, opts = {}) {
            const response = await send(transport, `/api/jobs/${segment(jobId)}`, {
                headers: etag ? { "If-None-Match": etag } : {},
                accept: [304],
                signal: opts.signal,
            });
            const retryAfterMs = parseRetryAfter(response.headers.get("Retry-After"));
            const nextTag = response.headers.get("ETag") ?? etag;
            if (response.status === 304)
                return { job: null, etag: nextTag, retryAfterMs };
            return { job: (await response.json()), etag: nextTag, retryAfterMs };
        },
        listCompanyJobs: (companyId, opts = {}) => sendJson(transport, `/api/jobs/company/${segment(companyId)}`, {
            query: { limit: opts.limit, cursor: opts.cursor },
            signal: opts.signal,
        }),
        cancelJob: (jobId, opts = {}) => sendJson(transport, `/api/jobs/${segment(jobId)}/cancel`, { method: "POST", signal: opts.signal }),
        uploadReceipt: (upload, opts = {}) => sendJson(transport, "/api/receipts", { method: "POST", body: formOf(upload), signal: opts.signal }),
        getReceipt: (receiptId, opts = {}) => sendJson(transport, `/api/receipts/${segment(receiptId)}`, opts),
        listReceipts: (companyId, opts = {}) => sendJson(transport, `/api/companies/${segment(companyId)}/receipts`, {
            query: { limit: opts.limit, cursor: opts.cursor },
            signal: opts.signal,
        }),
        listTransactions: (companyId, opts = {}) => sendJson(transport, `/api/companies/${segment(companyId)}/transactions`, {
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
        getTransaction: (transactionId, opts = {}) => sendJson(transport, `/api/transactions/${segment(transactionId)}`, opts),
        correctTransaction: (transactionId, category, opts = {}) => sendJson(transport, `/api/transactions/${segment(transactionId)}`, {
            method: "PATCH",
            ...jsonBody({ category }),
            signal: opts.signal,
        }),
        listRuleSuggestions: (companyId, opts = {}) => sendJson(transport, `/api/companies/${segment(companyId)}/rule-suggestions`, opts),
        listRules: (companyId, opts = {}) => sendJson(transport, `/api/companies/${segment(companyId)}/rules`, opts),
        async addRule(companyId, rule, opts = {}) {
            const response = await send(transport, `/api/companies/${segment(companyId)}/rules`, {
                method: "POST",
                ...jsonBody(rule),
                signal: opts.signal,
            });
            return { rule: (await response.json()), created: response.status === 201 };
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
function withKey(options, key) {
    if (!key)
        return options;
    return { ...options, headers: { ...options.headers, "Idempotency-Key": key } };
}
function formOf(upload) {
    const form = new FormData();
    const name = upload.filename ?? (upload.file instanceof File ? upload.file.name : "upload");
    form.append("file", upload.file, name);
    form.append("company_id", upload.company_id);
    form.append("tenant_id", upload.tenant_id);
    return form;
}
