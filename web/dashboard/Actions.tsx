// Uploads and job starts. Every start selects the new job so its progress shows at once.
import { type FormEvent, type ReactNode, useCallback, useEffect, useState } from "react";
import type { ReceiptSummary } from "../src/client/types.js";
import { useJobsClient } from "../src/react/context.js";
import type { Session } from "./session.js";

type Run = (what: string, action: () => Promise<{ job_id: string } | void>) => (event: FormEvent<HTMLFormElement>) => void;

export function Actions({ session, onStarted }: { session: Session; onStarted: (jobId: string) => void }) {
  const client = useJobsClient();
  const ids = { company_id: session.companyId, tenant_id: session.tenantId };
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [receipts, setReceipts] = useState<ReceiptSummary[]>([]);
  const refreshReceipts = useCallback(() => {
    client.listReceipts(session.companyId, { limit: 20 }).then((page) => setReceipts(page.receipts), () => setReceipts([]));
  }, [client, session.companyId]);
  useEffect(refreshReceipts, [refreshReceipts]);

  const run: Run = (what, action) => (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    setNotice(null);
    action().then(
      (started) => {
        if (started) onStarted(started.job_id);
        setNotice({ kind: "ok", text: started ? `${what}: started ${started.job_id}` : what });
        form.reset();
      },
      (error: unknown) => setNotice({ kind: "error", text: `${what}: ${error instanceof Error ? error.message : String(error)}` }),
    );
  };
  const fileOf = (form: HTMLFormElement) => (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
  const value = (form: HTMLFormElement, name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;

  return (
    <section className="dash-actions" aria-label="Start jobs">
      <Card title="Bank statement">
        <form onSubmit={(e) => run("Upload statement", async () => client.uploadStatement({ ...ids, file: fileOf(e.currentTarget) as File }))(e)}>
          <label>
            Statement file (CSV, OFX, QFX) <input name="file" type="file" accept=".csv,.ofx,.qfx,text/csv" required />
          </label>
          <button type="submit" className="bkj-button dash-primary">Upload and categorize</button>
        </form>
      </Card>
      <Card title="Receipt">
        <form
          onSubmit={(e) =>
            run("Upload receipt", async () => {
              const uploaded = await client.uploadReceipt({ ...ids, file: fileOf(e.currentTarget) as File });
              refreshReceipts();
              return client.startOcr({ ...ids, receipt_id: uploaded.receipt_id });
            })(e)
          }
        >
          <label>
            Receipt file (JPEG, PNG, TIFF, PDF) <input name="file" type="file" accept="image/jpeg,image/png,image/tiff,application/pdf" required />
          </label>
          <button type="submit" className="bkj-button">Upload and read (OCR)</button>
        </form>
        <form onSubmit={(e) => run("OCR", () => client.startOcr({ ...ids, receipt_id: value(e.currentTarget, "receipt") }))(e)}>
          <label>
            Uploaded receipt
            <select name="receipt" required>
              {receipts.map((r) => (
                <option key={r.receipt_id} value={r.receipt_id}>
                  {r.filename} ({r.status})
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="bkj-button" disabled={receipts.length === 0}>Read again (OCR)</button>
        </form>
      </Card>
      <Card title="Categorize">
        <form onSubmit={(e) => run("Categorize", () => client.startCategorize({ ...ids, limit: Number(value(e.currentTarget, "limit")) }))(e)}>
          <label>
            Uncategorized transactions, at most <input name="limit" type="number" min={1} max={100000} defaultValue={100} required />
          </label>
          <button type="submit" className="bkj-button">Start categorize</button>
        </form>
      </Card>
      <Card title="Bulk approve">
        <form
          onSubmit={(e) =>
            run("Bulk approve", () =>
              client.startBulkApprove({ ...ids, transaction_ids: value(e.currentTarget, "ids").split(/[\s,]+/).filter(Boolean) }),
            )(e)
          }
        >
          <label>
            Transaction ids (comma or space separated) <textarea name="ids" rows={2} required />
          </label>
          <button type="submit" className="bkj-button">Start bulk approve</button>
        </form>
      </Card>
      <Card title="Export">
        <form
          onSubmit={(e) =>
            run("Export", () =>
              client.startExportQbo({
                ...ids,
                start_date: value(e.currentTarget, "start"),
                end_date: value(e.currentTarget, "end"),
                destination: value(e.currentTarget, "destination") as "quickbooks" | "csv" | "iif",
              }),
            )(e)
          }
        >
          <label>
            From <input name="start" type="date" required defaultValue={`${new Date().getFullYear()}-01-01`} />
          </label>
          <label>
            To <input name="end" type="date" required defaultValue={`${new Date().getFullYear()}-12-31`} />
          </label>
          <label>
            Destination
            <select name="destination" defaultValue="csv">
              <option value="quickbooks">QuickBooks Online</option>
              <option value="csv">CSV file</option>
              <option value="iif">IIF file</option>
            </select>
          </label>
          <button type="submit" className="bkj-button">Start export</button>
        </form>
      </Card>
      <p className={notice?.kind === "error" ? "bkj-error dash-notice" : "dash-muted dash-notice"} role={notice?.kind === "error" ? "alert" : "status"}>
        {notice?.text ?? ""}
      </p>
    </section>
  );
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="bkj-card dash-action">
      <h2 className="bkj-title">{title}</h2>
      {children}
    </div>
  );
}
