export const TERMINAL_STATUSES = ["complete", "failed", "cancelled"];
export function isTerminal(status) {
    return status != null && TERMINAL_STATUSES.includes(status);
}
