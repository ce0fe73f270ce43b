"""The Helm chart renders least-privilege RBAC and configures the operator the way it expects.

Full lint and schema validation of every scenario is `make chart-check`; these tests pin what
matters most and need only `.tools/helm` (`make tools`). They skip without it, except under
CI=true, where a missing helm is an error.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bookkeeper_jobs.crd import build_crd
from bookkeeper_jobs.operator.manifests import JobTemplateConfig

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".tools" / "helm"
CHART = ROOT / "charts" / "bookkeeper-jobs"
RBAC_KINDS = ("Role", "ClusterRole")


@cache
def render(values_file: str) -> tuple[dict[str, Any], ...]:
    if not HELM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{HELM.relative_to(ROOT)} is missing: run `make tools`")
        pytest.skip("no .tools/helm (run `make tools`)")
    command = [str(HELM), "template", "bkjobs", str(CHART), "--namespace", "books"]
    completed = subprocess.run(
        [*command, "--include-crds", "-f", str(CHART / values_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return tuple(doc for doc in yaml.safe_load_all(completed.stdout) if doc)


def find(docs: tuple[dict[str, Any], ...], kind: str, suffix: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return doc


def operator_env(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    [container] = find(docs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"]
    return {env["name"]: env.get("value", env.get("valueFrom")) for env in container["env"]}


@pytest.mark.parametrize("values_file", ["ci/default-values.yaml", "ci/prod-values.yaml"])
def test_rbac_never_uses_wildcards(values_file: str) -> None:
    roles = [d for d in render(values_file) if d["kind"] in RBAC_KINDS]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)


@pytest.mark.parametrize("values_file", ["ci/default-values.yaml", "ci/prod-values.yaml"])
def test_the_task_may_only_read_its_job_and_patch_its_status(values_file: str) -> None:
    docs = render(values_file)
    task_role = find(docs, "Role", "-task")
    assert task_role["rules"] == [
        {"apiGroups": ["jobs.bookkeeper.ai"], "resources": ["bookkeepingjobs"], "verbs": ["get"]},
        {
            "apiGroups": ["jobs.bookkeeper.ai"],
            "resources": ["bookkeepingjobs/status"],
            "verbs": ["patch"],
        },
    ]
    binding = find(docs, "RoleBinding", "-task")
    assert binding["roleRef"]["name"] == task_role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "bkjobs-bookkeeper-jobs-task"


def test_namespaced_by_default_cluster_wide_on_request() -> None:
    default = {d["kind"] for d in render("ci/default-values.yaml")}
    assert {"Role", "RoleBinding"} <= default
    assert find(render("ci/default-values.yaml"), "Role", "-operator")
    assert find(render("ci/prod-values.yaml"), "ClusterRole", "-operator")
    cluster_rules = find(render("ci/prod-values.yaml"), "ClusterRole", "-operator-cluster")
    resources = {r for rule in cluster_rules["rules"] for r in rule["resources"]}
    assert resources == {"customresourcedefinitions", "namespaces", "clusterkopfpeerings"}


def test_the_operator_gets_a_task_template_it_can_load() -> None:
    env = operator_env(render("ci/default-values.yaml"))
    config = JobTemplateConfig.model_validate_json(env["BKJOBS_TASK_TEMPLATE"])
    assert config.service_account == "bkjobs-bookkeeper-jobs-task"
    assert config.database_secret == "bookkeeper-jobs-database"
    assert config.artifacts_claim == "bkjobs-bookkeeper-jobs-artifacts"
    assert config.image == "bookkeeper-jobs:0.1.0"
    assert (config.backoff_limit, config.active_deadline_seconds) == (2, 1800)
    assert env["BKJOBS_DATABASE_URL"] == {
        "secretKeyRef": {"name": "bookkeeper-jobs-database", "key": "database-url"}
    }


def test_the_chart_ships_the_generated_crd() -> None:
    crd = find(render("ci/default-values.yaml"), "CustomResourceDefinition", "bookkeeper.ai")
    assert crd == build_crd()


def test_optional_parts_render_only_when_enabled() -> None:
    default = {d["kind"] for d in render("ci/default-values.yaml")}
    assert not default & {"Ingress", "NetworkPolicy", "ServiceMonitor", "StatefulSet", "Secret"}
    prod = {d["kind"] for d in render("ci/prod-values.yaml")}
    assert {"Ingress", "NetworkPolicy", "ServiceMonitor"} <= prod
    assert "PersistentVolumeClaim" not in prod  # an existing claim is used
    dev = render("ci/dev-values.yaml")
    assert find(dev, "StatefulSet", "-postgresql")["spec"]["volumeClaimTemplates"]
    assert find(dev, "Secret", "-database")


def test_migrations_run_as_a_hook_before_install_and_upgrade() -> None:
    job = find(render("ci/default-values.yaml"), "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["bkjobs", "migrate"]
    dev_job = find(render("ci/dev-values.yaml"), "Job", "-migrate")
    assert dev_job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_every_container_is_locked_down() -> None:
    for doc in render("ci/dev-values.yaml"):
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if pod is None:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize(
    ("values_file", "kind", "resource", "replicas"),
    [
        ("ci/default-values.yaml", "KopfPeering", "kopfpeerings", 1),
        ("ci/prod-values.yaml", "ClusterKopfPeering", "clusterkopfpeerings", 2),
    ],
)
def test_operator_replicas_peer_so_that_one_acts(
    values_file: str, kind: str, resource: str, replicas: int
) -> None:
    docs = render(values_file)
    crds = {d["spec"]["names"]["kind"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {"KopfPeering", "ClusterKopfPeering"} <= crds
    [peering] = [d for d in docs if d["apiVersion"] == "kopf.dev/v1"]
    assert peering["kind"] == kind
    assert peering["metadata"]["name"] == "bookkeeper-jobs"
    assert peering["metadata"].get("namespace") == ("books" if kind == "KopfPeering" else None)
    env = operator_env(docs)
    assert env["BKJOBS_OPERATOR_PEERING"] == "bookkeeper-jobs"
    assert env["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert find(docs, "Deployment", "-operator")["spec"]["replicas"] == replicas
    rules = [
        rule
        for role in docs
        if role["kind"] in RBAC_KINDS
        for rule in role["rules"]
        if "kopf.dev" in rule["apiGroups"]
    ]
    assert rules == [
        {
            "apiGroups": ["kopf.dev"],
            "resources": [resource],
            "verbs": ["get", "list", "watch", "patch"],
        }
    ]
