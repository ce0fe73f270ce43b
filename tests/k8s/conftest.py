"""Fixtures for tests that need a Kubernetes API: an emulated server per test.

Importing this module starts nothing; the ``k8s_api`` fixture starts a server on
127.0.0.1 (a free port) in a background thread and stops it after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from tests.k8s.emulator import KubernetesEmulator

FIXTURES = Path(__file__).parent / "fixtures"
WIDGETS_CRD = FIXTURES / "widgets.yaml"


@pytest.fixture
def k8s_api(tmp_path: Path) -> Iterator[KubernetesEmulator]:
    """A fresh emulated API server with a kubeconfig at ``k8s_api.kubeconfig_path``.

    Bookmarks every 0.2 s so that tests of bookmark handling stay fast."""
    with KubernetesEmulator(bookmark_interval=0.2) as api:
        api.write_kubeconfig(tmp_path / "kubeconfig")
        yield api


@pytest.fixture
def k8s_client(k8s_api: KubernetesEmulator) -> Iterator[client.ApiClient]:
    """An official-client ``ApiClient`` bound to ``k8s_api``, closed after the test."""
    with k8s_api.api_client() as api_client:
        yield api_client


@pytest.fixture
def widgets(k8s_api: KubernetesEmulator) -> KubernetesEmulator:
    """``k8s_api`` serving the test CRD ``widgets.example.test`` (see fixtures/widgets.yaml)."""
    k8s_api.load_crd(WIDGETS_CRD)
    return k8s_api


@pytest.fixture
def http(k8s_api: KubernetesEmulator) -> Iterator[httpx.Client]:
    """A raw HTTP client for requests the official client cannot express."""
    with httpx.Client(base_url=k8s_api.url, timeout=10) as raw:
        yield raw
