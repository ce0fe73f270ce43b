"""kopf runs against the emulator: discovery, list+watch, merge patches, /status, events.

A smoke test of the path a kopf operator takes, with the kopf version the project's
operator uses: it learns the resource from discovery, lists and watches it, runs the
handler, stores its progress in annotations, patches ``status`` through the status
subresource and posts Events. The second test proves kopf's watch recovers from a
dropped connection whose resourceVersion has meanwhile been compacted (410 Gone).
See https://kopf.readthedocs.io/en/stable/embedding/
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kubernetes import client

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, widget
from tests.support.polling import wait_until_async


def build_registry(url: str, seen: list[str]) -> kopf.OperatorRegistry:
    """A private registry, so the handlers never leak into kopf's global one."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def on_create(name: str, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        seen.append(name)
        kopf.info(body, reason="Seen", message="The widget was seen.")
        patch.status["phase"] = "Seen"
        patch.metadata.labels["handled"] = "yes"

    return registry


@contextlib.asynccontextmanager
async def running_operator(api: KubernetesEmulator, seen: list[str]) -> AsyncIterator[None]:
    """kopf in this test's event loop, namespace-restricted, without peering."""
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 10
    stop = threading.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(api.url, seen),
            settings=settings,
            standalone=True,
            clusterwide=False,
            namespaces=["default"],
            stop_flag=stop,
        )
    )
    try:
        await wait_until_async(
            lambda: any(PLURAL in path and "watch=true" in path for _, path in api.requests),
            what="kopf to watch the widgets",
        )
        yield
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=10)


def phase(api: KubernetesEmulator, name: str) -> str | None:
    return api.get(WIDGETS, "default", name).get("status", {}).get("phase")


async def test_kopf_create_handler_runs_and_its_patch_lands(widgets: KubernetesEmulator) -> None:
    """A kopf ``on.create`` handler sees a Widget created by the official client; its
    status patch goes through /status and its label patch through the main resource.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    seen: list[str] = []
    async with running_operator(widgets, seen):
        with widgets.api_client() as api_client:
            custom = client.CustomObjectsApi(api_client)
            create = custom.create_namespaced_custom_object
            await asyncio.to_thread(create, GROUP, VERSION, "default", PLURAL, widget("w1"))
        await wait_until_async(lambda: phase(widgets, "w1") == "Seen", what="w1 to be seen")
        await wait_until_async(lambda: widgets.list("v1/events", "default"), what="an Event")
    stored = widgets.get(WIDGETS, "default", "w1")
    assert seen == ["w1"]
    assert stored["metadata"]["labels"] == {"handled": "yes"}
    assert "kopf.zalando.org/last-handled-configuration" in stored["metadata"]["annotations"]
    [event] = widgets.list("v1/events", "default")
    assert (event["reason"], event["involvedObject"]["name"]) == ("Seen", "w1")
    assert (
        "PATCH",
        f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/w1/status",
    ) in widgets.requests


async def test_kopf_recovers_from_dropped_watch_and_410(widgets: KubernetesEmulator) -> None:
    """After its watch is cut and the history compacted, kopf gets 410 Gone, re-lists,
    and still handles objects created meanwhile, each exactly once.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
    """
    seen: list[str] = []
    async with running_operator(widgets, seen):
        widgets.create(WIDGETS, "default", widget("w1"))
        await wait_until_async(lambda: phase(widgets, "w1") == "Seen", what="w1 to be seen")
        widgets.disconnect_watches(abort=True)
        widgets.create(WIDGETS, "default", widget("w2"))
        widgets.compact()
        await wait_until_async(lambda: phase(widgets, "w2") == "Seen", what="w2 to be seen")
    assert sorted(seen) == ["w1", "w2"]
    lists = [
        path
        for _, path in widgets.requests
        if path == f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
    ]
    assert len(lists) == 2  # the initial list, and the re-list after 410 Gone
