// A Server-Sent Events reader over fetch: EventSource cannot send an Authorization header,
// so the stream is read from a fetch body and parsed here (the WHATWG "event stream" rules).
/** Feeds text chunks in, calls `onEvent` for every complete event. */
export class EventStreamParser {
    onEvent;
    buffer = "";
    eventType = "";
    data = [];
    lastId = null;
    constructor(onEvent) {
        this.onEvent = onEvent;
    }
    push(chunk) {
        this.buffer += chunk;
        for (;;) {
            const match = /\r\n|\r|\n/.exec(this.buffer);
            // A lone \r at the very end may be the first half of \r\n: wait for more.
            if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1))
                return;
            const line = this.buffer.slice(0, match.index);
            this.buffer = this.buffer.slice(match.index + match[0].length);
            this.line(line);
        }
    }
    line(line) {
        if (line === "") {
            this.dispatch();
            return;
        }
        if (line.startsWith(":"))
            return; // a comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        if (field === "event")
            this.eventType = value;
        else if (field === "data")
            this.data.push(value);
        else if (field === "id" && !value.includes("\0"))
            this.lastId = value;
    }
    dispatch() {
        if (this.data.length > 0) {
            this.onEvent({ event: this.eventType || "message", data: this.data.join("\n"), id: this.lastId });
        }
        this.eventType = "";
        this.data = [];
    }
}
