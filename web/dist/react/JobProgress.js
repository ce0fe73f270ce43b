import { jsx as _jsx, jsxs as _jsxs } from "react/jsx-runtime";
// The seed's three progress components: <JobProgress> (a card), <JobProgressCompact> (inline)
// and <JobProgressModal> (a dialog). Plain elements with `bkj-` classes, themed by the CSS
// variables in styles.css; job text is rendered as text, never as HTML.
import { useEffect, useId, useRef } from "react";
import { useJobStatus } from "./useJobStatus.js";
export function ProgressBar({ value, label, valueText, status }) {
    const clamped = Math.max(0, Math.min(100, Math.round(value)));
    return (_jsx("div", { className: "bkj-bar", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": clamped, "aria-valuetext": valueText ?? `${clamped}%`, "data-status": status ?? "unknown", children: _jsx("div", { className: "bkj-bar-fill", style: { width: `${clamped}%` } }) }));
}
const STATUS_LABELS = {
    pending: "Queued",
    running: "Running",
    complete: "Complete",
    failed: "Failed",
    cancelled: "Cancelled",
};
export function StatusBadge({ status }) {
    return (_jsx("span", { className: "bkj-badge", "data-status": status ?? "unknown", children: status ? STATUS_LABELS[status] : "Loading" }));
}
export function JobProgress({ jobId, title = "Background job", showDetails = false, onComplete, onError, client, className }) {
    const state = useJobStatus(jobId, { onComplete, onError, client });
    const headingId = useId();
    return (_jsxs("section", { className: classes("bkj-card", className), "aria-labelledby": headingId, "data-status": state.status ?? "unknown", children: [_jsxs("header", { className: "bkj-card-header", children: [_jsx("h3", { id: headingId, className: "bkj-title", children: title }), _jsx(StatusBadge, { status: state.status })] }), _jsx(ProgressBar, { value: state.progress, label: title, status: state.status, valueText: valueText(state.progress, state.message) }), _jsxs("p", { className: "bkj-message", "aria-live": "polite", children: [_jsxs("span", { className: "bkj-percent", children: [state.progress, "%"] }), " ", state.message] }), state.error ? (_jsx("p", { className: "bkj-error", role: "alert", children: state.error })) : null, showDetails && state.job ? _jsx(JobDetails, { job: state.job }) : null] }));
}
export function JobDetails({ job }) {
    return (_jsxs("dl", { className: "bkj-details", children: [_jsx(Detail, { term: "Job", children: job.id }), _jsx(Detail, { term: "Type", children: job.type }), _jsx(Detail, { term: "Attempts", children: job.attempts }), _jsx(Detail, { term: "Created", children: formatTime(job.created_at) }), _jsx(Detail, { term: "Started", children: formatTime(job.started_at) }), _jsx(Detail, { term: "Finished", children: formatTime(job.finished_at) }), job.result != null ? (_jsx(Detail, { term: "Result", children: _jsx("pre", { className: "bkj-result", children: JSON.stringify(job.result, null, 2) }) })) : null] }));
}
function Detail({ term, children }) {
    return (_jsxs("div", { className: "bkj-detail", children: [_jsx("dt", { children: term }), _jsx("dd", { children: children })] }));
}
export function JobProgressCompact({ jobId, onComplete, onError, client, label = "Job progress", className }) {
    const state = useJobStatus(jobId, { onComplete, onError, client });
    return (_jsxs("span", { className: classes("bkj-compact", className), "data-status": state.status ?? "unknown", title: state.error ?? state.message, children: [_jsx(ProgressBar, { value: state.progress, label: label, status: state.status, valueText: valueText(state.progress, state.error ?? state.message) }), _jsx("span", { className: "bkj-percent", children: state.error ? STATUS_LABELS[state.status ?? "failed"] : `${state.progress}%` })] }));
}
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
export function JobProgressModal({ jobId, title = "Background job", onClose, onComplete, onError, client, showDetails = true }) {
    const dialog = useRef(null);
    const closeButton = useRef(null);
    const headingId = useId();
    const state = useJobStatus(jobId, { onComplete, onError, client });
    useEffect(() => {
        const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
        closeButton.current?.focus();
        return () => before?.focus();
    }, []);
    const onKeyDown = (event) => {
        if (event.key === "Escape") {
            event.stopPropagation();
            onClose();
            return;
        }
        if (event.key !== "Tab" || !dialog.current)
            return;
        const items = [...dialog.current.querySelectorAll(FOCUSABLE)];
        const first = items[0];
        const last = items[items.length - 1];
        if (!first || !last)
            return;
        if (event.shiftKey && document.activeElement === first) {
            event.preventDefault();
            last.focus();
        }
        else if (!event.shiftKey && document.activeElement === last) {
            event.preventDefault();
            first.focus();
        }
    };
    return (_jsx("div", { className: "bkj-overlay", onMouseDown: (event) => event.target === event.currentTarget && onClose(), children: _jsxs("div", { ref: dialog, className: "bkj-modal", role: "dialog", "aria-modal": "true", "aria-labelledby": headingId, onKeyDown: onKeyDown, children: [_jsxs("header", { className: "bkj-card-header", children: [_jsx("h2", { id: headingId, className: "bkj-title", children: title }), _jsx(StatusBadge, { status: state.status })] }), _jsx(ProgressBar, { value: state.progress, label: title, status: state.status, valueText: valueText(state.progress, state.message) }), _jsxs("p", { className: "bkj-message", "aria-live": "polite", children: [_jsxs("span", { className: "bkj-percent", children: [state.progress, "%"] }), " ", state.message] }), state.error ? _jsx("p", { className: "bkj-error", role: "alert", children: state.error }) : null, showDetails && state.job ? _jsx(JobDetails, { job: state.job }) : null, _jsx("div", { className: "bkj-actions", children: _jsx("button", { ref: closeButton, type: "button", className: "bkj-button", onClick: onClose, children: state.isLoading ? "Hide" : "Close" }) })] }) }));
}
function valueText(progress, message) {
    return message ? `${progress}%: ${message}` : `${progress}%`;
}
function formatTime(value) {
    if (!value)
        return "—";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}
function classes(...names) {
    return names.filter(Boolean).join(" ");
}
