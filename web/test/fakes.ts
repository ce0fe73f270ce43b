// Test doubles: a fetch that answers from a handler, jobs, and an SSE stream the test drives.
import { vi } from "vitest";
import type { JobStatus, JobView } from "../src/client/types.js";

export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal | null;
  at: number;
}

export type Handler = (call: Call) => Response | Promise<Response>;

export function fakeFetch(handler: Handler) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const call: Call = {
      url: String(input),
      method: init.method ?? "GET",
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body,
      signal: init.signal ?? null,
      at: Date.now(),
    };
    calls.push(call);
    if (call.signal?.aborted) throw call.signal.reason;
    return handler(call);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

let version = 0;
export function job(status: JobStatus, progress = 0, extra: Partial<JobView> = {}): JobView {
  version += 1;
  return {
    id: "job-1",
    type: "upload-and-categorize",
    company_id: "c1",
    tenant_id: "t1",
    status,
    progress,
    message: `${status} ${progress}`,
    attempts: status === "pending" ? 0 : 1,
    created_at: "2025-01-01T00:00:00Z",
    result: null,
    error: null,
    ...extra,
  };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function notModified(etag: string): Response {
  return new Response(null, { status: 304, headers: { ETag: etag } });
}

/** An event stream the test writes to: `send` a job, `drop` the connection, `end` it. */
export function sseStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const encoder = new TextEncoder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    response: new Response(body, { headers: { "Content-Type": "text/event-stream" } }),
    send(view: JobView, id = 1) {
      controller.enqueue(encoder.encode(`id: ${id}\nevent: status\ndata: ${JSON.stringify(view)}\n\n`));
    },
    raw(text: string) {
      controller.enqueue(encoder.encode(text));
    },
    end() {
      controller.close();
    },
    drop() {
      controller.error(new TypeError("network error"));
    },
    get cancelled() {
      return cancelled;
    },
  };
}

/** Lets pending promise callbacks run (fetch answers, stream reads) without moving time. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await Promise.resolve();
}
