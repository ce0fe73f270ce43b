"""should_sweep: kopf's peering rule, applied to a peering object's status, decides whether
this operator's TTL sweep acts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bookkeeper_jobs.operator.ttl import should_sweep

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OWN = 100


def peer(priority: int, seen_ago: float = 5, lifetime: int = 60) -> dict[str, Any]:
    lastseen = (NOW - timedelta(seconds=seen_ago)).isoformat()
    return {"priority": priority, "lifetime": lifetime, "lastseen": lastseen}


def test_alone_it_sweeps() -> None:
    assert should_sweep({"me": peer(OWN)}, OWN, NOW)


def test_a_live_peer_with_a_lower_priority_does_not_stop_it() -> None:
    assert should_sweep({"me": peer(OWN), "other": peer(OWN - 1)}, OWN, NOW)


def test_a_live_peer_with_a_higher_priority_stops_it() -> None:
    assert not should_sweep({"me": peer(OWN), "other": peer(OWN + 1)}, OWN, NOW)


def test_a_live_peer_with_the_same_priority_stops_both() -> None:
    assert not should_sweep({"me": peer(OWN), "other": peer(OWN)}, OWN, NOW)


@pytest.mark.parametrize("priority", [OWN, OWN + 1])
def test_dead_peers_do_not_count(priority: int) -> None:
    dead = peer(priority, seen_ago=61)
    assert should_sweep({"me": peer(OWN), "gone": dead}, OWN, NOW)


def test_a_peer_is_dead_once_lastseen_plus_lifetime_is_reached() -> None:
    assert not should_sweep({"me": peer(OWN), "other": peer(OWN + 1, seen_ago=59)}, OWN, NOW)
    assert should_sweep({"me": peer(OWN), "other": peer(OWN + 1, seen_ago=60)}, OWN, NOW)


def test_not_without_its_own_keepalive() -> None:
    assert not should_sweep({}, OWN, NOW)
    assert not should_sweep({"other": peer(OWN - 1)}, OWN, NOW)
    assert not should_sweep({"me": peer(OWN, seen_ago=120)}, OWN, NOW)


def test_kopf_formats_and_withdrawn_entries() -> None:
    status: dict[str, Any] = {
        "me": {"priority": OWN, "lifetime": 60, "lastseen": "2024-05-01T11:59:30+00:00"},
        "zulu": {"priority": OWN + 5, "lifetime": 60, "lastseen": "2024-05-01T11:58:00Z"},
        "withdrawn": None,
    }
    assert should_sweep(status, OWN, NOW)
    status["zulu"]["lastseen"] = "2024-05-01T11:59:00.123456Z"
    assert not should_sweep(status, OWN, NOW)
