"""What cluster operators see: the project's own kubectl (``.tools/kubectl``, installed by
``make tools``) with the project's CRD: printer columns, ``-o wide``, the category, label
selectors and ``kubectl wait --for=condition=Succeeded``. Every test runs against the emulated
API server (``emulator``) and against the real kube-apiserver of ``tests/cluster``
(``real``, marked ``slow``: its Table comes from the CRD's ``additionalPrinterColumns`` as
the server renders them, not from the emulator's rendering)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from bookkeeper_jobs.jobs import (
    BulkApproveSpec,
    CategorizeSpec,
    utcnow,
)
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.lifecycle import Complete, Progress, Start, initial_status, transition
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource, status_patch
from tests.cluster.session import apply_bookkeepingjobs_crd, shared_control_plane
from tests.k8s.emulator import KubernetesEmulator

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".tools" / "kubectl"
Kubectl = Callable[..., str]
RUNNING_ID, DONE_ID = "job-3f9c2a7d41e08b5c6a21", "job-8e1b0c4d2f6a7e9b3c55"


@pytest.fixture(params=["emulator", pytest.param("real", marks=pytest.mark.slow)])
def kubectl(request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    if not KUBECTL.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the project's kubectl is missing under CI=true: run `make tools`")
        pytest.skip("no .tools/kubectl (run `make tools`)")
    if request.param == "emulator":
        k8s_api: KubernetesEmulator = request.getfixturevalue("k8s_api")
        k8s_api.load_crd(ROOT / "crds" / "bookkeepingjobs.yaml")
        with k8s_api.api_client() as api_client:
            yield from _with_jobs(api_client, k8s_api.kubeconfig_path, "default")
        return
    plane = shared_control_plane(request.config)
    namespace = f"kubectl-{os.getpid() % 10000}-{request.node.name.split('[')[0][5:30]}"
    namespace = namespace.replace("_", "-").strip("-")
    with client.ApiClient(load_kube_configuration(plane.kubeconfig)) as api_client:
        apply_bookkeepingjobs_crd(api_client)
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        try:
            yield from _with_jobs(api_client, plane.kubeconfig, namespace)
        finally:
            core.delete_namespace(namespace)


def _with_jobs(api_client: client.ApiClient, kubeconfig: Path, namespace: str) -> Iterator[Kubectl]:
    add_job(
        api_client, namespace, CategorizeSpec(company_id="acme", tenant_id="t1"), RUNNING_ID, 45
    )
    spec = BulkApproveSpec(company_id="acme", tenant_id="t1", transaction_ids=["t"])
    add_job(api_client, namespace, spec, DONE_ID, 100)

    def run(*args: str) -> str:
        command = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "-n", namespace, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    yield run


def add_job(
    api_client: client.ApiClient,
    namespace: str,
    spec: CategorizeSpec | BulkApproveSpec,
    job_id: str,
    progress: int,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    body = spec_to_resource(spec, job_id=job_id, namespace=namespace)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    now = utcnow()
    status = transition(initial_status(now), Start(), now)
    if progress == 100:
        status = transition(status, Complete(attempt=1, result={}), now)
    else:
        text = "Categorized 450/1000 transactions"
        status = transition(status, Progress(attempt=1, progress=progress, text=text), now)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, job_id, status_patch(status)
    )


def test_get_shows_type_company_phase_progress_and_age(kubectl: Kubectl) -> None:
    lines = kubectl("get", "bkj").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "COMPANY", "PHASE", "PROGRESS", "AGE"]
    assert lines[1].split()[:5] == [RUNNING_ID, "categorize", "acme", "running", "45"]
    assert lines[2].split()[:5] == [DONE_ID, "bulk-approve", "acme", "complete", "100"]


def test_wide_adds_the_message(kubectl: Kubectl) -> None:
    output = kubectl("get", "bkj", "-o", "wide")
    assert output.splitlines()[0].split()[-1] == "MESSAGE"
    assert "Categorized 450/1000 transactions" in output


def test_the_category_and_label_selectors_work(kubectl: Kubectl) -> None:
    assert RUNNING_ID in kubectl("get", "bookkeeping")
    selected = kubectl("get", "bkj", "-l", f"{GROUP}/type=bulk-approve", "-o", "name")
    assert selected.split() == [f"bookkeepingjob.{GROUP}/{DONE_ID}"]


def test_kubectl_wait_for_succeeded(kubectl: Kubectl) -> None:
    output = kubectl("wait", "--for=condition=Succeeded", f"bkj/{DONE_ID}", "--timeout=10s")
    assert "condition met" in output
