"""Two real operators (``run_operator`` under kopf, in threads) peering through one
KopfPeering in the emulated API server: only the one with the higher priority acts, the
other pauses and takes over once the first one is gone; the TTL sweep, a loop of each
operator's own, follows the same rule.

kopf pauses an operator that sees a live peer with a higher priority (and every operator
when priorities are equal), https://docs.kopf.dev/en/latest/peering/. A peered operator
starts paused until it has read the peering object, so the lower one never acts at all.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.operator.ttl import should_sweep
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION
from bookkeeper_jobs.settings import Settings, load_settings
from tests.k8s.emulator import KubernetesEmulator
from tests.support.operator import (
    BKJ,
    CRD,
    IMAGE,
    JOBS,
    NS,
    child_jobs,
    gone,
    reasons,
    running_operator,
    submit,
    wait_pending,
)
from tests.support.polling import wait_until

PEERING_CRDS = (
    Path(__file__).parents[2] / "charts" / "bookkeeper-jobs" / "crds" / "kopf-peering.yaml"
)
PEERINGS = "kopf.dev/v1/kopfpeerings"
PEERING = "bookkeeper-jobs"
HIGH, LOW = 200, 100
RESUMED = "Resuming operations after the pause"
JOB_CREATES = ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")
FINISHED_LONG_AGO = {"phase": "complete", "finishedAt": "2000-01-01T00:00:00Z"}


@pytest.fixture
def api(k8s_api: KubernetesEmulator) -> KubernetesEmulator:
    k8s_api.load_crd(CRD)
    k8s_api.load_crd(PEERING_CRDS)
    body = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}}
    k8s_api.create(PEERINGS, NS, body)
    return k8s_api


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        kubernetes_namespace=NS,
        data_dir=tmp_path / "data",
        sweep_interval=60,
        task_template={"image": IMAGE},
        operator_peering=PEERING,
    )


def peers(api: KubernetesEmulator) -> dict[str, Any]:
    """The peering object's status: one ``{priority, lifetime, lastseen}`` per live peer."""
    return dict(api.get(PEERINGS, NS, PEERING).get("status") or {})


def priorities(api: KubernetesEmulator) -> list[int]:
    return sorted(int(peer["priority"]) for peer in peers(api).values())


def job_creates(api: KubernetesEmulator) -> int:
    return sum(1 for method, path in api.requests if (method, path.split("?")[0]) == JOB_CREATES)


def deletes(api: KubernetesEmulator, name: str) -> int:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/{name}"
    return sum(1 for method, p in api.requests if (method, p.split("?")[0]) == ("DELETE", path))


def acting(api: KubernetesEmulator, priority: int) -> bool:
    return should_sweep(peers(api), priority, datetime.now(UTC))


def resumed(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.getMessage().startswith(RESUMED))


def test_only_the_higher_priority_operator_acts_until_it_stops(
    api: KubernetesEmulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf")
    high = settings.model_copy(update={"operator_priority": HIGH})
    low = settings.model_copy(update={"operator_priority": LOW})
    with contextlib.ExitStack() as high_running:
        high_running.enter_context(running_operator(api, high))
        wait_until(lambda: priorities(api) == [HIGH] and resumed(caplog) == 1)
        with running_operator(api, low):
            wait_until(lambda: priorities(api) == [LOW, HIGH])

            first = submit(api)
            [job] = [wait_pending(api, first)]
            wait_until(lambda: "JobCreated" in reasons(api, first))
            time.sleep(1.0)  # room for a second operator to (wrongly) act as well
            assert child_jobs(api, first) == [job]
            assert reasons(api, first).count("JobCreated") == 1
            assert job_creates(api) == 1  # the create handler ran once, in one operator
            assert resumed(caplog) == 1  # the low one never left its initial pause

            # On a clean exit kopf withdraws its keep-alive: the low one resumes at once.
            high_running.close()
            wait_until(lambda: priorities(api) == [LOW])
            wait_until(lambda: resumed(caplog) == 2)

            second = submit(api)
            taken_over = wait_pending(api, second)
            assert taken_over["metadata"]["name"] == job_name(second)
            wait_until(lambda: "JobCreated" in reasons(api, second))
            assert job_creates(api) == 2
            assert child_jobs(api, first) == [job]  # not handled again after the takeover
            assert reasons(api, first).count("JobCreated") == 1
            assert len(api.list(JOBS, NS)) == 2
        wait_until(lambda: peers(api) == {})


def test_only_the_higher_priority_operator_sweeps_until_it_stops(
    api: KubernetesEmulator, settings: Settings
) -> None:
    # The high one sweeps once, at its start, and not again during the test; the low one
    # would sweep every 0.1 s: a resource that expires while both run stays until the
    # high one is gone, and then the low one deletes it with one DELETE.
    high = settings.model_copy(update={"operator_priority": HIGH, "sweep_interval": 60})
    low = settings.model_copy(update={"operator_priority": LOW, "sweep_interval": 0.1})
    with contextlib.ExitStack() as high_running:
        high_running.enter_context(running_operator(api, high))
        wait_until(lambda: priorities(api) == [HIGH])
        with running_operator(api, low):
            wait_until(lambda: priorities(api) == [LOW, HIGH])
            assert acting(api, HIGH)
            assert not acting(api, LOW)

            name = submit(api)
            wait_pending(api, name)
            api.patch_status(BKJ, NS, name, FINISHED_LONG_AGO)
            time.sleep(1.0)  # ten sweeps of the low one, were it acting
            assert not gone(api, name)
            assert deletes(api, name) == 0

            high_running.close()
            wait_until(lambda: priorities(api) == [LOW])
            assert acting(api, LOW)
            wait_until(lambda: gone(api, name))
            time.sleep(0.3)
            assert deletes(api, name) == 1
        wait_until(lambda: peers(api) == {})
