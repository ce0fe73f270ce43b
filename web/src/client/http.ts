// One authenticated request to the API: the base URL, the bearer token and error mapping.
import { apiErrorFrom, isAbort, NetworkError } from "./errors.js";

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

export function urlOf(transport: Transport, path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const search = params.toString();
  return `${transport.baseUrl.replace(/\/+$/, "")}${path}${search ? `?${search}` : ""}`;
}

/** The response of a 2xx (or an `accept`ed status); an ApiError or NetworkError otherwise. */
export async function send(transport: Transport, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  const token = await transport.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await transport.fetch(urlOf(transport, path, options.query), {
      method: options.method ?? "GET",
      headers,
      body: options.body,
      signal: options.signal,
      cache: "no-store",
    });
  } catch (error) {
    if (isAbort(error) || options.signal?.aborted) throw options.signal?.reason ?? error;
    throw new NetworkError(`cannot reach the jobs API: ${String(error)}`, { cause: error });
  }
  if (response.ok || options.accept?.includes(response.status)) return response;
  throw await apiErrorFrom(response);
}

export async function sendJson<T>(transport: Transport, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(transport, path, options);
  return (await response.json()) as T;
}

export function jsonBody(value: unknown): Pick<RequestOptions, "body" | "headers"> {
  return { body: JSON.stringify(value), headers: { "Content-Type": "application/json" } };
}

export function segment(value: string): string {
  return encodeURIComponent(value);
}
