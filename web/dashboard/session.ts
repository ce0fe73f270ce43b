// The signed-in session: the API key and the company, in sessionStorage (gone when the tab
// closes; never in a URL, a cookie or localStorage).
export interface Session {
  token: string;
  tenantId: string;
  companyId: string;
}

const KEY = "bkjobs.dashboard.session";

export function loadSession(): Session | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Partial<Session> | null;
    if (saved && saved.token && saved.tenantId && saved.companyId) {
      return { token: saved.token, tenantId: saved.tenantId, companyId: saved.companyId };
    }
  } catch {
    // a damaged entry: sign in again
  }
  return null;
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

/** A JWT's tenant and companies, to prefill the form (not verified here: the API checks). */
export function claimsOf(token: string): { tenantId?: string; companyIds: string[] } {
  const payload = token.split(".")[1];
  if (!payload) return { companyIds: [] };
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const companies = Array.isArray(claims.company_ids) ? claims.company_ids.filter((c): c is string => typeof c === "string") : [];
    return { tenantId: typeof claims.tenant_id === "string" ? claims.tenant_id : undefined, companyIds: companies };
  } catch {
    return { companyIds: [] };
  }
}

/** The API's root: where the page is, less /dashboard/background-jobs (a proxy's prefix stays). */
export function apiBase(): string {
  return window.location.pathname.replace(/\/dashboard\/background-jobs\/?.*$/, "");
}
