"""The HTTP face of the store: Kubernetes REST semantics on an aiohttp application.

Each request is routed (:mod:`.routing`), its verb mapped to a store operation, and any
:class:`ApiError` answered as a ``Status`` body with the same code. Watches become
:class:`WatchStream` responses. Patch formats are chosen by ``Content-Type`` as on a real
server; server-side apply (``application/apply-patch+yaml``) and ``dryRun`` are refused
rather than half-emulated.
See https://kubernetes.io/docs/reference/using-api/api-concepts/
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import deque
from typing import Any

from aiohttp import web

from .errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    success_status,
    unsupported_media_type,
)
from .resources import (
    SERVER_VERSION,
    ResourceType,
    api_group_doc,
    api_group_list_doc,
    api_resource_list_doc,
    api_versions_doc,
)
from .routing import Target, path_not_found, route
from .selectors import object_predicate
from .store import Store
from .tables import as_table, wants_table
from .watching import CLOSE, WatchStream

JsonObject = dict[str, Any]
logger = logging.getLogger(__name__)
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}
RETURNS_DELETED_OBJECT = ("pods",)  # plus every custom resource, as on a real server


class ApiServer:
    """An aiohttp application serving one :class:`Store`; run by the emulator's thread."""

    def __init__(self, store: Store, bookmark_interval: float = 1.0) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.requests: deque[tuple[str, str]] = deque(maxlen=1000)
        self.streams: set[WatchStream] = set()
        self.address = ""
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self.app.router.add_route("*", "/{path:.*}", self.handle)
        self._runner: web.AppRunner | None = None
        self._streams_lock = threading.Lock()  # streams change on the loop, are read anywhere

    async def start(self, host: str = "127.0.0.1") -> int:
        self._runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        self.address = f"{host}:{port}"
        await web.SockSite(self._runner, sock).start()
        return port

    async def stop(self) -> None:
        self.end_watches(CLOSE)
        if self._runner is not None:
            await self._runner.cleanup()

    def end_watches(self, how: str = CLOSE) -> int:
        """Thread-safe: end (CLOSE) or cut (ABORT) every open watch; returns how many."""
        with self._streams_lock:
            streams = list(self.streams)
        for stream in streams:
            stream.end(how)
        return len(streams)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        try:
            return await self._dispatch(request)
        except ApiError as error:
            return web.json_response(error.status, status=error.code)
        except Exception as error:  # an emulator bug: answer it the way the server would
            logger.exception("The emulator failed on %s %s", request.method, request.path_qs)
            failure = ApiError(500, "InternalError", f"emulator failure: {error!r}")
            return web.json_response(failure.status, status=500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        target = route(request.path, self.store)
        if target.discovery is not None:
            if request.method != "GET":
                raise method_not_allowed(request.method)
            return web.json_response(self._discovery(target))
        if "dryRun" in request.query:
            raise bad_request("dryRun is not supported by the emulator")
        assert target.rtype is not None
        if target.subresource not in (None, "status") or (
            target.subresource and not target.rtype.status_subresource
        ):
            raise path_not_found()
        if target.name is None:
            return await self._collection(request, target, target.rtype)
        return await self._item(request, target, target.rtype, target.name)

    def _discovery(self, target: Target) -> JsonObject:
        types = self.store.types()
        if target.discovery == "version":
            return SERVER_VERSION
        if target.discovery == "api":
            return api_versions_doc(self.address)
        if target.discovery == "apis":
            return api_group_list_doc(types)
        if target.discovery == "group":
            if not any(t.group == target.group for t in types):
                raise path_not_found()
            return {"kind": "APIGroup", "apiVersion": "v1", **api_group_doc(target.group, types)}
        served = [t for t in types if (t.group, t.version) == (target.group, target.version)]
        if not served:
            raise path_not_found()
        group_version = f"{target.group}/{target.version}".lstrip("/")
        return api_resource_list_doc(group_version, served)

    async def _collection(
        self, request: web.Request, target: Target, rtype: ResourceType
    ) -> web.StreamResponse:
        query = request.query
        if request.method == "GET" and (target.watch or query.get("watch") in ("true", "1")):
            matches = object_predicate(
                query.get("labelSelector"),
                query.get("fieldSelector"),
                rtype.selectable_fields,
                target.namespace,
            )
            stream = WatchStream(request, rtype, matches, self.bookmark_interval)
            with self._streams_lock:
                self.streams.add(stream)
            try:
                return await stream.run(self.store)
            finally:
                with self._streams_lock:
                    self.streams.discard(stream)
        if request.method == "GET":
            return self._list(request, target, rtype)
        if request.method == "POST":
            if rtype.namespaced and target.namespace is None:
                raise method_not_allowed("POST")
            created = self.store.create(rtype, target.namespace, await _json_body(request))
            return web.json_response(created, status=201)
        if request.method == "DELETE":
            items = self.store.list(
                rtype, target.namespace, query.get("labelSelector"), query.get("fieldSelector")
            )
            for item in items:
                self.store.delete(
                    rtype,
                    item["metadata"].get("namespace"),
                    item["metadata"]["name"],
                    query.get("propagationPolicy"),
                )
            return web.json_response(
                {
                    "kind": rtype.list_kind,
                    "apiVersion": rtype.api_version,
                    "metadata": {},
                    "items": items,
                }
            )
        raise method_not_allowed(request.method)

    def _list(
        self, request: web.Request, target: Target, rtype: ResourceType
    ) -> web.StreamResponse:
        query = request.query
        try:
            limit = int(query["limit"]) if query.get("limit") else None
        except ValueError:
            raise bad_request("invalid limit") from None
        items, version, token = self.store.list_page(
            rtype,
            target.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            limit,
            query.get("continue"),
        )
        metadata: JsonObject = {"resourceVersion": str(version)}
        if token:
            metadata["continue"] = token
        body = {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": metadata,
            "items": items,
        }
        if wants_table(request.headers.get("Accept", "")):
            body = as_table(rtype, items, metadata)
        return web.json_response(body)

    async def _item(
        self, request: web.Request, target: Target, rtype: ResourceType, name: str
    ) -> web.StreamResponse:
        namespace, sub = target.namespace, target.subresource
        if request.method == "GET":
            obj = self.store.get(rtype, namespace, name)
            if wants_table(request.headers.get("Accept", "")):
                return web.json_response(
                    as_table(rtype, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
                )
            return web.json_response(obj)
        if request.method == "PUT":
            return web.json_response(
                self.store.replace(rtype, namespace, name, await _json_body(request), sub)
            )
        if request.method == "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type not in PATCH_TYPES:
                raise unsupported_media_type(content_type)
            patch = await _json_body(request)
            return web.json_response(
                self.store.patch(rtype, namespace, name, patch, PATCH_TYPES[content_type], sub)
            )
        if request.method == "DELETE" and sub is None:
            return await self._delete(request, rtype, namespace, name)
        raise method_not_allowed(request.method)

    async def _delete(
        self, request: web.Request, rtype: ResourceType, namespace: str | None, name: str
    ) -> web.StreamResponse:
        options = await _json_body(request) if request.can_read_body else {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be an object")
        policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
        orphan = request.query.get("orphanDependents") or options.get("orphanDependents")
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        obj, gone = self.store.delete(rtype, namespace, name, policy, options.get("preconditions"))
        if gone and not rtype.custom and rtype.plural not in RETURNS_DELETED_OBJECT:
            return web.json_response(
                success_status(rtype.group_resource, name, obj["metadata"]["uid"])
            )
        # 202 only for a pending deletion asked with orphanDependents=false, as the real
        # server does for backward compatibility; otherwise 200 with the object.
        accepted = not gone and str(orphan).lower() == "false"
        return web.json_response(obj, status=202 if accepted else 200)


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    content_type = request.headers.get("Content-Type", "application/json")
    if "yaml" in content_type:
        raise unsupported_media_type(content_type)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise bad_request(f"invalid JSON in the request body: {error}") from None
