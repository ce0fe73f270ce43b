export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;
export interface Transport {
    baseUrl: string;
    fetch: typeof fetch;
    token: TokenSource;
}
export interface RequestOptions {
    method?: string;
    query?: Record<string, string | number | undefined | null>;
    headers?: Record<string, string>;
    body?: BodyInit;
    signal?: AbortSignal;
    /** Statuses that are answers rather than errors (304 for a conditional GET). */
    accept?: number[];
}
export declare function urlOf(transport: Transport, path: string, query?: RequestOptions["query"]): string;
/** The response of a 2xx (or an `accept`ed status); an ApiError or NetworkError otherwise. */
export declare function send(transport: Transport, path: string, options?: RequestOptions): Promise<Response>;
export declare function sendJson<T>(transport: Transport, path: string, options?: RequestOptions): Promise<T>;
export declare function jsonBody(value: unknown): Pick<RequestOptions, "body" | "headers">;
export declare function segment(value: string): string;
