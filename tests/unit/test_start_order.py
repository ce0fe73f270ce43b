"""The start order both modes share: fair across tenants, then priority, then age."""

from __future__ import annotations

from bookkeeper_jobs.start_order import StartOrder, Waiting


def waiting(tenant: str, created: float, job_type: str = "categorize") -> Waiting[str]:
    return Waiting(tenant, job_type, created, f"{tenant}-{created}", f"{tenant}-{created}")


def test_the_tenant_running_the_fewest_goes_first_however_old_the_others_jobs() -> None:
    order = StartOrder(per_tenant_limit=20)
    chosen = order.pick([waiting("busy", 1.0), waiting("new", 9.0)], {"busy": 2}, {})
    assert chosen is not None and chosen.tenant == "new"


def test_between_equally_busy_tenants_the_oldest_job_goes_first() -> None:
    order = StartOrder(per_tenant_limit=20)
    chosen = order.pick([waiting("a", 5.0), waiting("b", 3.0)], {"a": 1, "b": 1}, {})
    assert chosen is not None and chosen.tenant == "b"


def test_between_equally_busy_tenants_the_one_served_least_recently_goes_first() -> None:
    """Round robin: with one slot, t1's backlog and t2's jobs take turns."""
    order = StartOrder(per_tenant_limit=20)
    left = [waiting("t1", float(n)) for n in range(1, 5)] + [
        waiting("t2", 10.0),
        waiting("t2", 11.0),
    ]
    last_started: dict[str, float] = {}
    started = []
    for clock in range(100, 106):
        chosen = order.pick(left, {}, last_started)
        assert chosen is not None
        started.append(chosen.tenant)
        left.remove(chosen)
        last_started[chosen.tenant] = clock
    assert started == ["t1", "t2", "t1", "t2", "t1", "t1"]


def test_a_tenant_at_its_limit_waits_even_alone() -> None:
    order = StartOrder(per_tenant_limit=2)
    assert order.pick([waiting("a", 1.0)], {"a": 2}, {}) is None
    chosen = order.pick([waiting("a", 1.0), waiting("b", 2.0)], {"a": 2, "b": 5}, {})
    assert chosen is None  # b is over its limit too (it was lowered while b ran)


def test_priority_orders_one_tenants_jobs_before_age() -> None:
    order = StartOrder(per_tenant_limit=20, priorities={"ocr": 10, "export-qbo": -5})
    left = [waiting("a", 1.0, "export-qbo"), waiting("a", 2.0), waiting("a", 3.0, "ocr")]
    started = []
    while (chosen := order.pick(left, {}, {})) is not None:
        started.append(chosen.job_type)
        left.remove(chosen)
    assert started == ["ocr", "categorize", "export-qbo"]


def test_fairness_comes_before_priority() -> None:
    order = StartOrder(per_tenant_limit=20, priorities={"ocr": 10})
    chosen = order.pick([waiting("a", 1.0, "ocr"), waiting("b", 2.0)], {"a": 1}, {})
    assert chosen is not None and chosen.tenant == "b"
