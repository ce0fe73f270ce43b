import { describe, expect, it } from "vitest";
import { EventStreamParser, type ServerSentEvent } from "../src/client/sse.js";

function parse(...chunks: string[]): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  const parser = new EventStreamParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe("EventStreamParser", () => {
  it("reads events split anywhere across chunks", () => {
    expect(parse("id: 3\nevent: sta", "tus\ndata: {\"a\"", ":1}\n", "\n")).toEqual([
      { event: "status", data: '{"a":1}', id: "3" },
    ]);
  });

  it("accepts CRLF and CR line ends, joins data lines, skips comments", () => {
    expect(parse(": keep-alive\r\n", "data: one\r", "\ndata: two\r\r", "data:x\n\n")).toEqual([
      { event: "message", data: "one\ntwo", id: null },
      { event: "message", data: "x", id: null },
    ]);
  });

  it("dispatches nothing for an event without data or an unfinished one", () => {
    expect(parse("event: status\n\n", "data: half")).toEqual([]);
  });
});
