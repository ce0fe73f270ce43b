// One authenticated request to the API: the base URL, the bearer token and error mapping.
import { apiErrorFrom, isAbort, NetworkError } from "./errors.js";
export function urlOf(transport, path, query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
        if (value !== undefined && value !== null && value !== "")
            params.set(name, String(value));
    }
    const search = params.toString();
    return `${transport.baseUrl.replace(/\/+$/, "")}${path}${search ? `?${search}` : ""}`;
}
/** The response of a 2xx (or an `accept`ed status); an ApiError or NetworkError otherwise. */
export async function send(transport, path, options = {}) {
    const headers = { Accept: "application/json", ...options.headers };
    const token = await transport.token();
    if (token)
        headers.Authorization = `Bearer ${token}`;
    let response;
    try {
        response = await transport.fetch(urlOf(transport, path, options.query), {
            method: options.method ?? "GET",
            headers,
            body: options.body,
            signal: options.signal,
            cache: "no-store",
        });
    }
    catch (error) {
        if (isAbort(error) || options.signal?.aborted)
            throw options.signal?.reason ?? error;
        throw new NetworkError(`cannot reach the jobs API: ${String(error)}`, { cause: error });
    }
    if (response.ok || options.accept?.includes(response.status))
        return response;
    throw await apiErrorFrom(response);
}
export async function sendJson(transport, path, options = {}) {
    const response = await send(transport, path, options);
    return (await response.json());
}
export function jsonBody(value) {
    return { body: JSON.stringify(value), headers: { "Content-Type": "application/json" } };
}
export function segment(value) {
    return encodeURIComponent(value);
}
