import { type FormEvent, useState } from "react";
import { createJobsClient } from "../src/client/client.js";
import { ApiError } from "../src/client/errors.js";
import { apiBase, claimsOf, type Session } from "./session.js";

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState("");
  const [tenantId, setTenantId] = useState("");
  const [companyId, setCompanyId] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const claims = claimsOf(token);

  const submit = async (event: FormEvent) => {
    event.preventDefault(); // never a GET with the key in the query string
    const session = { token: token.trim(), tenantId: (tenantId || claims.tenantId || "").trim(), companyId: companyId.trim() };
    setBusy(true);
    setProblem(null);
    try {
      await createJobsClient({ baseUrl: apiBase(), token: session.token }).listCompanyJobs(session.companyId, { limit: 1 });
      onSignedIn(session);
    } catch (error) {
      setProblem(
        error instanceof ApiError && error.status === 401
          ? "The API key was not accepted."
          : error instanceof ApiError && error.status === 403
            ? "This key does not grant that company."
            : error instanceof Error
              ? error.message
              : String(error),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="dash-signin">
      <h1>Background jobs</h1>
      <form method="post" onSubmit={submit} className="dash-form" aria-describedby="signin-note">
        <label>
          API key
          <input type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} required />
        </label>
        <label>
          Tenant
          <input value={tenantId || claims.tenantId || ""} onChange={(e) => setTenantId(e.target.value)} required />
        </label>
        <label>
          Company
          <input value={companyId} onChange={(e) => setCompanyId(e.target.value)} list="granted-companies" required />
          <datalist id="granted-companies">
            {claims.companyIds.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </label>
        <button type="submit" className="bkj-button dash-primary" disabled={busy}>
          Sign in
        </button>
        {problem ? <p role="alert" className="bkj-error">{problem}</p> : null}
        <p id="signin-note" className="dash-muted">The key stays in this tab's session storage and is sent only as a bearer header.</p>
      </form>
    </main>
  );
}
