"""Watch streams: newline-delimited JSON events over one long HTTP response.

A watch starts with the changes after ``resourceVersion`` (replayed from history, or an
ERROR event with a 410 Expired ``Status`` when that history is gone) or, without a
version, with synthetic ADDED events for every current object. Selectors apply to the
stream, so an object that stops matching arrives as DELETED and one that starts matching
as ADDED. BOOKMARK events (with ``allowWatchBookmarks``) carry only the resourceVersion
the stream has reached; ``timeoutSeconds`` ends the response; the emulator can also end
or cut every open stream to exercise clients' reconnect logic.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
and https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request
from .resources import ResourceType
from .state import Change, State

JsonObject = dict[str, Any]
CLOSE, ABORT = "close", "abort"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def visible_event(change: Change, matches: Callable[[JsonObject], bool]) -> str | None:
    """The event type a selector-filtered watch sees for ``change`` (None: nothing)."""
    now_matches = matches(change.object)
    if change.type != "MODIFIED":
        return change.type if now_matches else None
    was_matching = change.old is not None and matches(change.old)
    if was_matching and now_matches:
        return "MODIFIED"
    if now_matches:
        return "ADDED"
    return "DELETED" if was_matching else None


def parse_since(query: Any) -> int | None:
    """``resourceVersion`` absent or "0" means "start from the current state"."""
    raw = query.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"invalid resourceVersion {raw!r}") from None


class WatchStream:
    """One open watch response, fed by the store from any thread."""

    def __init__(
        self,
        request: web.Request,
        rtype: ResourceType,
        matches: Callable[[JsonObject], bool],
        bookmark_interval: float,
    ) -> None:
        self.request = request
        self.rtype = rtype
        self.matches = matches
        self.bookmark_interval = bookmark_interval
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Change | str] = asyncio.Queue()
        self.response = web.StreamResponse(headers={"Content-Type": "application/json"})
        self.progress = 0

    def feed(self, change: Change) -> None:
        """Store callback: hand the change to the stream's event loop."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, change)

    def end(self, how: str = CLOSE) -> None:
        """Thread-safe: finish the response cleanly (CLOSE) or cut the connection (ABORT)."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, how)

    async def run(self, state: State) -> web.StreamResponse:
        query = self.request.query
        try:
            # An integer, as kube-apiserver parses it (strconv.ParseInt: "300.0" is a 400).
            timeout = int(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        except ValueError:
            raise bad_request("invalid timeoutSeconds") from None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        send_initial = query.get("sendInitialEvents") in ("true", "1")
        self.response.enable_chunked_encoding()
        since = parse_since(query)
        try:
            initial, self.progress, unsubscribe = state.open_watch(self.rtype, since, self.feed)
        except ApiError as error:  # 410 Expired travels as an ERROR event in a 200 stream
            await self.response.prepare(self.request)
            await self._send({"type": "ERROR", "object": error.status})
            await self.response.write_eof()
            return self.response
        try:
            await self.response.prepare(self.request)
            for change in initial:
                await self._send_change(change)
            if send_initial and bookmarks:
                await self._send_bookmark(initial_events_end=True)
            await self._pump(timeout, bookmarks)
        finally:
            unsubscribe()
        return self.response

    async def _pump(self, timeout: float | None, bookmarks: bool) -> None:
        deadline = time.monotonic() + timeout if timeout is not None else float("inf")
        next_bookmark = time.monotonic() + self.bookmark_interval if bookmarks else float("inf")
        while True:
            wake = min(deadline, next_bookmark) - time.monotonic()
            try:
                item = await asyncio.wait_for(
                    self.queue.get(), timeout=max(wake, 0) if wake != float("inf") else None
                )
            except TimeoutError:
                if time.monotonic() >= deadline:
                    break
                await self._send_bookmark()
                next_bookmark = time.monotonic() + self.bookmark_interval
                continue
            if item == ABORT:
                if self.request.transport is not None:
                    self.request.transport.abort()
                return
            if item == CLOSE:
                break
            assert isinstance(item, Change)
            self.progress = item.resource_version
            await self._send_change(item)
        await self.response.write_eof()

    async def _send_change(self, change: Change) -> None:
        kind = visible_event(change, self.matches)
        if kind is not None:
            body = {**change.object, "apiVersion": self.rtype.api_version, "kind": self.rtype.kind}
            await self._send({"type": kind, "object": body})

    async def _send_bookmark(self, initial_events_end: bool = False) -> None:
        metadata: JsonObject = {"resourceVersion": str(self.progress)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        body = {"apiVersion": self.rtype.api_version, "kind": self.rtype.kind, "metadata": metadata}
        await self._send({"type": "BOOKMARK", "object": body})

    async def _send(self, event: JsonObject) -> None:
        await self.response.write(json.dumps(event).encode() + b"\n")
