// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, renderHook, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobsClient } from "../src/client/client.js";
import { ApiError } from "../src/client/errors.js";
import type { FollowOptions } from "../src/client/follow.js";
import type { JobView } from "../src/client/types.js";
import { JobProgress, JobProgressCompact, JobProgressModal, JobsProvider, useJobStatus } from "../src/react/index.js";
import { job } from "./fakes.js";

afterEach(cleanup);

/** A client whose followJob the test drives: push updates, then end or fail. */
function drivenClient() {
  const follows: Array<{ jobId: string; options: FollowOptions; end: (j: JobView) => void; fail: (e: unknown) => void }> = [];
  const client = {
    followJob: vi.fn((jobId: string, options: FollowOptions = {}) =>
      new Promise<JobView>((resolve, reject) => {
        options.signal?.addEventListener("abort", () => reject(options.signal?.reason));
        follows.push({ jobId, options, end: resolve, fail: reject });
      }),
    ),
  } as unknown as JobsClient;
  const last = () => follows[follows.length - 1] as (typeof follows)[number];
  return {
    client,
    follows,
    update: (j: JobView) => act(() => last().options.onUpdate?.(j)),
    end: async (j: JobView) => act(async () => { last().options.onUpdate?.(j); last().end(j); }),
    fail: async (e: unknown) => act(async () => { last().fail(e); }),
  };
}

describe("useJobStatus", () => {
  it("goes loading → running → complete and calls onComplete once with the result", async () => {
    const driven = drivenClient();
    const onComplete = vi.fn();
    const onError = vi.fn();
    const { result } = renderHook(() => useJobStatus("job-1", { onComplete, onError, client: driven.client }));
    expect(result.current).toMatchObject({ status: null, progress: 0, message: "", result: null, error: null, isLoading: true });
    driven.update(job("running", 45, { message: "Categorized 45/100" }));
    expect(result.current).toMatchObject({ status: "running", progress: 45, message: "Categorized 45/100", isLoading: true });
    const outcome = { imported: 3 } as unknown as JobView["result"];
    await driven.end(job("complete", 100, { result: outcome }));
    expect(result.current).toMatchObject({ status: "complete", progress: 100, result: outcome, error: null, isLoading: false });
    expect(onComplete).toHaveBeenCalledTimes(1);
    expect(onComplete).toHaveBeenCalledWith(outcome);
    expect(onError).not.toHaveBeenCalled();
  });

  it("reports a failed job's error and a cancelled job", async () => {
    const driven = drivenClient();
    const onError = vi.fn();
    const { result, rerender } = renderHook(({ id }) => useJobStatus(id, { onError, client: driven.client }), { initialProps: { id: "job-1" } });
    await driven.end(job("failed", 30, { error: "row 4: bad amount" }));
    expect(result.current).toMatchObject({ status: "failed", error: "row 4: bad amount", isLoading: false });
    expect(onError).toHaveBeenLastCalledWith("row 4: bad amount");
    rerender({ id: "job-2" });
    expect(result.current).toMatchObject({ status: null, error: null, isLoading: true });
    await driven.end(job("cancelled", 10, { id: "job-2" }));
    expect(result.current).toMatchObject({ status: "cancelled", error: "The job was cancelled.", isLoading: false });
  });

  it("reports a job that cannot be followed (ApiError) and stops loading", async () => {
    const driven = drivenClient();
    const onError = vi.fn();
    const { result } = renderHook(() => useJobStatus("job-x", { onError, client: driven.client }));
    await driven.fail(new ApiError(404, "no such job", null));
    expect(result.current).toMatchObject({ error: "no such job", isLoading: false, status: null });
    expect(onError).toHaveBeenCalledWith("no such job");
  });

  it("follows nothing without a job id, and stops following on unmount", () => {
    const driven = drivenClient();
    const { result, rerender, unmount } = renderHook(({ id }) => useJobStatus(id, { client: driven.client }), { initialProps: { id: null as string | null } });
    expect(result.current.isLoading).toBe(false);
    expect(driven.follows).toHaveLength(0);
    rerender({ id: "job-1" });
    const signal = driven.follows[0]?.options.signal as AbortSignal;
    expect(signal.aborted).toBe(false);
    unmount();
    expect(signal.aborted).toBe(true);
  });

  it("takes the client from <JobsProvider>, and says so when there is none", () => {
    const driven = drivenClient();
    renderHook(() => useJobStatus("job-1"), { wrapper: ({ children }) => <JobsProvider client={driven.client}>{children}</JobsProvider> });
    expect(driven.follows[0]?.jobId).toBe("job-1");
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    expect(() => renderHook(() => useJobStatus("job-1"))).toThrow(/JobsProvider/);
  });
});

describe("progress components", () => {
  it("<JobProgress> shows an accessible progress bar, the message as text, details and errors", async () => {
    const driven = drivenClient();
    render(<JobProgress jobId="job-1" title="Processing Transactions" showDetails client={driven.client} />);
    const bar = screen.getByRole("progressbar", { name: "Processing Transactions" });
    expect(bar.getAttribute("aria-valuemin")).toBe("0");
    expect(bar.getAttribute("aria-valuemax")).toBe("100");
    expect(bar.getAttribute("aria-valuenow")).toBe("0");
    driven.update(job("running", 45, { message: "<b>45/100</b>" }));
    expect(bar.getAttribute("aria-valuenow")).toBe("45");
    expect(bar.getAttribute("aria-valuetext")).toBe("45%: <b>45/100</b>");
    expect(screen.getByText("<b>45/100</b>")).toBeTruthy(); // text, not markup
    expect(document.querySelector("b")).toBeNull();
    expect(screen.getByText("Running")).toBeTruthy();
    expect(screen.getByText("job-1")).toBeTruthy(); // details
    await driven.end(job("failed", 45, { error: "the statement has no rows" }));
    expect(screen.getByRole("alert").textContent).toBe("the statement has no rows");
    expect(bar.getAttribute("data-status")).toBe("failed");
  });

  it("<JobProgressCompact> is an inline bar with its percentage and calls onComplete", async () => {
    const driven = drivenClient();
    const onComplete = vi.fn();
    render(<JobProgressCompact jobId="job-1" onComplete={onComplete} client={driven.client} />);
    driven.update(job("running", 70));
    expect(screen.getByRole("progressbar", { name: "Job progress" }).getAttribute("aria-valuenow")).toBe("70");
    expect(screen.getByText("70%")).toBeTruthy();
    await driven.end(job("complete", 100));
    expect(onComplete).toHaveBeenCalledTimes(1);
  });

  it("<JobProgressModal> is a modal dialog that takes focus, traps Tab, closes on Escape and gives focus back", async () => {
    const driven = drivenClient();
    const onClose = vi.fn();
    const opener = document.createElement("button");
    document.body.append(opener);
    opener.focus();
    const { unmount } = render(<JobProgressModal jobId="job-1" title="Exporting to QuickBooks" onClose={onClose} client={driven.client} />);
    const dialog = screen.getByRole("dialog", { name: "Exporting to QuickBooks" });
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    const close = screen.getByRole("button", { name: "Hide" });
    expect(document.activeElement).toBe(close);
    fireEvent.keyDown(close, { key: "Tab" });
    expect(document.activeElement).toBe(close); // the only focusable element: focus stays inside
    fireEvent.keyDown(close, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(close);
    expect(screen.getByRole("progressbar", { name: "Exporting to QuickBooks" })).toBeTruthy();
    fireEvent.keyDown(dialog, { key: "Escape" });
    expect(onClose).toHaveBeenCalledTimes(1);
    await driven.end(job("complete", 100));
    expect(screen.getByRole("button", { name: "Close" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Close" }));
    expect(onClose).toHaveBeenCalledTimes(2);
    unmount();
    expect(document.activeElement).toBe(opener);
    opener.remove();
  });

  it("shares one follow between components showing the same job", () => {
    const driven = drivenClient();
    render(
      <JobsProvider client={driven.client}>
        <JobProgress jobId="job-1" />
        <JobProgressCompact jobId="job-1" />
      </JobsProvider>,
    );
    // Each component asks the client; the real client's hub serves both from one stream
    // (see follow.test.ts "shares one stream between followers").
    expect(driven.follows.map((f) => f.jobId)).toEqual(["job-1", "job-1"]);
    driven.follows.forEach((f) => act(() => f.options.onUpdate?.(job("running", 33))));
    expect(screen.getAllByRole("progressbar").map((b) => b.getAttribute("aria-valuenow"))).toEqual(["33", "33"]);
  });
});
