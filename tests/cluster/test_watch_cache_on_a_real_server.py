"""The API's watch cache (``api/store/watch_cache.py``) on a real kube-apiserver.

A real API server keeps a watch with nothing to report silent until its ``timeoutSeconds``
(the cache asks for 300 s) or the next bookmark (about once a minute); the emulator
bookmarks every 0.2-1 s, so there a blocked read never lasts long.
"""

from __future__ import annotations

import logging

import pytest
from kubernetes import client

from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.resource import PLURAL
from tests.cluster.control_plane import ControlPlane
from tests.support.polling import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("bookkeepingjobs_crd")]


def test_stop_ends_a_silent_watch(
    admin_client: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the cache (the API's shutdown, as in a rolling update) cuts its watch: the
    watch thread has ended when ``stop`` returns, and nothing is logged as a failure.
    (Found by the e2e suite on the real server: ``stop`` waited its 5 s join for a read that
    would block until the next bookmark, and returned with the thread still reading.)"""
    cache = WatchCache(client.CustomObjectsApi(admin_client), namespace)
    cache.start()
    assert cache.wait_synced(30)
    wait_until(  # the watch request reached the API server (its audit log says so)
        lambda: any(
            event["verb"] == "watch"
            and event["objectRef"].get("resource") == PLURAL
            and event["objectRef"].get("namespace") == namespace
            for event in control_plane.audit_events()
        ),
        timeout=30,
        what="the cache's watch",
    )

    with caplog.at_level(logging.WARNING, logger="bookkeeper_jobs.api.store.watch_cache"):
        cache.stop()

    assert not cache.running
    assert not caplog.records, [record.getMessage() for record in caplog.records]
