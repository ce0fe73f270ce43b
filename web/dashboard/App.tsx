import { useMemo, useState } from "react";
import { createJobsClient } from "../src/client/client.js";
import { JobsProvider } from "../src/react/context.js";
import { Actions } from "./Actions.js";
import { JobPanel } from "./JobPanel.js";
import { JobsTable } from "./JobsTable.js";
import { apiBase, loadSession, saveSession, type Session } from "./session.js";
import { SignIn } from "./SignIn.js";
import { TransactionsView } from "./Transactions.js";

type View = "jobs" | "transactions";
/** The view is kept in the URL's fragment (`#transactions`) so a reload stays on it. */
const viewOfHash = (): View => (window.location.hash === "#transactions" ? "transactions" : "jobs");

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const signIn = (next: Session | null) => {
    saveSession(next);
    setSession(next);
  };
  if (!session) return <SignIn onSignedIn={signIn} />;
  return <Dashboard session={session} onSignOut={() => signIn(null)} onSwitch={(companyId) => signIn({ ...session, companyId })} />;
}

function Dashboard({ session, onSignOut, onSwitch }: { session: Session; onSignOut: () => void; onSwitch: (companyId: string) => void }) {
  const client = useMemo(() => createJobsClient({ baseUrl: apiBase(), getToken: () => session.token }), [session.token]);
  const [selected, setSelected] = useState<string | null>(null);
  const [started, setStarted] = useState(0);
  const [company, setCompany] = useState(session.companyId);
  const [view, setView] = useState<View>(viewOfHash);
  const show = (next: View) => {
    window.history.replaceState(null, "", next === "jobs" ? window.location.pathname : "#transactions");
    setView(next);
  };
  const onStarted = (jobId: string) => {
    setSelected(jobId);
    setStarted((n) => n + 1);
  };
  return (
    <JobsProvider client={client}>
      <header className="dash-header">
        <h1>Background jobs</h1>
        <form
          className="dash-company"
          onSubmit={(event) => {
            event.preventDefault();
            if (company.trim()) onSwitch(company.trim());
          }}
        >
          <label>
            Company <input value={company} onChange={(e) => setCompany(e.target.value)} required pattern="[A-Za-z0-9._:\-]+" />
          </label>
          <button type="submit" className="bkj-button">Switch</button>
          <span className="dash-muted">tenant {session.tenantId}</span>
          <button type="button" className="bkj-button" onClick={onSignOut}>Sign out</button>
        </form>
      </header>
      <nav className="dash-views" aria-label="Views">
        {(["jobs", "transactions"] as const).map((name) => (
          <button key={name} type="button" className="dash-view" aria-current={view === name ? "page" : undefined} onClick={() => show(name)}>
            {name === "jobs" ? "Jobs" : "Transactions"}
          </button>
        ))}
      </nav>
      <main className="dash-main" key={session.companyId}>
        {view === "jobs" ? (
          <>
            <Actions session={session} onStarted={onStarted} />
            <div className="dash-columns">
              <JobsTable companyId={session.companyId} selected={selected} onSelect={setSelected} refreshKey={started} />
              {selected ? <JobPanel jobId={selected} onClose={() => setSelected(null)} /> : null}
            </div>
          </>
        ) : (
          <TransactionsView companyId={session.companyId} />
        )}
      </main>
    </JobsProvider>
  );
}
