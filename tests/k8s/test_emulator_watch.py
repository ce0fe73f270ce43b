"""Watches: resuming from a resourceVersion, bookmarks, timeouts, 410 Gone, selectors,
and dropped connections.

https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from kubernetes import client, watch

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, widget
from tests.support.polling import wait_until

COLLECTION = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_client)


def list_version(custom: client.CustomObjectsApi) -> str:
    return custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["metadata"][
        "resourceVersion"
    ]


def collect(custom: client.CustomObjectsApi, count: int, **kwargs: Any) -> list[tuple[str, str]]:
    """The first ``count`` events of a watch as (type, name-or-resourceVersion)."""
    watcher, seen = watch.Watch(), []
    kwargs.setdefault("timeout_seconds", 5)
    for event in watcher.stream(
        custom.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, **kwargs
    ):
        metadata = event["object"]["metadata"]
        seen.append((event["type"], metadata.get("name") or metadata["resourceVersion"]))
        if len(seen) == count:
            watcher.stop()
    return seen


def raw_events(http: httpx.Client, params: dict[str, str], count: int = 100) -> list[dict]:
    """Read a watch with raw HTTP until ``count`` events or the end of the response."""
    events = []
    with http.stream("GET", COLLECTION, params={"watch": "true", **params}) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


def test_watch_from_resource_version_replays_later_changes(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """A watch from the list's resourceVersion sees exactly the changes after it.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    widgets.create(WIDGETS, "default", widget("w1"))
    since = list_version(custom)
    widgets.create(WIDGETS, "default", widget("w2"))
    widgets.patch(WIDGETS, "default", "w1", {"spec": {"size": 3}})
    widgets.delete(WIDGETS, "default", "w2")
    seen = collect(custom, 3, resource_version=since)
    assert seen == [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")]


def test_watch_without_version_starts_with_synthetic_added(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """Without resourceVersion (or with "0") a watch first sends ADDED for every object.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch
    """
    for name in ("w1", "w2"):
        widgets.create(WIDGETS, "default", widget(name))
    assert collect(custom, 2) == [("ADDED", "w1"), ("ADDED", "w2")]
    assert collect(custom, 2, resource_version="0") == [("ADDED", "w1"), ("ADDED", "w2")]


def test_bookmarks_carry_the_current_resource_version(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """With allowWatchBookmarks, idle watches get BOOKMARK events holding only a version.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks
    """
    widgets.create(WIDGETS, "default", widget("w1"))
    since = list_version(custom)
    widgets.create(WIDGETS, "default", widget("w2"))
    latest = widgets.get(WIDGETS, "default", "w2")["metadata"]["resourceVersion"]
    seen = collect(custom, 2, resource_version=since, allow_watch_bookmarks=True)
    assert seen == [("ADDED", "w2"), ("BOOKMARK", latest)]


def test_timeout_seconds_ends_the_stream(
    custom: client.CustomObjectsApi, http: httpx.Client
) -> None:
    """``timeoutSeconds`` makes the server close the watch after that long.

    https://kubernetes.io/docs/reference/kubernetes-api/common-parameters/common-parameters/#timeoutseconds
    """
    started = time.monotonic()
    assert raw_events(http, {"timeoutSeconds": "1"}) == []
    assert 0.9 < time.monotonic() - started < 3


def test_compacted_resource_version_is_410_expired(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi, http: httpx.Client
) -> None:
    """A watch from a compacted version gets an ERROR event with a 410 Expired Status.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
    """
    since = list_version(custom)
    widgets.create(WIDGETS, "default", widget("w1"))
    widgets.compact()
    [event] = raw_events(http, {"resourceVersion": since})
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    with pytest.raises(client.ApiException) as caught:
        collect(custom, 1, resource_version=since)  # the official client raises it
    assert caught.value.status == 410
    current = str(widgets.store.resource_version)
    widgets.create(WIDGETS, "default", widget("w2"))
    assert collect(custom, 1, resource_version=current) == [("ADDED", "w2")]


def test_history_is_bounded(tmp_path: Any) -> None:
    """Only recent history is kept: an old enough version expires without compaction.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
    """
    with KubernetesEmulator(history_limit=2) as api, httpx.Client(base_url=api.url) as http:
        start = str(api.store.resource_version)
        for name in ("a", "b", "c"):
            api.create("v1/configmaps", "default", {"metadata": {"name": name}})
        answer = http.get(
            "/api/v1/namespaces/default/configmaps", params={"watch": "1", "resourceVersion": start}
        )
        assert json.loads(answer.text.splitlines()[0])["object"]["code"] == 410


def test_selectors_filter_watch_events(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """A selector-filtered watch sees objects leave (DELETED) and enter (ADDED) its view.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#semantics-for-watch
    """
    since = list_version(custom)
    widgets.create(WIDGETS, "default", widget("w1", labels={"tier": "gold"}))
    widgets.create(WIDGETS, "default", widget("w2", labels={"tier": "silver"}))
    widgets.patch(WIDGETS, "default", "w1", {"metadata": {"labels": {"tier": "silver"}}})
    widgets.patch(WIDGETS, "default", "w2", {"metadata": {"labels": {"tier": "gold"}}})
    seen = collect(custom, 3, resource_version=since, label_selector="tier=gold")
    assert seen == [("ADDED", "w1"), ("DELETED", "w1"), ("ADDED", "w2")]


def test_send_initial_events_ends_with_marked_bookmark(
    widgets: KubernetesEmulator, http: httpx.Client
) -> None:
    """Streaming lists: ADDED for current objects, then a BOOKMARK marked initial-events-end.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists
    """
    widgets.create(WIDGETS, "default", widget("w1"))
    params = {
        "sendInitialEvents": "true",
        "allowWatchBookmarks": "true",
        "resourceVersionMatch": "NotOlderThan",
    }
    added, bookmark = raw_events(http, params, count=2)
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_resumes_after_disconnect_without_loss(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """When the server drops a watch, the official client reconnects from the last seen
    resourceVersion and receives each change exactly once.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    watcher = watch.Watch()

    def consume() -> None:
        stream = watcher.stream(
            custom.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL
        )
        for event in stream:
            events.put((event["type"], event["object"]["metadata"]["name"]))
            if event["object"]["metadata"]["name"] == "w2":
                watcher.stop()

    consumer = threading.Thread(target=consume)
    consumer.start()
    widgets.create(WIDGETS, "default", widget("w1"))
    assert events.get(timeout=5) == ("ADDED", "w1")
    assert widgets.disconnect_watches() == 1
    widgets.create(WIDGETS, "default", widget("w2"))
    consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert list(events.queue) == [("ADDED", "w2")]


def test_aborted_watch_breaks_the_connection(
    widgets: KubernetesEmulator, http: httpx.Client
) -> None:
    """``disconnect_watches(abort=True)`` cuts the TCP connection mid-stream, as a load
    balancer does; clients see a broken response, not a clean end.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    failures: list[BaseException] = []

    def read() -> None:
        try:
            raw_events(http, {"timeoutSeconds": "10"})
        except httpx.HTTPError as error:
            failures.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: widgets.watch_count > 0, timeout=5, interval=0.01, what="the watch")
    widgets.disconnect_watches(abort=True)
    reader.join(timeout=5)
    assert len(failures) == 1
