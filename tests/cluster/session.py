"""One real control plane (and one node agent) per pytest session, whoever asks first.

Both ``tests/cluster/conftest.py`` and ``tests/contract/conftest.py`` (its
``kubernetes-real`` backend) need the control plane. A session fixture defined in two
conftests would be two fixtures, and so two control planes in one run; instead both fixtures
call these functions, which start the plane (and the node agent) once, keep it in the
session's ``config.stash`` and stop it when the session ends (``config.add_cleanup``: the
node agent first, then the plane). If the binaries cannot be had the tests are skipped with
the reason, or failed under ``CI=true``; the failure is remembered, so the next test skips at
once instead of trying the build again.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.cluster.control_plane import (
    ROOT,
    ControlPlane,
    ControlPlaneUnavailable,
    build_binaries,
)
from tests.cluster.node_agent import NodeAgent

CRD_PATH = ROOT / "crds" / "bookkeepingjobs.yaml"
HELM = ROOT / ".tools" / "helm"

_PLANE = pytest.StashKey[ControlPlane | str]()
_AGENT = pytest.StashKey[NodeAgent]()


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under ``CI=true`` (no skip under CI for a missing program)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"a real Kubernetes control plane is required under CI=true: {reason}")
    pytest.skip(f"no Kubernetes control plane: {reason}")


def shared_control_plane(config: pytest.Config) -> ControlPlane:
    """The session's control plane, started (after the build script) on first use."""
    known = config.stash.get(_PLANE, None)
    if isinstance(known, str):
        unavailable(known)
    if isinstance(known, ControlPlane):
        return known
    try:
        bin_dir = build_binaries()
    except ControlPlaneUnavailable as exc:
        config.stash[_PLANE] = str(exc)
        unavailable(str(exc))
        raise
    plane = ControlPlane(bin_dir)
    try:
        plane.start()
    except Exception as exc:
        config.stash[_PLANE] = f"the control plane did not start: {exc}"
        raise
    config.add_cleanup(plane.stop)
    config.stash[_PLANE] = plane
    return plane


def shared_node_agent(config: pytest.Config) -> NodeAgent:
    """The node agent registered as the control plane's one Node: the kube-scheduler binds
    every Pod to it and it runs them as local processes. Containers restart after 1 s (a
    kubelet's first CrashLoopBackOff is 10 s); deletions wait at most 5 s before
    ``SIGKILL``."""
    agent = config.stash.get(_AGENT, None)
    if agent is not None:
        return agent
    plane = shared_control_plane(config)
    agent = NodeAgent(plane, restart_backoff=1.0, max_grace_period=5.0)
    agent.start()
    config.add_cleanup(agent.stop)  # cleanups run last-in first-out: before the plane stops
    config.stash[_AGENT] = agent
    return agent


def apply_bookkeepingjobs_crd(admin_client: client.ApiClient) -> dict[str, Any]:
    """``crds/bookkeepingjobs.yaml`` applied (unless there already: a helm release of the
    chart made it) and Established; returns the applied body."""
    body: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    api = client.ApiextensionsV1Api(admin_client)
    try:
        api.create_custom_resource_definition(body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    name = body["metadata"]["name"]
    deadline = time.monotonic() + 60
    conditions: dict[str, str] = {}
    while time.monotonic() < deadline:
        crd = api.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in (crd.status.conditions or [])}
        if conditions.get("Established") == "True":
            return body
        time.sleep(0.1)
    raise AssertionError(f"CRD {name} not Established after 60 s: {conditions}")
