"""Fixtures for tests against a real Kubernetes control plane (see ``control_plane.py``).

``control_plane`` (session): etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, started once per session and stopped at its end; ``node_agent`` (session):
the test kubelet as its one Node (``node_agent.py``). Both come from ``session.py``, which
the contract suite's ``kubernetes-real`` backend shares, so a run of both suites starts one
control plane. The binaries come from ``scripts/build-control-plane.sh``; if they cannot be
had (no Go toolchain, a failed build) the tests are skipped with the reason, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bookkeeper_jobs.kube import load_kube_configuration
from tests.cluster.control_plane import ROOT, ControlPlane
from tests.cluster.node_agent import NodeAgent
from tests.cluster.session import (
    CRD_PATH,
    HELM,
    apply_bookkeepingjobs_crd,
    shared_control_plane,
    shared_node_agent,
    unavailable,
)
from tests.contract.real_cluster_backend import (
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
    real_cluster,
)

__all__ = ["CRD_PATH", "HELM", "ROOT", "token_client", "unavailable"]


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> ControlPlane:
    return shared_control_plane(request.config)


@pytest.fixture(scope="session")
def admin_client(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """The official client with the admin kubeconfig (``system:masters``)."""
    with client.ApiClient(load_kube_configuration(control_plane.kubeconfig)) as api_client:
        yield api_client


@pytest.fixture(scope="session")
def bookkeepingjobs_crd(admin_client: client.ApiClient) -> dict[str, Any]:
    """``crds/bookkeepingjobs.yaml`` applied and Established."""
    return apply_bookkeepingjobs_crd(admin_client)


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
def node_agent(request: pytest.FixtureRequest) -> Iterator[NodeAgent]:
    """The node agent (``session.shared_node_agent``): the kube-scheduler binds every Pod to
    it and it runs them as local processes."""
    agent = shared_node_agent(request.config)
    yield agent
    assert not agent.errors, f"the node agent failed: {agent.errors!r}"


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane, node_agent: NodeAgent) -> Iterator[RealCluster]:
    """What the ``kubernetes-real`` backends of a module share (the CRD applied, the chart's
    RBAC rendered); ``make_real_cluster_backend`` gives each test its namespace."""
    with real_cluster(control_plane, node_agent) as shared:
        yield shared


@pytest.fixture
def backend(cluster: RealCluster, tmp_path: Path) -> Iterator[RealClusterBackend]:
    """A ``kubernetes-real`` namespace (``make_real_cluster_backend``): the chart's accounts
    and Roles, the real operator under the operator account's token, the store under the api
    account's; its tasks are the contract suite's scripted ones (``tests/contract/scripted.py``,
    scenario by ``company_id``), and the node holds its pods until ``start_workers``."""
    (tmp_path / "script").mkdir()
    made = make_real_cluster_backend(tmp_path, cluster=cluster)
    try:
        yield made
    finally:
        made.close()


def token_client(control_plane: ControlPlane, token: str, path: Path) -> client.ApiClient:
    """The official client authenticating with ``token`` (through a kubeconfig at ``path``)."""
    control_plane.write_kubeconfig(path, token)
    return client.ApiClient(load_kube_configuration(path))
