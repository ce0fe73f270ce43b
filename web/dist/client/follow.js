// Following a job until it ends: the SSE stream when the server offers it, else polling with
// exponential backoff and full jitter, ETag/304 and Retry-After. Every follower of one job on
// one client shares one channel (one stream or one poller); it stops when the job ends or the
// last follower aborts.
import { backoffDelay, sleep } from "./backoff.js";
import { ApiError, isAbort, NetworkError } from "./errors.js";
import { send } from "./http.js";
import { EventStreamParser } from "./sse.js";
import { isTerminal } from "./types.js";
class Channel {
    followers = new Set();
    controller = new AbortController();
    last = null;
    publish(job) {
        this.last = job;
        for (const follower of [...this.followers])
            follower.onUpdate?.(job);
    }
    finish(job) {
        for (const follower of this.followers)
            follower.resolve(job);
        this.followers.clear();
    }
    fail(error) {
        for (const follower of this.followers)
            follower.reject(error);
        this.followers.clear();
    }
}
export class FollowHub {
    client;
    transport;
    tuning;
    channels = new Map();
    constructor(client, transport, tuning) {
        this.client = client;
        this.transport = transport;
        this.tuning = tuning;
    }
    /** How many jobs are followed right now (one per job, however many followers). */
    get size() {
        return this.channels.size;
    }
    join(jobId, follower) {
        let channel = this.channels.get(jobId);
        if (!channel) {
            const created = new Channel();
            channel = created;
            this.channels.set(jobId, created);
            void this.run(jobId, created);
        }
        else if (channel.last) {
            follower.onUpdate?.(channel.last);
        }
        const joined = channel;
        joined.followers.add(follower);
        return () => {
            joined.followers.delete(follower);
            if (joined.followers.size === 0)
                this.close(jobId, joined);
        };
    }
    close(jobId, channel) {
        if (this.channels.get(jobId) === channel)
            this.channels.delete(jobId);
        channel.controller.abort(new DOMException("no follower left", "AbortError"));
    }
    async run(jobId, channel) {
        const signal = channel.controller.signal;
        try {
            const job = await this.follow(jobId, channel, signal);
            this.close(jobId, channel);
            channel.finish(job);
        }
        catch (error) {
            this.close(jobId, channel);
            if (!isAbort(error))
                channel.fail(error);
        }
    }
    async follow(jobId, channel, signal) {
        const mode = this.tuning.transport ?? "auto";
        const maxRetries = this.tuning.maxStreamRetries ?? 3;
        let failures = 0;
        while (mode !== "poll") {
            const outcome = await this.stream(jobId, channel, signal);
            if (outcome.kind === "terminal")
                return outcome.job;
            if (outcome.kind === "unavailable" && mode === "auto")
                break;
            failures = outcome.kind === "dropped" && outcome.delivered ? 1 : failures + 1;
            if (mode === "auto" && failures > maxRetries)
                break;
            await sleep(backoffDelay(failures - 1, this.tuning), signal);
        }
        return this.poll(jobId, channel, signal);
    }
    /** One SSE connection: every `status` event published, until the terminal one or a drop. */
    async stream(jobId, channel, signal) {
        let response;
        try {
            response = await send(this.transport, `/api/jobs/${encodeURIComponent(jobId)}/events`, {
                headers: { Accept: "text/event-stream" },
                signal,
            });
        }
        catch (error) {
            if (signal.aborted)
                throw signal.reason;
            // No answer: the network may come back, so try the stream again. Any HTTP error: let
            // polling find out whether the job or only the stream is missing.
            return error instanceof NetworkError ? { kind: "dropped", delivered: false } : { kind: "unavailable" };
        }
        const type = response.headers.get("Content-Type") ?? "";
        if (!response.body || !type.startsWith("text/event-stream")) {
            await response.body?.cancel().catch(() => undefined);
            return { kind: "unavailable" };
        }
        let terminal = null;
        let delivered = false;
        const parser = new EventStreamParser((event) => {
            if (event.event !== "status" || terminal)
                return;
            const job = JSON.parse(event.data);
            delivered = true;
            channel.publish(job);
            if (isTerminal(job.status))
                terminal = job;
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        // A fetch whose body ignores the signal (some polyfills) would keep the read pending.
        const stop = () => void reader.cancel().catch(() => undefined);
        signal.addEventListener("abort", stop, { once: true });
        try {
            while (!terminal) {
                const { done, value } = await reader.read();
                if (done)
                    break;
                parser.push(value);
            }
        }
        catch {
            if (signal.aborted)
                throw signal.reason;
        }
        finally {
            signal.removeEventListener("abort", stop);
            await reader.cancel().catch(() => undefined);
        }
        if (terminal)
            return { kind: "terminal", job: terminal };
        if (signal.aborted)
            throw signal.reason;
        return { kind: "dropped", delivered };
    }
    /** Polls GET /api/jobs/{id} with If-None-Match until the job ends. */
    async poll(jobId, channel, signal) {
        let etag = null;
        let attempt = 0;
        for (;;) {
            let retryAfterMs = null;
            try {
                const answer = await this.client.getJobIfChanged(jobId, etag, { signal });
                etag = answer.etag;
                retryAfterMs = answer.retryAfterMs;
                if (answer.job) {
                    const moved = changed(channel.last, answer.job);
                    channel.publish(answer.job);
                    if (isTerminal(answer.job.status))
                        return answer.job;
                    attempt = moved ? 0 : attempt + 1;
                }
                else {
                    attempt += 1;
                }
            }
            catch (error) {
                if (signal.aborted)
                    throw signal.reason;
                const retry = error instanceof NetworkError || (error instanceof ApiError && error.retryable);
                if (!retry)
                    throw error;
                retryAfterMs = error instanceof ApiError ? error.retryAfterMs : null;
                attempt += 1;
            }
            await sleep(backoffDelay(attempt, this.tuning, retryAfterMs), signal);
        }
    }
}
/** Whether the job moved since `before` (so polling starts fast again). */
function changed(before, after) {
    return before === null || before.progress !== after.progress || before.status !== after.status;
}
export function followJob(hub, jobId, options = {}) {
    const { signal, onUpdate } = options;
    return new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(signal.reason);
            return;
        }
        const onAbort = () => {
            leave();
            reject(signal?.reason);
        };
        const leave = hub.join(jobId, {
            onUpdate,
            resolve: (job) => {
                signal?.removeEventListener("abort", onAbort);
                resolve(job);
            },
            reject: (error) => {
                signal?.removeEventListener("abort", onAbort);
                reject(error);
            },
        });
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}
