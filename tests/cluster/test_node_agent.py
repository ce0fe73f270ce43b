"""The node agent (``node_agent.py``) as the Node of a real control plane: the real
kube-scheduler binds Pods to it, the real Job controller reads the Pod status and exit
codes it reports and applies ``backoffLimit``, ``podFailurePolicy``,
``activeDeadlineSeconds``, and the TTL-after-finished controller and garbage collector
delete what is finished. Nothing here is emulated except the container runtime.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bookkeeper_jobs.operator.manifests import CONTAINER_NAME, _pod_failure_policy
from tests.cluster.control_plane import ROOT, ControlPlane
from tests.cluster.node_agent import IN_POD, NodeAgent, translate
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

JsonObject = dict[str, Any]


def pod_spec(script: str, **spec: Any) -> JsonObject:
    """A pod spec running ``script`` with Python (through ``in_pod.py``, which gives it the
    in-cluster credentials) in a container named as the product's task container."""
    container: JsonObject = {
        "name": CONTAINER_NAME,
        "image": "python",
        "command": [sys.executable, str(IN_POD), "-c", script],
    }
    container.update(spec.pop("container", {}))
    return {"restartPolicy": "Never", "containers": [container], **spec}


def job(name: str, script: str, *, pod: JsonObject | None = None, **spec: Any) -> JsonObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, **spec, "template": {"spec": pod or pod_spec(script)}},
    }


def create(plane: ControlPlane, path: str, body: JsonObject) -> JsonObject:
    status, answer = plane.request("POST", path, body)
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


def get(plane: ControlPlane, path: str) -> JsonObject | None:
    status, answer = plane.request("GET", path)
    if status == 404:
        return None
    assert status == 200, answer
    return answer  # type: ignore[no-any-return]


def finished_job(
    plane: ControlPlane, agent: NodeAgent, namespace: str, name: str, timeout: float = 90
) -> JsonObject:
    """The Job once the real Job controller set ``Complete`` or ``Failed``."""

    def finished() -> JsonObject | None:
        found = get(plane, f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
        conditions = ((found or {}).get("status") or {}).get("conditions") or []
        done = any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions
        )
        return found if done else None

    try:
        return wait_until(finished, timeout=timeout, interval=0.2, what=f"Job {name} to finish")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{agent.dump_logs(namespace)}") from None


def condition(obj: JsonObject, kind: str) -> JsonObject:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def job_pods(plane: ControlPlane, namespace: str, name: str) -> list[JsonObject]:
    found = get(plane, f"/api/v1/namespaces/{namespace}/pods?labelSelector=job-name%3D{name}")
    return sorted(
        (found or {}).get("items") or [], key=lambda p: p["metadata"]["creationTimestamp"]
    )


def test_a_job_pod_gets_its_env_secrets_and_service_account_token(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    ns = namespace
    create(
        control_plane,
        f"/api/v1/namespaces/{ns}/secrets",
        {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}},
    )
    create(
        control_plane, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "runner"}}
    )
    script = """
import os
from kubernetes import client
from bookkeeper_jobs.kube import load_kube_configuration
for name in ("PLAIN", "GREETING", "PASSWORD", "POD_NAME", "POD_NAMESPACE", "HOSTNAME"):
    print(f"{name}={os.environ.get(name)}")
api = client.ApiClient(load_kube_configuration())
review = client.AuthenticationV1Api(api).create_self_subject_review(
    {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
print("user=" + review.status.user_info.username)
try:
    client.CoreV1Api(api).list_namespaced_secret(os.environ["POD_NAMESPACE"])
    print("secrets=listed")
except client.ApiException as error:
    print(f"secrets={error.status}")
"""
    env = [
        {"name": "PLAIN", "value": "plain"},
        {"name": "GREETING", "value": "hello $(PLAIN)"},
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
        },
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    pod = pod_spec(script, serviceAccountName="runner", container={"env": env})
    create(control_plane, f"/apis/batch/v1/namespaces/{ns}/jobs", job("env", script, pod=pod))

    done = finished_job(control_plane, node_agent, ns, "env")
    assert condition(done, "Complete")["status"] == "True", done["status"]
    (pod_object,) = job_pods(control_plane, ns, "env")
    name = pod_object["metadata"]["name"]
    assert pod_object["spec"]["nodeName"] == control_plane.node_name  # kube-scheduler bound it
    assert pod_object["status"]["phase"] == "Succeeded"
    terminated = pod_object["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    logs = node_agent.logs(ns, name)
    for line in (
        "PLAIN=plain",
        "GREETING=hello plain",
        "PASSWORD=s3cret",
        f"POD_NAME={name}",
        f"POD_NAMESPACE={ns}",
        f"HOSTNAME={name}",
        f"user=system:serviceaccount:{ns}:runner",  # a TokenRequest token bound to the pod
        "secrets=403",  # RBAC: the account has no role
    ):
        assert line in logs, logs


def test_backoff_limit_and_the_products_pod_failure_policy(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    """The product's exit codes: 3 fails the Job at once (its ``podFailurePolicy``), 1
    counts against ``backoffLimit``; the real Job controller decides both."""
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    policy = _pod_failure_policy()
    create(
        control_plane,
        jobs,
        job("final", "raise SystemExit(3)", backoffLimit=2, podFailurePolicy=policy),
    )
    create(
        control_plane,
        jobs,
        job("retry", "raise SystemExit(1)", backoffLimit=1, podFailurePolicy=policy),
    )

    final = finished_job(control_plane, node_agent, namespace, "final")
    failed = condition(final, "Failed")
    assert failed["reason"] == "PodFailurePolicy", final["status"]
    assert "exit code 3" in failed["message"]
    assert final["status"]["failed"] == 1  # no second attempt despite backoffLimit 2
    (pod,) = job_pods(control_plane, namespace, "final")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3

    # the controller's own back-off (10 s) separates the two attempts
    retry = finished_job(control_plane, node_agent, namespace, "retry", timeout=120)
    assert condition(retry, "Failed")["reason"] == "BackoffLimitExceeded", retry["status"]
    assert retry["status"]["failed"] == 2
    pods = job_pods(control_plane, namespace, "retry")
    assert len(pods) == 2
    assert all(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1 for p in pods
    )


def test_active_deadline_stops_the_running_pod(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    script = "import time\nprint('working', flush=True)\ntime.sleep(600)"
    create(
        control_plane,
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        job("slow", script, activeDeadlineSeconds=3, backoffLimit=5),
    )
    done = finished_job(control_plane, node_agent, namespace, "slow")
    assert condition(done, "Failed")["reason"] == "DeadlineExceeded", done["status"]
    workers = node_agent.pods(namespace)
    assert len(workers) == 1
    worker = workers[0]
    # the Job controller deleted the pod; the agent stopped the process with SIGTERM
    wait_until(worker.terminal.is_set, timeout=30, what="the pod's process to stop")
    assert worker.state["terminated"]["exitCode"] == 128 + signal.SIGTERM
    wait_until(
        lambda: not job_pods(control_plane, namespace, "slow"),
        timeout=30,
        what="the deleted pod to be gone",
    )


def test_ttl_after_finished_deletes_the_job_and_its_pods(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    create(control_plane, path, job("short", "print('done')", ttlSecondsAfterFinished=1))
    wait_until(
        lambda: get(control_plane, f"{path}/short") is None,
        timeout=60,
        interval=0.2,
        what="the TTL-after-finished controller to delete the Job",
    )
    wait_until(
        lambda: not job_pods(control_plane, namespace, "short"),
        timeout=60,
        interval=0.2,
        what="the garbage collector to delete its pod",
    )


def test_a_deleted_pod_gets_sigterm_then_sigkill_after_its_grace_period(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('ignoring SIGTERM', flush=True))\n"
        "print('up', flush=True)\n"
        "time.sleep(600)"
    )
    path = f"/api/v1/namespaces/{namespace}/pods"
    body = {
        "metadata": {"name": "stubborn"},
        "spec": pod_spec(script, terminationGracePeriodSeconds=2),
    }
    create(control_plane, path, body)
    wait_until(
        lambda: "up" in node_agent.logs(namespace, "stubborn"), timeout=60, what="the pod to run"
    )
    running = get(control_plane, f"{path}/stubborn")
    assert running is not None and running["status"]["phase"] == "Running"
    assert condition(running, "Ready")["status"] == "True"

    began = time.monotonic()
    status, answer = control_plane.request("DELETE", f"{path}/stubborn")
    assert status == 200, answer
    wait_until(
        lambda: get(control_plane, f"{path}/stubborn") is None,
        timeout=60,
        what="the agent to finish the deletion",
    )
    took = time.monotonic() - began
    worker = node_agent.worker(namespace, "stubborn")
    assert worker is not None
    assert "ignoring SIGTERM" in worker.logs()
    assert worker.state["terminated"]["exitCode"] == 128 + signal.SIGKILL
    assert took >= 2.0  # the grace period was given (no upper bound: the machine is busy)


def test_restart_policy_always_restarts_the_container(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    body = {
        "metadata": {"name": "crashy"},
        "spec": pod_spec("print('crash', flush=True)\nraise SystemExit(1)", restartPolicy="Always"),
    }
    create(control_plane, path, body)

    def restarted() -> JsonObject | None:
        pod = get(control_plane, f"{path}/crashy") or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return statuses[0] if statuses[0].get("restartCount", 0) >= 2 else None

    status = wait_until(restarted, timeout=60, interval=0.2, what="two restarts")
    assert status["lastState"]["terminated"]["exitCode"] == 1
    pod = get(control_plane, f"{path}/crashy")
    assert pod is not None and pod["status"]["phase"] == "Running"  # Always never ends


def test_the_node_is_registered_and_restricted_as_a_kubelet(
    control_plane: ControlPlane, node_agent: NodeAgent, namespace: str
) -> None:
    node = get(control_plane, f"/api/v1/nodes/{control_plane.node_name}")
    assert node is not None and condition(node, "Ready")["status"] == "True"
    lease = get(
        control_plane,
        f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{control_plane.node_name}",
    )
    assert lease is not None and lease["spec"]["holderIdentity"] == control_plane.node_name
    create(
        control_plane,
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "unrelated"}, "stringData": {"k": "v"}},
    )
    token = control_plane.node_token
    for path in (
        f"/api/v1/namespaces/{namespace}/secrets/unrelated",  # no pod of this node names it
        "/api/v1/secrets",
        "/api/v1/pods",  # a node lists only its own pods (spec.nodeName field selector)
    ):
        status, answer = control_plane.request("GET", path, token=token)
        assert status == 403, (path, answer)
    status, answer = control_plane.request(
        "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{control_plane.node_name}", token=token
    )
    assert status == 200, answer
    status, _ = control_plane.request(
        "POST", "/api/v1/nodes", {"metadata": {"name": "another-node"}}, token=token
    )
    assert status == 403  # NodeRestriction: only its own Node


def test_a_path_into_the_checkout_is_never_taken_for_a_pods_mount(tmp_path: Path) -> None:
    """The pods' image is this checkout: with the checkout under ``/tmp`` (CI's clone), a
    ``PYTHONPATH`` into it was rewritten into the pod's ``/tmp`` emptyDir and every task pod
    of the scripted contract job types failed with "No module named 'tests.contract'"."""
    # a mount over the checkout's own directory, as the pod's /tmp is for a clone under /tmp
    mounts = {str(ROOT.parent): tmp_path / "shadow", "/var/lib/bkjobs": tmp_path / "data"}

    assert translate(str(ROOT), mounts, {}) == str(ROOT)
    assert translate(f"{ROOT}/tests", mounts, {}) == f"{ROOT}/tests"
    assert translate(f"{ROOT.parent}/other", mounts, {}) == f"{tmp_path}/shadow/other"
    assert translate("/var/lib/bkjobs", mounts, {}) == f"{tmp_path}/data"
    assert translate("8000", mounts, {8000: 41234}) == "41234"
