import { describe, expect, it, vi } from "vitest";
import { ApiError, createJobsClient, NetworkError } from "../src/client/index.js";
import { fakeFetch, job, json } from "./fakes.js";

describe("createJobsClient", () => {
  it("sends the token as a bearer header and starts each JSON job type", async () => {
    const { fetch, calls } = fakeFetch(() => json({ job_id: "job-1", status: "pending" }, 202));
    const client = createJobsClient({ baseUrl: "http://api.test/", token: "k1", fetch });
    const ids = { company_id: "c1", tenant_id: "t1" };
    await client.startCategorize({ ...ids, limit: 5 }, { idempotencyKey: "idem-1" });
    await client.startBulkApprove({ ...ids, transaction_ids: ["a", "b"] });
    await client.startOcr({ ...ids, receipt_id: "rcpt-0123456789abcdef0123" });
    await client.startExportQbo({ ...ids, start_date: "2025-01-01", end_date: "2025-12-31", destination: "csv" });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "POST http://api.test/api/jobs/categorize",
      "POST http://api.test/api/jobs/bulk-approve",
      "POST http://api.test/api/jobs/ocr",
      "POST http://api.test/api/jobs/export-qbo",
    ]);
    expect(calls[0]?.headers).toMatchObject({
      Authorization: "Bearer k1",
      "Content-Type": "application/json",
      "Idempotency-Key": "idem-1",
    });
    expect(JSON.parse(calls[0]?.body as string)).toEqual({ company_id: "c1", tenant_id: "t1", limit: 5 });
    expect(calls[1]?.headers["Idempotency-Key"]).toBeUndefined();
  });

  it("asks getToken before every request", async () => {
    const { fetch, calls } = fakeFetch(() => json(job("running", 10)));
    let n = 0;
    const client = createJobsClient({ getToken: async () => `jwt-${++n}`, fetch });
    await client.getJob("job-1");
    await client.getJob("job-1");
    expect(calls.map((c) => c.headers.Authorization)).toEqual(["Bearer jwt-1", "Bearer jwt-2"]);
    expect(calls[0]?.url).toBe("/api/jobs/job-1");
  });

  it("uploads a statement and a receipt as multipart forms", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.url.endsWith("/api/receipts")
        ? json({ receipt_id: "rcpt-1", filename: "r.png", content_type: "image/png", pages: 1, size_bytes: 3 }, 201)
        : json({ job_id: "job-9", status: "pending" }, 202),
    );
    const client = createJobsClient({ token: "k", fetch });
    const started = await client.uploadStatement({
      file: new Blob(["Date,Description,Amount\n"], { type: "text/csv" }),
      filename: "bank.csv",
      company_id: "c1",
      tenant_id: "t1",
    });
    expect(started.job_id).toBe("job-9");
    const receipt = await client.uploadReceipt({ file: new Blob([new Uint8Array([1, 2, 3])]), filename: "r.png", company_id: "c1", tenant_id: "t1" });
    expect(receipt.receipt_id).toBe("rcpt-1");
    expect(calls[0]?.url).toBe("/api/jobs/upload-and-categorize");
    const form = calls[0]?.body as FormData;
    expect((form.get("file") as File).name).toBe("bank.csv");
    expect(form.get("company_id")).toBe("c1");
    expect(form.get("tenant_id")).toBe("t1");
    expect(calls[0]?.headers["Content-Type"]).toBeUndefined(); // fetch sets the boundary
    expect(calls[1]?.url).toBe("/api/receipts");
  });

  it("lists jobs and receipts a page at a time with the API's cursor", async () => {
    const { fetch, calls } = fakeFetch(() => json({ company_id: "c 1", jobs: [], receipts: [], count: 0, next_cursor: null }));
    const client = createJobsClient({ token: "k", fetch });
    await client.listCompanyJobs("c 1", { limit: 25, cursor: "abc==" });
    await client.listCompanyJobs("c 1");
    await client.listReceipts("c1", { limit: 10 });
    await client.getReceipt("rcpt-1");
    await client.cancelJob("job/1");
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET /api/jobs/company/c%201?limit=25&cursor=abc%3D%3D",
      "GET /api/jobs/company/c%201",
      "GET /api/companies/c1/receipts?limit=10",
      "GET /api/receipts/rcpt-1",
      "POST /api/jobs/job%2F1/cancel",
    ]);
  });

  it("lists a company's transactions with its filters and cursor, reads and corrects one", async () => {
    const row = {
      id: "txn_1",
      company_id: "c 1",
      date: "2024-01-08",
      description: "SLACK T054649",
      amount: "-196.67",
      currency: "USD",
      category: "6999",
      confidence: 0.31,
      source: "model" as const,
      approved: false,
      suggestion: { category: "6140", confidence: 0.62 },
    };
    const { fetch, calls } = fakeFetch((call) =>
      call.method === "PATCH"
        ? json({ ...row, category: "6140", source: "user", suggestion: null, changed: true })
        : call.url.startsWith("/api/transactions/")
          ? json({ ...row, changes: [] })
          : json({ company_id: "c 1", transactions: [row], count: 1, next_cursor: "nxt" }),
    );
    const client = createJobsClient({ token: "k", fetch });
    const page = await client.listTransactions("c 1", {
      status: "suggested",
      q: "slack & co",
      from: "2024-01-01",
      to: "2024-12-31",
      category: null,
      limit: 25,
      cursor: "abc==",
    });
    expect(page.transactions[0]?.suggestion?.category).toBe("6140");
    await client.listTransactions("c 1", { q: "" });
    const detail = await client.getTransaction("txn/1");
    expect(detail.changes).toEqual([]);
    const corrected = await client.correctTransaction("txn_1", "6140");
    expect(corrected).toMatchObject({ category: "6140", source: "user", changed: true });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET /api/companies/c%201/transactions?status=suggested&q=slack+%26+co&from=2024-01-01&to=2024-12-31&limit=25&cursor=abc%3D%3D",
      "GET /api/companies/c%201/transactions",
      "GET /api/transactions/txn%2F1",
      "PATCH /api/transactions/txn_1",
    ]);
    expect(calls[3]?.headers).toMatchObject({ Authorization: "Bearer k", "Content-Type": "application/json" });
    expect(JSON.parse(calls[3]?.body as string)).toEqual({ category: "6140" });
  });

  it("lists rule suggestions and rules, adds one (new or already there) and deletes one", async () => {
    const rule = { id: 7, kind: "contains", pattern: "slack", min_amount: null, max_amount: null, account_code: "6140", priority: 100 };
    const answers = [
      json([{ kind: "contains", pattern: "slack", account_code: "6140", corrections: 3, examples: ["SLACK T1"] }]),
      json(rule, 201),
      json(rule, 200),
      json([rule]),
      new Response(null, { status: 204 }),
      json({ detail: "rule 7 not found" }, 404),
    ];
    const { fetch, calls } = fakeFetch(() => answers.shift() ?? json({}, 500));
    const client = createJobsClient({ token: "k", fetch });
    const [suggestion] = await client.listRuleSuggestions("c1");
    expect(suggestion).toMatchObject({ pattern: "slack", account_code: "6140", corrections: 3 });
    const accept = { kind: "contains" as const, pattern: "slack", account_code: "6140" };
    expect(await client.addRule("c1", accept)).toEqual({ rule, created: true });
    expect(await client.addRule("c1", accept)).toEqual({ rule, created: false });
    expect(await client.listRules("c1")).toEqual([rule]);
    await expect(client.deleteRule("c1", 7)).resolves.toBeUndefined();
    await expect(client.deleteRule("c1", 7)).rejects.toMatchObject({ status: 404, message: "rule 7 not found" });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET /api/companies/c1/rule-suggestions",
      "POST /api/companies/c1/rules",
      "POST /api/companies/c1/rules",
      "GET /api/companies/c1/rules",
      "DELETE /api/companies/c1/rules/7",
      "DELETE /api/companies/c1/rules/7",
    ]);
    expect(JSON.parse(calls[1]?.body as string)).toEqual(accept);
  });

  it("raises ApiError with the status and the server's detail", async () => {
    const answers = [
      json({ detail: "no such job" }, 404),
      json({ detail: [{ type: "missing", loc: ["body", "company_id"], msg: "Field required", input: null }] }, 422),
      new Response("<html>bad gateway</html>", { status: 502 }),
      json({ detail: "storage unavailable: disk full" }, 507, { "Retry-After": "5" }),
    ];
    const { fetch } = fakeFetch(() => answers.shift() ?? json({}, 500));
    const client = createJobsClient({ token: "k", fetch });
    const notFound = await client.getJob("x").catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ApiError);
    expect(notFound).toMatchObject({ status: 404, detail: "no such job", message: "no such job", retryable: false });
    const invalid = (await client.startCategorize({ company_id: "", tenant_id: "t" }).catch((e: unknown) => e)) as ApiError;
    expect(invalid.status).toBe(422);
    expect(invalid.message).toBe("company_id: Field required");
    expect(Array.isArray(invalid.detail)).toBe(true);
    await expect(client.getJob("x")).rejects.toMatchObject({ status: 502, detail: null, message: "HTTP 502", retryable: true });
    await expect(client.getJob("x")).rejects.toMatchObject({ status: 507, retryAfterMs: 5000 });
  });

  it("raises NetworkError when there is no answer, and passes an abort through", async () => {
    const client = createJobsClient({ token: "k", fetch: vi.fn(async () => { throw new TypeError("Failed to fetch"); }) });
    await expect(client.getJob("job-1")).rejects.toBeInstanceOf(NetworkError);
    const { fetch } = fakeFetch(() => json(job("running")));
    const controller = new AbortController();
    controller.abort(new DOMException("gone", "AbortError"));
    await expect(createJobsClient({ fetch }).getJob("job-1", { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("sends If-None-Match and reads a 304 as unchanged", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.headers["If-None-Match"] === '"job-1.4"'
        ? new Response(null, { status: 304, headers: { ETag: '"job-1.4"' } })
        : json(job("running", 40), 200, { ETag: '"job-1.4"' }),
    );
    const client = createJobsClient({ token: "k", fetch });
    const first = await client.getJobIfChanged("job-1", null);
    expect(first.job?.progress).toBe(40);
    const second = await client.getJobIfChanged("job-1", first.etag);
    expect(second).toEqual({ job: null, etag: '"job-1.4"', retryAfterMs: null });
    expect(calls[0]?.headers["If-None-Match"]).toBeUndefined();
  });

  it("builds links without the token", () => {
    expect(createJobsClient({ baseUrl: "https://x.test/", token: "secret" }).url("/api/jobs/j/error-report")).toBe(
      "https://x.test/api/jobs/j/error-report",
    );
  });
});
