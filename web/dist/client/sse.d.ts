export interface ServerSentEvent {
    event: string;
    data: string;
    id: string | null;
}
/** Feeds text chunks in, calls `onEvent` for every complete event. */
export declare class EventStreamParser {
    private readonly onEvent;
    private buffer;
    private eventType;
    private data;
    private lastId;
    constructor(onEvent: (event: ServerSentEvent) => void);
    push(chunk: string): void;
    private line;
    private dispatch;
}
