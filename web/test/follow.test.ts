import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiError, createJobsClient, type JobView } from "../src/client/index.js";
import { type Call, fakeFetch, job, json, notModified, sseStream } from "./fakes.js";

const polling = { transport: "poll" as const, random: () => 0.5 }; // delay = ceiling / 2

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);
const gaps = (calls: Call[]) => calls.slice(1).map((c, i) => c.at - (calls[i] as Call).at);

describe("followJob by polling", () => {
  it("backs off while nothing changes, resets when progress moves, stops at the end", async () => {
    // progress 10, then 3 unchanged (304), then 20, then 1 unchanged, then complete
    const script: Array<() => Response> = [
      () => json(job("running", 10), 200, { ETag: '"v1"' }),
      () => notModified('"v1"'),
      () => notModified('"v1"'),
      () => notModified('"v1"'),
      () => json(job("running", 20), 200, { ETag: '"v2"' }),
      () => notModified('"v2"'),
      () => json(job("complete", 100, { result: null }), 200, { ETag: '"v3"' }),
    ];
    const { fetch, calls } = fakeFetch(() => (script.shift() as () => Response)());
    const client = createJobsClient({ token: "k", fetch, follow: polling });
    const updates: number[] = [];
    const done = client.followJob("job-1", { onUpdate: (j) => updates.push(j.progress) });
    await tick(60_000);
    await expect(done).resolves.toMatchObject({ status: "complete", progress: 100 });
    // after a move: 250 (500/2); each 304 doubles: 500, 1000, 2000; move: 250; 304: 500
    expect(gaps(calls)).toEqual([250, 500, 1000, 2000, 250, 500]);
    expect(updates).toEqual([10, 20, 100]); // 304s publish nothing
    expect(calls.map((c) => c.headers["If-None-Match"])).toEqual([
      undefined, '"v1"', '"v1"', '"v1"', '"v1"', '"v2"', '"v2"',
    ]);
    await tick(60_000);
    expect(calls).toHaveLength(7); // nothing after the terminal status
  });

  it("caps the delay near 10 s", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.headers["If-None-Match"] ? notModified('"v"') : json(job("running", 5), 200, { ETag: '"v"' }),
    );
    const controller = new AbortController();
    const done = createJobsClient({ token: "k", fetch, follow: { transport: "poll", random: () => 0.999 } })
      .followJob("job-1", { signal: controller.signal });
    await tick(120_000);
    controller.abort(new DOMException("stop", "AbortError"));
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
    const waits = gaps(calls);
    expect(Math.max(...waits)).toBe(9990);
    expect(waits.slice(-3)).toEqual([9990, 9990, 9990]);
  });

  it("honours Retry-After on 503 and 429", async () => {
    const script: Array<() => Response> = [
      () => json(job("running", 1)),
      () => json({ detail: "storage unavailable" }, 503, { "Retry-After": "7" }),
      () => json({ detail: "slow down" }, 429, { "Retry-After": "3" }),
      () => json(job("failed", 1, { error: "bad file" })),
    ];
    const { fetch, calls } = fakeFetch(() => (script.shift() as () => Response)());
    const done = createJobsClient({ token: "k", fetch, follow: polling }).followJob("job-1");
    await tick(30_000);
    await expect(done).resolves.toMatchObject({ status: "failed", error: "bad file" });
    expect(gaps(calls)).toEqual([250, 7000, 3000]);
  });

  it("keeps trying through dropped connections", async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch(() => {
      n += 1;
      if (n === 2 || n === 3) throw new TypeError("connection reset");
      return json(job(n < 4 ? "running" : "complete", n < 4 ? 1 : 100));
    });
    const done = createJobsClient({ token: "k", fetch, follow: polling }).followJob("job-1");
    await tick(30_000);
    await expect(done).resolves.toMatchObject({ status: "complete" });
    expect(gaps(calls)).toEqual([250, 500, 1000]);
  });

  it("gives up on an error that will not pass (404) with the ApiError", async () => {
    const { fetch, calls } = fakeFetch(() => json({ detail: "no such job" }, 404));
    const done = createJobsClient({ token: "k", fetch, follow: polling }).followJob("job-x").catch((e: unknown) => e);
    await tick(30_000);
    expect(await done).toBeInstanceOf(ApiError);
    expect(await done).toMatchObject({ status: 404, detail: "no such job" });
    expect(calls).toHaveLength(1);
  });

  it("stops when aborted, between polls or during one", async () => {
    const { fetch, calls } = fakeFetch(() => json(job("running", 1)));
    const controller = new AbortController();
    const done = createJobsClient({ token: "k", fetch, follow: polling }).followJob("job-1", { signal: controller.signal });
    await tick(100);
    controller.abort(new DOMException("user left", "AbortError"));
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
    await tick(60_000);
    expect(calls).toHaveLength(1);
  });
});

describe("followJob over Server-Sent Events", () => {
  it("publishes every status event and ends with the terminal one, without polling", async () => {
    const stream = sseStream();
    const { fetch, calls } = fakeFetch(() => stream.response);
    const updates: string[] = [];
    const done = createJobsClient({ token: "k", fetch, follow: { random: () => 0.5 } }).followJob("job-1", {
      onUpdate: (j) => updates.push(`${j.status}:${j.progress}`),
    });
    await tick();
    stream.send(job("pending", 0), 1);
    stream.raw(": keep-alive\n\n");
    stream.send(job("running", 50), 2);
    await tick();
    stream.send(job("complete", 100), 3);
    await tick();
    await expect(done).resolves.toMatchObject({ status: "complete" });
    expect(updates).toEqual(["pending:0", "running:50", "complete:100"]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ url: "/api/jobs/job-1/events" });
    expect(calls[0]?.headers).toMatchObject({ Accept: "text/event-stream", Authorization: "Bearer k" });
  });

  it("resumes after a dropped connection", async () => {
    const first = sseStream();
    const second = sseStream();
    const streams = [first, second];
    const { fetch, calls } = fakeFetch(() => (streams.shift() as ReturnType<typeof sseStream>).response);
    const updates: number[] = [];
    const done = createJobsClient({ token: "k", fetch, follow: { random: () => 0.5 } }).followJob("job-1", {
      onUpdate: (j) => updates.push(j.progress),
    });
    await tick();
    first.send(job("running", 30));
    await tick();
    first.drop();
    await tick(1000);
    expect(calls).toHaveLength(2);
    second.send(job("running", 60));
    second.send(job("complete", 100));
    await tick();
    await expect(done).resolves.toMatchObject({ progress: 100 });
    expect(updates).toEqual([30, 60, 100]);
    expect(calls.every((c) => c.url.endsWith("/events"))).toBe(true);
  });

  it("falls back to polling when the server has no stream", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.url.endsWith("/events")
        ? new Response("<html>not here</html>", { status: 200, headers: { "Content-Type": "text/html" } })
        : json(job("complete", 100)),
    );
    const done = createJobsClient({ token: "k", fetch, follow: { random: () => 0.5 } }).followJob("job-1");
    await tick(1000);
    await expect(done).resolves.toMatchObject({ status: "complete" });
    expect(calls.map((c) => c.url)).toEqual(["/api/jobs/job-1/events", "/api/jobs/job-1"]);
  });

  it("falls back to polling after the stream failed a few times in a row", async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/events")) throw new TypeError("proxy cut the stream");
      return json(job("complete", 100));
    });
    const done = createJobsClient({ token: "k", fetch, follow: { random: () => 0.5, maxStreamRetries: 2 } }).followJob("job-1");
    await tick(10_000);
    await expect(done).resolves.toMatchObject({ status: "complete" });
    expect(calls.map((c) => c.url.endsWith("/events"))).toEqual([true, true, true, false]);
  });

  it("shares one stream between followers and closes it when the last one leaves", async () => {
    const stream = sseStream();
    const { fetch, calls } = fakeFetch(() => stream.response);
    const client = createJobsClient({ token: "k", fetch });
    const a = new AbortController();
    const b = new AbortController();
    const seenA: number[] = [];
    const seenB: number[] = [];
    const followA = client.followJob("job-1", { onUpdate: (j) => seenA.push(j.progress), signal: a.signal });
    await tick();
    stream.send(job("running", 40));
    await tick();
    const followB = client.followJob("job-1", { onUpdate: (j) => seenB.push(j.progress), signal: b.signal });
    stream.send(job("running", 45));
    await tick();
    expect(calls).toHaveLength(1);
    expect(seenA).toEqual([40, 45]);
    expect(seenB).toEqual([40, 45]); // the late follower gets the last state at once
    a.abort(new DOMException("unmounted", "AbortError"));
    await expect(followA).rejects.toMatchObject({ name: "AbortError" });
    stream.send(job("running", 50));
    await tick();
    expect(seenB).toEqual([40, 45, 50]);
    expect(calls[0]?.signal?.aborted).toBe(false);
    b.abort(new DOMException("unmounted", "AbortError"));
    await expect(followB).rejects.toMatchObject({ name: "AbortError" });
    await tick();
    expect(calls[0]?.signal?.aborted).toBe(true);
    expect(stream.cancelled).toBe(true);
  });

  it("gives every follower the terminal job", async () => {
    const stream = sseStream();
    const { fetch } = fakeFetch(() => stream.response);
    const client = createJobsClient({ token: "k", fetch });
    const both = Promise.all([client.followJob("job-1"), client.followJob("job-1")]);
    await tick();
    stream.send(job("cancelled", 20));
    await tick();
    const [x, y] = (await both) as [JobView, JobView];
    expect(x.status).toBe("cancelled");
    expect(y).toBe(x);
  });
});
