"""A large first list is frozen out of the garbage collector's full collections (the cache's
resources would otherwise be walked by each one: at 100,000 jobs a pause of the replica)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from bookkeeper_jobs.api.store import watch_cache
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.resource import GROUP


def resource(name: str, rv: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": str(rv),
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "annotations": {f"{GROUP}/company-id": "c1", f"{GROUP}/tenant-id": "t1"},
        },
        "spec": {"type": "categorize", "companyId": "c1", "tenantId": "t1"},
    }


def api_listing(count: int) -> mock.Mock:
    api = mock.Mock()
    items = [resource(f"job-{n}", n + 1) for n in range(count)]
    api.list_namespaced_custom_object.return_value = {
        "metadata": {"resourceVersion": str(count)},
        "items": items,
    }
    return api


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Give the objects a test froze back to the collector (a test process is no replica)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def listed(monkeypatch: pytest.MonkeyPatch, freeze_from: int) -> WatchCache:
    """A cache whose first list (of 3 resources) has landed, settled from ``freeze_from``."""
    monkeypatch.setattr(watch_cache, "FREEZE_FROM", freeze_from)
    cache = WatchCache(api_listing(3), "books")
    cache._list()
    assert cache.synced
    return cache


def is_collected(obj: object) -> bool:
    """Whether full collections walk ``obj`` (frozen objects are in none of the generations
    that ``gc.get_objects`` lists)."""
    return any(tracked is obj for tracked in gc.get_objects())


@pytest.mark.usefixtures("unfrozen")
def test_a_large_first_list_is_frozen_out_of_full_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = listed(monkeypatch, freeze_from=3)

    assert gc.get_freeze_count() > 0
    entry = cache.entry("job-1")
    assert entry is not None
    assert gc.is_tracked(entry.resource)  # still freed by reference counting when replaced
    assert not is_collected(entry.resource)
    assert not is_collected(entry.resource["metadata"])


@pytest.mark.usefixtures("unfrozen")
def test_a_small_list_is_left_to_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = listed(monkeypatch, freeze_from=4)

    assert gc.get_freeze_count() == 0
    entry = cache.entry("job-1")
    assert entry is not None
    assert is_collected(entry.resource)


@pytest.mark.usefixtures("unfrozen")
def test_events_after_a_frozen_list_still_replace_and_remove(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = listed(monkeypatch, freeze_from=3)

    cache.upsert(resource("job-1", 10))
    cache.remove(resource("job-2", 11))
    cache.upsert(resource("job-9", 12))

    updated = cache.get("job-1")
    assert updated is not None and updated["metadata"]["resourceVersion"] == "10"
    assert cache.get("job-2") is None
    assert [e.resource["metadata"]["name"] for e in cache.page("t1", "c1", 10)] == [
        "job-9",
        "job-1",
        "job-0",
    ]
