// The company's transactions for review: a page at a time (the API's cursor, 25 rows, so a
// company with 10,000 transactions costs one page), filtered by status and text, each with its
// category, confidence, source and the model's suggestion; a category input per row (and the
// suggestion accepted in one click); the rules the corrections suggest, and the rules.
// Everything users or banks wrote (descriptions, patterns) is rendered as text by React.
import { type FormEvent, useCallback, useEffect, useId, useRef, useState } from "react";
import type {
  CompanyTransactions,
  CorrectedTransaction,
  RuleSuggestion,
  RuleView,
  TransactionStatusFilter,
  TransactionView,
} from "../src/client/types.js";
import { useJobsClient } from "../src/react/context.js";
import { accountLabel, DEFAULT_ACCOUNTS } from "./accounts.js";

const PAGE_SIZE = 25;
const ACCOUNT_CODE = "[A-Za-z0-9._\\-]+";
const STATUSES: ReadonlyArray<readonly [TransactionStatusFilter | "", string]> = [
  ["", "All"],
  ["suggested", "With a suggestion to review"],
  ["uncategorized", "Uncategorized"],
  ["pending", "Not approved"],
  ["approved", "Approved"],
];

type Notice = { kind: "ok" | "error"; text: string } | null;
interface Filters {
  status: TransactionStatusFilter | "";
  q: string;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function TransactionsView({ companyId }: { companyId: string }) {
  const client = useJobsClient();
  const accountsId = useId();
  const [filters, setFilters] = useState<Filters>({ status: "", q: "" });
  const [cursors, setCursors] = useState<Array<string | null>>([null]); // cursor of each page seen
  const [page, setPage] = useState<CompanyTransactions | null>(null);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [reloads, setReloads] = useState(0); // a correction reloads the page and the suggestions
  const cursor = cursors[cursors.length - 1] ?? null;

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    client
      .listTransactions(companyId, {
        status: filters.status || undefined,
        q: filters.q || undefined,
        limit: PAGE_SIZE,
        cursor,
        signal: controller.signal,
      })
      .then(
        (next) => {
          setPage(next);
          setProblem(null);
          setLoading(false);
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          setProblem(messageOf(error));
          setLoading(false);
        },
      );
    return () => controller.abort();
  }, [client, companyId, filters, cursor, reloads]);

  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget.elements;
    setFilters({
      status: (form.namedItem("status") as HTMLSelectElement).value as Filters["status"],
      q: (form.namedItem("q") as HTMLInputElement).value.trim(),
    });
    setCursors([null]);
  };
  const corrected = (done: CorrectedTransaction) => {
    const what = done.changed ? "is now" : "already was";
    setNotice({ kind: "ok", text: `${done.description} (${done.date}) ${what} ${accountLabel(done.category)}.` });
    setReloads((n) => n + 1);
  };
  const failed = (text: string) => setNotice({ kind: "error", text });

  const rows = page?.transactions ?? [];
  return (
    <div className="dash-review">
      <section className="dash-box" aria-labelledby="transactions-heading">
        <h2 id="transactions-heading">Transactions</h2>
        <form className="dash-filters" role="search" aria-label="Filter transactions" onSubmit={applyFilters}>
          <label>
            Status
            <select name="status" defaultValue={filters.status}>
              {STATUSES.map(([value, label]) => (
                <option key={value} value={value}>{label}</option>
              ))}
            </select>
          </label>
          <label>
            Description contains
            <input name="q" type="search" maxLength={200} defaultValue={filters.q} />
          </label>
          <button type="submit" className="bkj-button">Filter</button>
        </form>
        <datalist id={accountsId}>
          {DEFAULT_ACCOUNTS.map(([code, name]) => (
            <option key={code} value={code}>{name}</option>
          ))}
        </datalist>
        {problem ? <p role="alert" className="bkj-error">{problem}</p> : null}
        <div className="dash-scroll">
          <table className="dash-table dash-transactions" aria-busy={loading} aria-describedby="transactions-page">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col" className="dash-number">Amount</th>
                <th scope="col">Category</th>
                <th scope="col" className="dash-number">Confidence</th>
                <th scope="col">Source</th>
                <th scope="col">Suggestion</th>
                <th scope="col">Change category</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <TransactionRow key={row.id} row={row} accountsId={accountsId} onCorrected={corrected} onFailed={failed} />
              ))}
              {page && rows.length === 0 ? (
                <tr>
                  <td colSpan={8} className="dash-muted">No transactions{filters.status || filters.q ? " match these filters" : " yet"}.</td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
        <nav className="dash-pager" aria-label="Transaction pages">
          <button type="button" className="bkj-button" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))}>Newer</button>
          <span className="dash-muted" id="transactions-page">
            Page {cursors.length}
            {page ? `, ${page.count} rows` : ""}
          </span>
          <button type="button" className="bkj-button" disabled={!page?.next_cursor} onClick={() => page?.next_cursor && setCursors((c) => [...c, page.next_cursor ?? null])}>Older</button>
        </nav>
        <p className={notice?.kind === "error" ? "bkj-error dash-notice" : "dash-muted dash-notice"} role={notice?.kind === "error" ? "alert" : "status"}>
          {notice?.text ?? ""}
        </p>
      </section>
      <RulesPanel companyId={companyId} reloads={reloads} />
    </div>
  );
}

function TransactionRow({
  row,
  accountsId,
  onCorrected,
  onFailed,
}: {
  row: TransactionView;
  accountsId: string;
  onCorrected: (done: CorrectedTransaction) => void;
  onFailed: (text: string) => void;
}) {
  const client = useJobsClient();
  const [draft, setDraft] = useState(row.category ?? "");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => setDraft(row.category ?? ""), [row.category]);
  const name = `${row.description} on ${row.date}`;

  const correct = (category: string, refocus: boolean) => {
    setBusy(true);
    client.correctTransaction(row.id, category).then(
      (done) => {
        setBusy(false);
        onCorrected(done);
        if (refocus) input.current?.focus(); // the Accept button goes away with the suggestion
      },
      (error: unknown) => {
        setBusy(false);
        onFailed(`${name}: ${messageOf(error)}`);
      },
    );
  };
  const suggestion = row.suggestion;
  return (
    <tr data-transaction-id={row.id} data-source={row.source ?? ""} data-category={row.category ?? ""}>
      <td className="dash-nowrap">{row.date}</td>
      <td className="dash-description">{row.description}</td>
      <td className="dash-number">{money(row.amount, row.currency)}</td>
      <td className="dash-category">{accountLabel(row.category) || <span className="dash-muted">none</span>}</td>
      <td className="dash-number">{percent(row.confidence)}</td>
      <td><span className="bkj-badge" data-source={row.source ?? ""}>{row.source ?? "none"}</span></td>
      <td>
        {suggestion ? (
          <span className="dash-suggestion">
            <span>
              {accountLabel(suggestion.category)} <span className="dash-muted">{percent(suggestion.confidence)}</span>
            </span>
            <button
              type="button"
              className="bkj-button"
              disabled={busy}
              aria-label={`Accept ${accountLabel(suggestion.category)} for ${name}`}
              onClick={() => correct(suggestion.category, true)}
            >
              Accept
            </button>
          </span>
        ) : (
          <span className="dash-muted">none</span>
        )}
      </td>
      <td>
        <form
          className="dash-correct"
          onSubmit={(event) => {
            event.preventDefault();
            if (draft.trim()) correct(draft.trim(), false);
          }}
        >
          <input
            ref={input}
            name="category"
            value={draft}
            onChange={(event) => setDraft(event.target.value)}
            list={accountsId}
            required
            maxLength={32}
            pattern={ACCOUNT_CODE}
            size={6}
            aria-label={`Category for ${name}`}
            title="An account code of the company's chart"
          />
          <button type="submit" className="bkj-button" disabled={busy} aria-label={`Save the category of ${name}`}>
            Save
          </button>
        </form>
      </td>
    </tr>
  );
}

/** The rules the corrections suggest (Accept adds one) and the company's rules. */
function RulesPanel({ companyId, reloads }: { companyId: string; reloads: number }) {
  const client = useJobsClient();
  const [suggestions, setSuggestions] = useState<RuleSuggestion[] | null>(null);
  const [rules, setRules] = useState<RuleView[] | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);
  const [changes, setChanges] = useState(0);

  const load = useCallback(
    (signal: AbortSignal) => {
      Promise.all([client.listRuleSuggestions(companyId, { signal }), client.listRules(companyId, { signal })]).then(
        ([nextSuggestions, nextRules]) => {
          setSuggestions(nextSuggestions);
          setRules(nextRules);
        },
        (error: unknown) => {
          if (!signal.aborted) setNotice({ kind: "error", text: messageOf(error) });
        },
      );
    },
    [client, companyId],
  );
  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal);
    return () => controller.abort();
  }, [load, reloads, changes]);

  const act = (what: string, action: () => Promise<string>) => {
    setBusy(true);
    setNotice(null);
    action().then(
      (text) => {
        setBusy(false);
        setNotice({ kind: "ok", text });
        setChanges((n) => n + 1);
      },
      (error: unknown) => {
        setBusy(false);
        setNotice({ kind: "error", text: `${what}: ${messageOf(error)}` });
      },
    );
  };
  const accept = (s: RuleSuggestion) =>
    act("Accept rule", async () => {
      const { created } = await client.addRule(companyId, { kind: s.kind, pattern: s.pattern, account_code: s.account_code });
      return `${created ? "Added" : "Already there"}: descriptions containing “${s.pattern}” go to ${accountLabel(s.account_code)}.`;
    });
  const remove = (rule: RuleView) =>
    act("Delete rule", async () => {
      await client.deleteRule(companyId, rule.id);
      return `Deleted the rule ${matchOf(rule)} → ${accountLabel(rule.account_code)}.`;
    });

  return (
    <div className="dash-rules">
      <section className="dash-box" aria-labelledby="suggested-rules-heading">
        <h2 id="suggested-rules-heading">Suggested rules</h2>
        <p className="dash-muted">A merchant you categorized three times or more, always alike, that no rule covers. A rule applies from the next categorize job on.</p>
        {suggestions && suggestions.length === 0 ? <p className="dash-muted">No suggestions yet.</p> : null}
        <ul className="dash-list">
          {(suggestions ?? []).map((s) => (
            <li key={`${s.pattern}\u0000${s.account_code}`} data-pattern={s.pattern}>
              <div>
                Descriptions containing <q>{s.pattern}</q> → <strong>{accountLabel(s.account_code)}</strong>
                <div className="dash-muted">
                  {s.corrections} corrections, e.g. {s.examples.join("; ")}
                </div>
              </div>
              <button
                type="button"
                className="bkj-button dash-primary"
                disabled={busy}
                aria-label={`Accept the rule: containing “${s.pattern}” goes to ${accountLabel(s.account_code)}`}
                onClick={() => accept(s)}
              >
                Accept
              </button>
            </li>
          ))}
        </ul>
        <p className={notice?.kind === "error" ? "bkj-error dash-notice" : "dash-muted dash-notice"} role={notice?.kind === "error" ? "alert" : "status"}>
          {notice?.text ?? ""}
        </p>
      </section>
      <section className="dash-box" aria-labelledby="rules-heading">
        <h2 id="rules-heading">Rules</h2>
        {rules && rules.length === 0 ? <p className="dash-muted">No rules.</p> : null}
        <ul className="dash-list dash-rule-list" aria-label="Rules, in the order they are tried">
          {(rules ?? []).map((rule) => (
            <li key={rule.id} data-rule-id={rule.id} data-pattern={rule.pattern ?? ""}>
              <div>
                {matchOf(rule)} → <strong>{accountLabel(rule.account_code)}</strong>
                <div className="dash-muted">priority {rule.priority}</div>
              </div>
              <button type="button" className="bkj-button dash-danger" disabled={busy} aria-label={`Delete the rule ${matchOf(rule)}`} onClick={() => remove(rule)}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function matchOf(rule: RuleView): string {
  if (rule.kind === "amount_range") return `amount ${rule.min_amount ?? "…"} to ${rule.max_amount ?? "…"}`;
  return `${rule.kind === "regex" ? "matches" : "contains"} “${rule.pattern ?? ""}”`;
}

function money(amount: string, currency: string): string {
  const value = Number(amount);
  if (!Number.isFinite(value)) return `${amount} ${currency}`;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${amount} ${currency}`; // a currency code Intl does not know
  }
}

function percent(value: number | null | undefined): string {
  return value == null ? "–" : `${Math.round(value * 100)}%`;
}
