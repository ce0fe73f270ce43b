// The dashboard in headless Chromium against a running API (started by
// tests/web/test_dashboard_browser.py, which passes these variables):
//   BKJOBS_URL          the API, e.g. http://127.0.0.1:43117
//   BKJOBS_API_KEY      the demo API key it printed
//   BKJOBS_STATEMENT    examples/bank-statement.csv
//   BKJOBS_BIG_STATEMENT a statement large enough to be cancelled while it runs
//   SCREENSHOT_DIR      where the screenshots go (printed)
//   CHROMIUM            the browser (default /usr/bin/chromium; never downloaded)
// Signs in, uploads the sample statement and watches the progress bar reach 100%, cancels a
// second job, starts a categorize job, then in Transactions pages the table, corrects a row
// (checked in the API and after a reload), corrects two more of one merchant and accepts the
// rule that suggests; fails on any console error or page error.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const baseUrl = env("BKJOBS_URL");
const apiKey = env("BKJOBS_API_KEY");
const statement = env("BKJOBS_STATEMENT");
const bigStatement = env("BKJOBS_BIG_STATEMENT");
const shots = env("SCREENSHOT_DIR", mkdtempSync(join(tmpdir(), "bkjobs-dashboard-shots-")));
mkdirSync(shots, { recursive: true });
console.log(`screenshots: ${shots}`);

const profile = mkdtempSync(join(tmpdir(), "bkjobs-chromium-profile-"));
// A fresh --user-data-dir: Playwright passes it for a persistent context.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1400, height: 1000 },
});
const problems = [];
const step = async (name, action) => {
  const started = Date.now();
  await action();
  console.log(`ok ${name} (${Date.now() - started} ms)`);
};

try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // An SSE stream or a listing aborted on purpose (a job changed, the page closed) is fine.
    const failure = request.failure()?.errorText ?? "";
    if (!failure.includes("ERR_ABORTED")) problems.push(`request failed: ${request.url()} ${failure}`);
  });
  page.setDefaultTimeout(30_000);

  await step("the page loads from the API, without another host", async () => {
    const requested = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(`${baseUrl}/dashboard/background-jobs`);
    await page.getByRole("heading", { name: "Background jobs" }).waitFor();
    const foreign = requested.filter((url) => !url.startsWith(baseUrl) && !url.startsWith("data:"));
    if (foreign.length) throw new Error(`requests to other hosts: ${foreign.join(", ")}`);
  });

  await step("sign in with the API key", async () => {
    await page.getByLabel("API key").fill(apiKey);
    await page.getByLabel("Tenant").fill("demo-tenant");
    await page.getByLabel("Company").fill("demo-company");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs", exact: true }).waitFor();
    if (page.url().includes(apiKey)) throw new Error("the API key is in the URL");
    const stored = await page.evaluate(() => sessionStorage.getItem("bkjobs.dashboard.session") ?? "");
    if (!stored.includes(apiKey)) throw new Error("the session is not in sessionStorage");
    const persisted = await page.evaluate(() => JSON.stringify(localStorage));
    if (persisted.includes(apiKey)) throw new Error("the API key is in localStorage");
    await page.screenshot({ path: join(shots, "01-signed-in.png"), fullPage: true });
  });

  const panel = page.getByRole("complementary", { name: "Job details" });
  const panelBar = panel.getByRole("progressbar");

  await step("upload the sample statement and watch its progress reach 100%", async () => {
    await page.getByLabel("Statement file (CSV, OFX, QFX)").setInputFiles(statement);
    await page.getByRole("button", { name: "Upload and categorize" }).click();
    await panelBar.waitFor();
    const seen = new Set();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = await panelBar.getAttribute("aria-valuenow");
      seen.add(now);
      if (now === "100") break;
      if (Date.now() > deadline) throw new Error(`progress stuck at ${now}`);
      await page.waitForTimeout(50);
    }
    await panel.getByText("Complete", { exact: true }).waitFor();
    await panel.getByText("Result").waitFor();
    console.log(`  progress values seen: ${[...seen].join(", ")}`);
    const row = page.locator("tbody tr").first();
    await row.locator('[role="progressbar"][aria-valuenow="100"]').waitFor(); // the table caught up
    await page.screenshot({ path: join(shots, "02-statement-complete.png"), fullPage: true });
  });

  await step("cancel a second job while it runs", async () => {
    await page.getByLabel("Statement file (CSV, OFX, QFX)").setInputFiles(bigStatement);
    await page.getByRole("button", { name: "Upload and categorize" }).click();
    await panel.getByText(/Queued|Running/).first().waitFor();
    const cancel = panel.getByRole("button", { name: "Cancel job" });
    await cancel.click();
    await panel.getByText("Cancelled", { exact: true }).waitFor({ timeout: 30_000 });
    await panel.getByRole("alert").waitFor();
    if (!(await cancel.isDisabled())) throw new Error("Cancel stays enabled after the job ended");
    const progress = Number(await panelBar.getAttribute("aria-valuenow"));
    if (progress >= 100) throw new Error("the cancelled job reached 100%");
    await page.locator('tbody tr[data-status="cancelled"]').first().waitFor();
    await page.screenshot({ path: join(shots, "03-second-job-cancelled.png"), fullPage: true });
  });

  await step("start a categorize job from the page and see it in the table", async () => {
    await page.getByRole("button", { name: "Start categorize" }).click();
    await panel.getByText("Complete", { exact: true }).waitFor({ timeout: 60_000 });
    await page.locator("tbody tr").nth(2).waitFor();
    const rows = await page.locator("tbody tr").count();
    if (rows < 3) throw new Error(`the jobs table has ${rows} rows`);
    await page.screenshot({ path: join(shots, "04-jobs-table.png"), fullPage: true });
  });

  const api = async (path, init = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json", ...init.headers },
    });
    if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  };
  const MERCHANT = "SLACK"; // 9 rows of the sample statement that no demo rule covers
  const ACCOUNT = "6030"; // Dues & Subscriptions: not what a rule or the model gave them
  const txTable = page.locator("table.dash-transactions");
  const txRows = txTable.locator("tbody tr[data-transaction-id]");
  const filterTo = async (text) => {
    await page.getByLabel("Description contains").fill(text);
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForFunction((wanted) => {
      const table = document.querySelector("table.dash-transactions");
      const cells = [...(table?.querySelectorAll("tbody td.dash-description") ?? [])];
      return table?.getAttribute("aria-busy") === "false" && cells.length > 0 && cells.every((c) => c.textContent.toUpperCase().includes(wanted));
    }, text.toUpperCase());
  };
  let correctedId = "";

  await step("open Transactions: the statement's rows, a page at a time", async () => {
    await page.getByRole("button", { name: "Transactions", exact: true }).click();
    await page.getByRole("heading", { name: "Transactions", exact: true }).waitFor();
    await page.locator('table.dash-transactions[aria-busy="false"]').waitFor();
    const shown = await txRows.count();
    if (shown < 1 || shown > 25) throw new Error(`the first page shows ${shown} rows`);
    await page.getByRole("button", { name: "Older" }).click(); // the cursor, then back
    await page.getByText(/^Page 2, \d+ rows$/).waitFor();
    await page.getByRole("button", { name: "Newer" }).click();
    await page.getByText(/^Page 1, \d+ rows$/).waitFor();
    await page.screenshot({ path: join(shots, "05-transactions.png"), fullPage: true });
  });

  await step("correct a transaction's category; the API has it, source user", async () => {
    await filterTo(MERCHANT);
    const row = txRows.first();
    correctedId = await row.getAttribute("data-transaction-id");
    const input = row.getByRole("combobox", { name: /^Category for / });
    await input.fill(ACCOUNT);
    await row.getByRole("button", { name: /^Save the category of / }).click();
    await page.getByRole("status").filter({ hasText: `is now ${ACCOUNT}` }).waitFor();
    const fromApi = await api(`/api/transactions/${encodeURIComponent(correctedId)}`);
    if (fromApi.category !== ACCOUNT || fromApi.source !== "user" || fromApi.changes.length !== 1) {
      throw new Error(`the API has ${JSON.stringify(fromApi)}`);
    }
    // A reload (the view is in the URL's fragment) reads the row from the API again.
    await page.reload();
    await page.getByRole("heading", { name: "Transactions", exact: true }).waitFor();
    await filterTo(MERCHANT);
    const reloaded = txTable.locator(`tbody tr[data-transaction-id="${correctedId}"]`);
    await reloaded.waitFor();
    if ((await reloaded.getAttribute("data-source")) !== "user") throw new Error("the corrected row's source is not user");
    await reloaded.locator(".dash-category", { hasText: `${ACCOUNT} Dues & Subscriptions` }).waitFor();
    await reloaded.locator('.bkj-badge[data-source="user"]').waitFor();
    await reloaded.screenshot({ path: join(shots, "06-corrected-row.png") });
  });

  await step("two more corrections of the merchant suggest a rule; accept it", async () => {
    for (let n = 1; n <= 2; n += 1) {
      const row = txRows.nth(n);
      await row.getByRole("combobox", { name: /^Category for / }).fill(ACCOUNT);
      await row.getByRole("button", { name: /^Save the category of / }).click();
      await page.locator(`table.dash-transactions tbody tr[data-source="user"][data-category="${ACCOUNT}"]`).nth(n).waitFor();
    }
    const suggestion = page.getByRole("region", { name: "Suggested rules" }).locator('li[data-pattern="slack"]');
    await suggestion.waitFor();
    await suggestion.getByRole("button", { name: /^Accept the rule/ }).click();
    await page.getByRole("status").filter({ hasText: "Added: descriptions containing" }).waitFor();
    const ruleItem = page.getByRole("list", { name: "Rules, in the order they are tried" }).locator('li[data-pattern="slack"]');
    await ruleItem.filter({ hasText: ACCOUNT }).waitFor();
    await suggestion.waitFor({ state: "detached" }); // a rule covers it now
    const rules = await api("/api/companies/demo-company/rules");
    if (!rules.some((r) => r.pattern === "slack" && r.account_code === ACCOUNT)) throw new Error("the rule is not in the API");
    await ruleItem.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, "07-rule-accepted.png"), fullPage: true });
  });

  await step("sign out forgets the key", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem("bkjobs.dashboard.session"));
    if (stored) throw new Error("the session outlived sign-out");
  });

  if (problems.length) throw new Error(`the page reported problems:\n${problems.join("\n")}`);
  console.log("dashboard browser test: 8 passed, 0 failed");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
