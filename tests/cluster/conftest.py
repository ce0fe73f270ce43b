"""Fixtures for tests against a real Kubernetes control plane (see ``control_plane.py``).

``control_plane`` (session): etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, started once per session and stopped at its end; ``node_agent`` (session):
the test kubelet as its one Node (``node_agent.py``). The binaries come from
``scripts/build-control-plane.sh``; if they cannot be had (no Go toolchain, a failed
build) the tests are skipped with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from bookkeeper_jobs.kube import load_kube_configuration
from tests.cluster.control_plane import (
    ROOT,
    ControlPlane,
    ControlPlaneUnavailable,
    build_binaries,
)
from tests.cluster.node_agent import NodeAgent

CRD_PATH = ROOT / "crds" / "bookkeepingjobs.yaml"
HELM = ROOT / ".tools" / "helm"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under ``CI=true`` (no skip under CI for a missing program)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"a real Kubernetes control plane is required under CI=true: {reason}")
    pytest.skip(f"no Kubernetes control plane: {reason}")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    try:
        bin_dir = build_binaries()
    except ControlPlaneUnavailable as exc:
        unavailable(str(exc))
        raise
    with ControlPlane(bin_dir) as plane:
        yield plane


@pytest.fixture(scope="session")
def admin_client(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """The official client with the admin kubeconfig (``system:masters``)."""
    with client.ApiClient(load_kube_configuration(control_plane.kubeconfig)) as api_client:
        yield api_client


@pytest.fixture(scope="session")
def bookkeepingjobs_crd(admin_client: client.ApiClient) -> dict[str, Any]:
    """``crds/bookkeepingjobs.yaml`` applied and Established."""
    body = yaml.safe_load(CRD_PATH.read_text())
    api = client.ApiextensionsV1Api(admin_client)
    try:
        api.create_custom_resource_definition(body)
    except client.ApiException as exc:
        if exc.status != 409:  # already there (a helm release of the chart made it)
            raise
    name = body["metadata"]["name"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = api.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in (crd.status.conditions or [])}
        if conditions.get("Established") == "True":
            return body  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"CRD {name} not Established after 30 s: {conditions}")


@pytest.fixture
def namespace(admin_client: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (the namespace controller empties
    it)."""
    core = client.CoreV1Api(admin_client)
    name = f"t-{request.node.name.replace('_', '-')[:40].strip('-').lower()}-{os.getpid() % 1000}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def node_agent(control_plane: ControlPlane) -> Iterator[NodeAgent]:
    """The node agent (``node_agent.py``) registered as the control plane's one Node: the
    kube-scheduler binds every Pod to it and it runs them as local processes. Containers
    restart after 1 s (a kubelet's first CrashLoopBackOff is 10 s); deletions wait at most
    5 s before ``SIGKILL``."""
    with NodeAgent(control_plane, restart_backoff=1.0, max_grace_period=5.0) as agent:
        yield agent
    assert not agent.errors, f"the node agent failed: {agent.errors!r}"


def token_client(control_plane: ControlPlane, token: str, path: Path) -> client.ApiClient:
    """The official client authenticating with ``token`` (through a kubeconfig at ``path``)."""
    control_plane.write_kubeconfig(path, token)
    return client.ApiClient(load_kube_configuration(path))
