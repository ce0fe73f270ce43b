// @vitest-environment jsdom
// The dashboard's Transactions view against a fake API (the real client over a fake fetch).
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { TransactionsView } from "../dashboard/Transactions.js";
import { createJobsClient } from "../src/client/client.js";
import type { RuleSuggestion, RuleView, TransactionView } from "../src/client/types.js";
import { JobsProvider } from "../src/react/context.js";
import { fakeFetch, json, settle } from "./fakes.js";

afterEach(cleanup);

function fakeApi(count: number) {
  const rows: TransactionView[] = Array.from({ length: count }, (_, i) => ({
    id: `txn_${String(i).padStart(5, "0")}`,
    company_id: "c1",
    date: `2024-01-${String(28 - (i % 28)).padStart(2, "0")}`,
    description: i === 0 ? '<img src=x onerror="alert(1)"> SLACK' : `VENDOR ${i}`,
    amount: "-12.50",
    currency: "USD",
    category: "6999",
    confidence: 0.2,
    source: "model",
    approved: false,
    suggestion: i === 0 ? { category: "6140", confidence: 0.71 } : null,
  }));
  const rules: RuleView[] = [];
  let suggestions: RuleSuggestion[] = [{ kind: "contains", pattern: "slack", account_code: "6140", corrections: 3, examples: ["SLACK 1"] }];
  const { fetch, calls } = fakeFetch((call) => {
    const url = new URL(call.url, "http://api.test");
    if (url.pathname === "/api/companies/c1/transactions") {
      const q = url.searchParams.get("q")?.toLowerCase() ?? "";
      const found = rows.filter((r) => r.description.toLowerCase().includes(q));
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const start = Number(url.searchParams.get("cursor") ?? 0);
      const page = found.slice(start, start + limit);
      const next = start + limit < found.length ? String(start + limit) : null;
      return json({ company_id: "c1", transactions: page, count: page.length, next_cursor: next });
    }
    if (call.method === "PATCH") {
      const row = rows.find((r) => url.pathname.endsWith(r.id)) as TransactionView;
      const { category } = JSON.parse(call.body as string) as { category: string };
      Object.assign(row, { category, source: "user", confidence: 1, suggestion: null });
      return json({ ...row, changed: true });
    }
    if (url.pathname === "/api/companies/c1/rule-suggestions") return json(suggestions);
    if (url.pathname === "/api/companies/c1/rules" && call.method === "POST") {
      const body = JSON.parse(call.body as string) as RuleView;
      const rule = { ...body, id: rules.length + 1, min_amount: null, max_amount: null, priority: 100 };
      rules.push(rule);
      suggestions = [];
      return json(rule, 201);
    }
    if (url.pathname === "/api/companies/c1/rules") return json(rules);
    return json({ detail: "not here" }, 404);
  });
  const client = createJobsClient({ token: "k", fetch });
  const view = () =>
    render(
      <JobsProvider client={client}>
        <TransactionsView companyId="c1" />
      </JobsProvider>,
    );
  return { rows, rules, calls, view };
}

const flush = () => act(() => settle(40));
const bodyRows = () => screen.getAllByRole("row").filter((r) => r.hasAttribute("data-transaction-id"));

describe("TransactionsView", () => {
  it("renders one page of 25 of 10,000 rows, pages with the cursor, and renders text as text", async () => {
    const api = fakeApi(10_000);
    api.view();
    await flush();
    expect(bodyRows()).toHaveLength(25);
    expect(screen.getByText("Page 1, 25 rows")).toBeTruthy();
    expect(api.calls.filter((c) => c.url.includes("/transactions")).map((c) => c.url)).toEqual(["/api/companies/c1/transactions?limit=25"]);
    expect(document.querySelector("img")).toBeNull();
    expect(screen.getByText('<img src=x onerror="alert(1)"> SLACK')).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Older" }));
    await flush();
    expect(api.calls.some((c) => c.url === "/api/companies/c1/transactions?limit=25&cursor=25")).toBe(true);
    expect(bodyRows()[0]?.getAttribute("data-transaction-id")).toBe("txn_00025");
    expect(screen.getByText("Page 2, 25 rows")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Newer" }));
    await flush();
    expect(bodyRows()[0]?.getAttribute("data-transaction-id")).toBe("txn_00000");
  });

  it("filters by text, accepts a suggestion in one click and reloads the row from the API", async () => {
    const api = fakeApi(30);
    api.view();
    await flush();
    fireEvent.change(screen.getByLabelText("Description contains"), { target: { value: "slack" } });
    fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    await flush();
    expect(bodyRows()).toHaveLength(1);
    const row = bodyRows()[0] as HTMLElement;
    fireEvent.click(within(row).getByRole("button", { name: /^Accept 6140 Software for / }));
    await flush();
    const patch = api.calls.find((c) => c.method === "PATCH");
    expect(patch?.url).toBe("/api/transactions/txn_00000");
    expect(JSON.parse(patch?.body as string)).toEqual({ category: "6140" });
    const listings = api.calls.filter((c) => c.url.includes("/transactions?"));
    expect(listings[listings.length - 1]?.url).toBe("/api/companies/c1/transactions?q=slack&limit=25"); // reloaded
    const updated = bodyRows()[0] as HTMLElement;
    expect(updated.getAttribute("data-source")).toBe("user");
    expect(within(updated).getByText("6140 Software")).toBeTruthy();
    expect(within(updated).queryByRole("button", { name: /^Accept/ })).toBeNull();
    expect(document.activeElement).toBe(within(updated).getByRole("combobox", { name: /^Category for / }));
    expect(screen.getAllByRole("status").some((s) => s.textContent?.includes("is now 6140 Software"))).toBe(true);
  });

  it("corrects a category typed in the row's input", async () => {
    const api = fakeApi(3);
    api.view();
    await flush();
    const row = bodyRows()[1] as HTMLElement;
    const input = within(row).getByRole("combobox", { name: "Category for VENDOR 1 on 2024-01-27" });
    fireEvent.change(input, { target: { value: "6030" } });
    fireEvent.click(within(row).getByRole("button", { name: "Save the category of VENDOR 1 on 2024-01-27" }));
    await flush();
    expect(api.rows[1]?.category).toBe("6030");
    expect(bodyRows()[1]?.getAttribute("data-category")).toBe("6030");
  });

  it("accepts a suggested rule with POST and lists it under the rules", async () => {
    const api = fakeApi(3);
    api.view();
    await flush();
    const suggested = screen.getByRole("region", { name: "Suggested rules" });
    fireEvent.click(within(suggested).getByRole("button", { name: /^Accept the rule: containing “slack”/ }));
    await flush();
    const post = api.calls.find((c) => c.method === "POST");
    expect(JSON.parse(post?.body as string)).toEqual({ kind: "contains", pattern: "slack", account_code: "6140" });
    expect(within(suggested).getByText("No suggestions yet.")).toBeTruthy();
    const rules = screen.getByRole("list", { name: "Rules, in the order they are tried" });
    expect(within(rules).getByText("6140 Software")).toBeTruthy();
    expect(api.rules).toHaveLength(1);
  });
});
