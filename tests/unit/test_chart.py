"""The Helm chart renders least-privilege RBAC and configures the operator the way it expects.

Full lint and schema validation of every scenario is `make chart-check`; these tests pin what
matters most and need only `.tools/helm` (`make tools`). They skip without it, except under
CI=true, where a missing helm is an error.
"""

from __future__ import annotations

import base64
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bookkeeper_jobs.crd import build_crd
from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.operator.manifests import JobTemplateConfig, build_job_manifest
from bookkeeper_jobs.resource import spec_to_resource

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".tools" / "helm"
CHART = ROOT / "charts" / "bookkeeper-jobs"
RBAC_KINDS = ("Role", "ClusterRole")
GENERATED_SECRET = "bkjobs-bookkeeper-jobs-secrets-key"


def helm_template(values_file: str, *options: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{HELM.relative_to(ROOT)} is missing: run `make tools`")
        pytest.skip("no .tools/helm (run `make tools`)")
    command = [str(HELM), "template", "bkjobs", str(CHART), "--namespace", "books"]
    return subprocess.run(
        [*command, "--include-crds", "-f", str(CHART / values_file), *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@cache
def render(values_file: str, *options: str) -> tuple[dict[str, Any], ...]:
    """`helm template` with a values file and more options (`--set`, `--is-upgrade`)."""
    completed = helm_template(values_file, *options)
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


def test_one_release_name_per_namespace_never_shares_a_cluster_scoped_object() -> None:
    """A platform team installs the release ``bkjobs`` once per environment (namespace) on
    one cluster: the two releases' ClusterRoles and ClusterRoleBindings must not collide
    (helm refuses to install the second, or it would take the first one's objects over)."""
    for values in ("ci/default-values.yaml", "ci/prod-values.yaml"):
        names = []
        for namespace in ("staging", "production"):
            docs = render(values, "--namespace", namespace)
            cluster_scoped = {
                (d["kind"], d["metadata"]["name"])
                for d in docs
                if d["kind"] in ("ClusterRole", "ClusterRoleBinding")
            }
            assert cluster_scoped, values
            bindings = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
            for binding in bindings:  # each binds its own release's role and account
                assert ("ClusterRole", binding["roleRef"]["name"]) in cluster_scoped
                assert {s["namespace"] for s in binding["subjects"]} == {namespace}
            names.append(cluster_scoped)
        assert not names[0] & names[1], values


def test_the_operator_gets_a_task_template_it_can_load() -> None:
    env = operator_env(render("ci/default-values.yaml"))
    config = JobTemplateConfig.model_validate_json(env["BKJOBS_TASK_TEMPLATE"])
    assert config.service_account == "bkjobs-bookkeeper-jobs-task"
    assert config.database_secret == "bookkeeper-jobs-database"
    assert (config.secrets_key_secret, config.secrets_key_secret_key) == (
        GENERATED_SECRET,
        "secrets-key",
    )
    assert config.artifacts_claim == "bkjobs-bookkeeper-jobs-artifacts"
    # The operator's image, and no other: the default is a placeholder until one is built.
    assert config.image == "bookkeeper-jobs.invalid/build-and-push-your-own:0.1.0"
    assert (config.backoff_limit, config.active_deadline_seconds) == (2, 1800)
    assert env["BKJOBS_DATABASE_URL"] == {
        "secretKeyRef": {"name": "bookkeeper-jobs-database", "key": "database-url"}
    }


def test_the_chart_ships_the_generated_crd_as_a_template_helm_upgrades() -> None:
    """Helm installs crds/ once and never upgrades it; the BookkeepingJob CRD is a template,
    applied by every `helm upgrade`, and kept on `helm uninstall` with the jobs it serves."""
    crd = find(render("ci/default-values.yaml"), "CustomResourceDefinition", "bookkeeper.ai")
    generated = build_crd()
    assert crd["spec"] == generated["spec"]
    assert crd["metadata"]["name"] == generated["metadata"]["name"]
    assert generated["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not (CHART / "crds" / "bookkeepingjobs.yaml").exists()
    without = render("ci/default-values.yaml", "--set", "crds.install=false")
    kinds = [d["spec"]["names"]["kind"] for d in without if d["kind"] == "CustomResourceDefinition"]
    assert "BookkeepingJob" not in kinds


def test_optional_parts_render_only_when_enabled() -> None:
    default = {d["kind"] for d in render("ci/default-values.yaml")}
    assert not default & {"Ingress", "NetworkPolicy", "ServiceMonitor", "StatefulSet"}
    [secret] = [d for d in render("ci/default-values.yaml") if d["kind"] == "Secret"]
    assert secret["metadata"]["name"] == GENERATED_SECRET  # the secrets key's, nothing else
    prod = {d["kind"] for d in render("ci/prod-values.yaml")}
    assert {"Ingress", "NetworkPolicy", "ServiceMonitor"} <= prod
    assert "PersistentVolumeClaim" not in prod  # an existing claim is used
    dev = render("ci/dev-values.yaml")
    assert find(dev, "StatefulSet", "-postgresql")["spec"]["volumeClaimTemplates"]
    assert find(dev, "Secret", "-database")


def test_migrations_run_as_a_hook_before_install_and_upgrade() -> None:
    job = find(render("ci/prod-values.yaml"), "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["bkjobs", "migrate"]
    upgrade = find(render("ci/prod-values.yaml", "--is-upgrade"), "Job", "-migrate")
    assert upgrade["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    dev_job = find(render("ci/dev-values.yaml"), "Job", "-migrate")
    assert dev_job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_migrations_wait_for_a_secrets_key_secret_the_release_creates() -> None:
    """A pre-install hook would wait forever for the generated Secret (it is created after
    the pre-install hooks), and so would a pre-upgrade hook on the upgrade that creates it
    (`helm template` has no cluster, so lookup finds no Secret there)."""
    job = find(render("ci/default-values.yaml"), "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    upgrade = find(render("ci/default-values.yaml", "--is-upgrade"), "Job", "-migrate")
    assert upgrade["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


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


SECRETS_KEY_SOURCES = [
    ("ci/default-values.yaml", (), GENERATED_SECRET, "secrets-key"),
    ("ci/dev-values.yaml", (), GENERATED_SECRET, "secrets-key"),
    ("values-dev.yaml", (), GENERATED_SECRET, "secrets-key"),
    ("ci/prod-values.yaml", (), "bookkeeper-jobs-auth", "credentials-key"),
    ("values-prod.yaml", (), "bookkeeper-jobs-auth", "secrets-key"),
    (
        "ci/default-values.yaml",
        ("--set", "auth.secretsKeyKey=other-key"),
        GENERATED_SECRET,
        "other-key",
    ),
    ("ci/default-values.yaml", ("--set", "auth.existingSecret=mine"), "mine", "secrets-key"),
]


def containers_by_workload(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """Every container of every Deployment and Job, as `<kind>/<name>/<container>`."""
    return {
        f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}": container
        for doc in docs
        if doc["kind"] in ("Deployment", "Job")
        for container in doc["spec"]["template"]["spec"]["containers"]
    }


def task_job_container(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The container of the task Job the operator builds from the chart's template."""
    config = JobTemplateConfig.model_validate_json(operator_env(docs)["BKJOBS_TASK_TEMPLATE"])
    body = spec_to_resource(
        CategorizeSpec(company_id="acme", tenant_id="t1"), job_id="job-1", namespace="books"
    )
    pod: dict[str, Any] = build_job_manifest(body, config)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize(("values_file", "options", "secret", "key"), SECRETS_KEY_SOURCES)
def test_every_pod_reads_the_same_secrets_key_from_one_secret(
    values_file: str, options: tuple[str, ...], secret: str, key: str
) -> None:
    """The API encrypts stored tokens and the task decrypts them: one Secret and key for
    the API, the operator, the migrations and every task pod, always by reference."""
    docs = render(values_file, *options)
    containers = containers_by_workload(docs)
    assert {name.rsplit("/", 1)[1] for name in containers} >= {"api", "operator"}
    assert any(name.endswith("-migrate/migrate") for name in containers)
    containers["task Job (BKJOBS_TASK_TEMPLATE)"] = task_job_container(docs)
    expected = {"secretKeyRef": {"name": secret, "key": key}}
    for name, container in containers.items():
        entries = [env for env in container["env"] if env["name"] == "BKJOBS_SECRETS_KEY"]
        assert entries == [{"name": "BKJOBS_SECRETS_KEY", "valueFrom": expected}], name
    config = JobTemplateConfig.model_validate_json(operator_env(docs)["BKJOBS_TASK_TEMPLATE"])
    assert (config.secrets_key_secret, config.secrets_key_secret_key) == (secret, key)
    assert "BKJOBS_SECRETS_KEY" not in config.env


@pytest.mark.parametrize(("values_file", "options", "secret", "key"), SECRETS_KEY_SOURCES)
def test_the_secrets_key_secret_is_generated_only_without_an_existing_one(
    values_file: str, options: tuple[str, ...], secret: str, key: str
) -> None:
    docs = render(values_file, *options)
    generated = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == secret]
    if secret != GENERATED_SECRET:
        assert generated == []
        assert not [d for d in docs if d["metadata"]["name"].endswith("-secrets-key")]
        return
    [document] = generated
    assert document["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert document["type"] == "Opaque"
    assert list(document["data"]) == [key]
    value = base64.b64decode(document["data"][key]).decode()
    assert len(value) == 48 and value.isalnum()
    rendered = yaml.safe_dump_all(d for d in docs if d is not document)
    assert value not in rendered and document["data"][key] not in rendered


def test_no_manifest_sets_the_secrets_key_as_a_value() -> None:
    for values_file in ("ci/default-values.yaml", "ci/dev-values.yaml", "ci/prod-values.yaml"):
        docs = render(values_file)
        text = yaml.safe_dump_all(docs)
        assert "BKJOBS_SECRETS_KEY" in text
        for doc in docs:
            for env in find_env_entries(doc, "BKJOBS_SECRETS_KEY"):
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], values_file


@pytest.mark.parametrize("variable", ["BKJOBS_SECRETS_KEY", "BKJOBS_QBO_CLIENT_SECRET"])
def test_the_schema_refuses_a_literal_secret_in_extra_env(variable: str) -> None:
    completed = helm_template("ci/default-values.yaml", "--set", f"extraEnv.{variable}=" + "s" * 48)
    assert completed.returncode != 0
    assert f"invalid propertyName '{variable}'" in completed.stderr


def test_the_api_reads_the_quickbooks_app_secret_from_the_auth_secret() -> None:
    docs = render("ci/prod-values.yaml")
    api = next(c for name, c in containers_by_workload(docs).items() if name.endswith("/api"))
    [entry] = [env for env in api["env"] if env["name"] == "BKJOBS_QBO_CLIENT_SECRET"]
    reference = entry["valueFrom"]["secretKeyRef"]
    assert reference["key"] == "qbo-client-secret"
    assert reference["optional"] is True  # the Connect flow is optional; PUT works without


def find_env_entries(node: Any, name: str) -> list[dict[str, Any]]:
    """Every `{name: <name>, ...}` mapping anywhere in a manifest."""
    if isinstance(node, dict):
        found = [node] if node.get("name") == name else []
        return found + [entry for value in node.values() for entry in find_env_entries(value, name)]
    if isinstance(node, list):
        return [entry for item in node for entry in find_env_entries(item, name)]
    return []


@pytest.mark.parametrize("values_file", ["ci/default-values.yaml", "ci/prod-values.yaml"])
def test_the_operator_may_set_block_owner_deletion_on_its_jobs(values_file: str) -> None:
    """OwnerReferencesPermissionEnforcement (OpenShift's default admission) refuses an
    ownerReference with blockOwnerDeletion unless its creator may update the owner's
    finalizers: https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#ownerreferencespermissionenforcement"""
    docs = render(values_file)
    role = next(
        d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole") and d["metadata"]["name"].endswith("-operator")
    )
    assert {
        "apiGroups": ["jobs.bookkeeper.ai"],
        "resources": ["bookkeepingjobs/finalizers"],
        "verbs": ["update"],
    } in role["rules"]


def test_the_operator_may_resume_the_jobs_it_suspended() -> None:
    """A Job created suspended (no room under the running limit) is resumed with a patch."""
    docs = render("ci/default-values.yaml")
    role = next(
        d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole") and d["metadata"]["name"].endswith("-operator")
    )
    [jobs] = [rule for rule in role["rules"] if rule["resources"] == ["jobs"]]
    assert "patch" in jobs["verbs"]


def task_job_pod(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The pod spec of the task Job the operator builds from the chart's template."""
    config = JobTemplateConfig.model_validate_json(operator_env(docs)["BKJOBS_TASK_TEMPLATE"])
    body = spec_to_resource(
        CategorizeSpec(company_id="acme", tenant_id="t1"), job_id="job-1", namespace="books"
    )
    pod: dict[str, Any] = build_job_manifest(body, config)["spec"]["template"]["spec"]
    return pod


def claims_of(pod: dict[str, Any]) -> list[str]:
    return [
        volume["persistentVolumeClaim"]["claimName"]
        for volume in pod.get("volumes") or []
        if "persistentVolumeClaim" in volume
    ]


def pod_env(container: dict[str, Any]) -> dict[str, Any]:
    return {env["name"]: env.get("value", env.get("valueFrom")) for env in container["env"]}


def test_the_directory_backend_shares_one_claim_by_default() -> None:
    docs = render("ci/default-values.yaml")
    [claim] = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    name = claim["metadata"]["name"]
    for suffix in ("-api", "-operator"):
        pod = find(docs, "Deployment", suffix)["spec"]["template"]["spec"]
        assert claims_of(pod) == [name]
        assert pod_env(pod["containers"][0])["BKJOBS_ARTIFACTS_BACKEND"] == "directory"
    assert claims_of(task_job_pod(docs)) == [name]


def test_the_s3_backend_needs_no_claim_and_mounts_none() -> None:
    docs = render("ci/s3-values.yaml")
    assert [d for d in docs if d["kind"] == "PersistentVolumeClaim"] == []
    workloads = [find(docs, "Deployment", "-api"), find(docs, "Deployment", "-operator")]
    pods = [w["spec"]["template"]["spec"] for w in workloads] + [task_job_pod(docs)]
    for pod in pods:
        assert claims_of(pod) == []
        [container] = pod["containers"]
        env = pod_env(container)
        assert env["BKJOBS_ARTIFACTS_BACKEND"] == "s3"
        assert env["BKJOBS_S3_BUCKET"] == "acme-bookkeeping-artifacts"
        assert (env["BKJOBS_S3_PREFIX"], env["BKJOBS_S3_REGION"]) == ("prod/", "eu-west-1")
        assert env["BKJOBS_S3_SSE"] == "aws:kms"
        assert env["BKJOBS_S3_SSE_KMS_KEY_ID"] == "alias/bookkeeping"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # by reference only
            assert env[key] == {"secretKeyRef": {"name": "bookkeeper-jobs-s3", "key": key}}
        mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
        data_dir = env["BKJOBS_DATA_DIR"]
        assert any(data_dir.startswith(path) for path in mounted), "a writable data dir"


def test_the_s3_backend_with_the_pods_identity_passes_no_keys() -> None:
    docs = render(
        "ci/s3-values.yaml",
        "--set",
        "artifacts.s3.credentialsSecret=",
        "--set",
        "serviceAccounts.task.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/r",
    )
    assert find_env_entries(list(docs), "AWS_ACCESS_KEY_ID") == []
    assert find_env_entries(list(docs), "BKJOBS_S3_BUCKET") != []
    assert find_env_entries(task_job_pod(docs), "AWS_SECRET_ACCESS_KEY") == []
    task_account = find(docs, "ServiceAccount", "-task")
    assert task_account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"
    }


def test_the_schema_refuses_s3_without_a_bucket_and_unknown_encryption() -> None:
    no_bucket = helm_template("ci/default-values.yaml", "--set", "artifacts.backend=s3")
    assert no_bucket.returncode != 0 and "bucket" in no_bucket.stderr
    bad_sse = helm_template("ci/s3-values.yaml", "--set", "artifacts.s3.sse=aes")
    assert bad_sse.returncode != 0 and "sse" in bad_sse.stderr
