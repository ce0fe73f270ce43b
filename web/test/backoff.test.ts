import { describe, expect, it } from "vitest";
import { backoffCeiling, backoffDelay, sleep } from "../src/client/backoff.js";
import { parseRetryAfter } from "../src/client/errors.js";

describe("backoff with full jitter", () => {
  it("doubles its ceiling from 500 ms up to the 10 s cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffCeiling(n))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });

  it("draws every delay between 0 and the ceiling", () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const ceiling = backoffCeiling(attempt);
      for (const r of [0, 0.25, 0.5, 0.999_999]) {
        const delay = backoffDelay(attempt, { random: () => r });
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
      expect(backoffDelay(attempt, { random: () => 0 })).toBe(0);
      expect(backoffDelay(attempt, { random: () => 0.999_999 })).toBe(ceiling - 1);
    }
  });

  it("spreads delays out (full jitter, not a fixed step)", () => {
    const delays = new Set(Array.from({ length: 200 }, () => backoffDelay(4)));
    expect(delays.size).toBeGreaterThan(50);
    for (const d of delays) expect(d).toBeLessThan(8000);
  });

  it("takes its base and cap from the options", () => {
    expect(backoffDelay(3, { baseMs: 100, capMs: 300, random: () => 0.5 })).toBe(150);
  });

  it("never waits less than the server's Retry-After", () => {
    expect(backoffDelay(0, { random: () => 0.5 }, 7000)).toBe(7000);
    expect(backoffDelay(5, { random: () => 0.9 }, 10)).toBe(9000);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("5")).toBe(5000);
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it("sleeps until aborted", async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    controller.abort(new DOMException("stop", "AbortError"));
    await expect(slept).rejects.toMatchObject({ name: "AbortError" });
  });
});
