"""The chart installed with the production values, as a platform team installs it (issue 12).

``test_helm_release.py`` installs ``values-dev.yaml``; this module installs
``charts/bookkeeper-jobs/values-prod.yaml`` **unchanged** (one ``helm install`` per module,
the project's helm), in a namespace of its own, after doing what the comments at the top of
that file tell a user to do first: the Secret ``bookkeeper-jobs-database`` (key
``database-url``, a fresh database on the test PostgreSQL, ``tests/postgres.py``) and the
Secret ``bookkeeper-jobs-auth`` (``api-keys`` from a JSON file, a strong ``secrets-key`` as
``openssl rand -base64 36`` makes one), both made with ``kubectl create secret generic`` (the
project's kubectl). The artifacts claim asks for the ``nfs-client`` class, ReadWriteMany,
50Gi: a ``hostPath`` PersistentVolume of that class (no ``claimRef``) stands in for what the
NFS provisioner would offer, and the real PV binder matches the claim to it.

The only value given beyond the file is ``crds.install=false``: the cluster has one
BookkeepingJob CRD, and here it is managed outside this release (by the session's dev
release, which adopted it and keeps it after its uninstall, or by ``crds/`` applied with the
``bookkeepingjobs_crd`` fixture when this module runs first or alone), as ``values.yaml``'s
``crds:`` comment tells a second release of the same cluster to do. Installing it again
would fail on helm's ownership check of the dev release's CRD. Everything else is
``values-prod.yaml``: ``environment: production`` (placeholder or short secrets stop the
pods), three API pods with a PodDisruptionBudget, two peering operator pods, the nginx
Ingress with TLS and the SSE annotations, the NetworkPolicies, and the migrations as a
**pre-install** hook (an existing auth Secret and an external database).

What a cluster would add and this one does not: no ingress controller (the Ingress is an
object only; the tests reach an API pod on the node agent's port), no network plugin (the
NetworkPolicies are checked to select the release's pods, not enforced), no disruption
controller (the budget's selector is checked, its status is never computed), no image
(``image.repository`` is ``registry.example.com/...``; the node agent runs the command with
the venv's ``bkjobs``, as for the dev release).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from bookkeeper_jobs.ledger.models import Base
from bookkeeper_jobs.operator.manifests import TASK_LABELS
from bookkeeper_jobs.resource import GROUP, PLURAL
from tests.cluster.conftest import HELM, unavailable
from tests.cluster.control_plane import ControlPlane
from tests.cluster.node_agent import NodeAgent
from tests.cluster.test_helm_release import (
    API_PORT,
    CHART,
    HELM_TIMEOUT,
    KUBECTL,
    JsonObject,
    Release,
    release_namespace,
)
from tests.support.jobs_http import accepted_job_id, follow_job, job_view
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

PROD_VALUES = CHART / "values-prod.yaml"
# values-prod.yaml's example name, the same as the session's dev release in another namespace:
# one release name per environment (namespace) on one cluster, as platform teams install it.
# The chart's cluster-scoped RBAC names carry the namespace, so the two never claim one
# ClusterRole (they did: found by this module).
RELEASE = "bkjobs"
NAMESPACE = "bkjobs-prod"
FULLNAME = f"{RELEASE}-bookkeeper-jobs"
DATABASE_SECRET = "bookkeeper-jobs-database"  # values-prod.yaml: database.existingSecret
AUTH_SECRET = "bookkeeper-jobs-auth"  # values-prod.yaml: auth.existingSecret
TENANT, COMPANY = "acme", "acme-co"
PV_NAME = f"{NAMESPACE}-nfs-artifacts"
CRD_NAME = f"{PLURAL}.{GROUP}"
# Environment variables that carry a secret: each must come from a Secret (secretKeyRef)
SECRET_VARIABLES = frozenset(
    {
        "BKJOBS_DATABASE_URL",
        "BKJOBS_SECRETS_KEY",
        "BKJOBS_API_KEYS",
        "BKJOBS_JWT_SECRET",
        "BKJOBS_QBO_CLIENT_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
)


@dataclass
class ProdRelease(Release):
    api_key: str = ""  # the one key of the auth Secret's `api-keys`
    secrets_key: str = ""
    artifacts: Path = field(default_factory=Path)  # the nfs-client PV's host directory
    values: JsonObject = field(default_factory=dict)  # values-prod.yaml as shipped

    def http(self, pod: JsonObject | None = None) -> httpx.Client:
        """A client of one API pod (the newest when ``pod`` is None), with the auth Secret's
        API key."""
        if pod is None:
            url = self.api_url()
        else:
            port = self.agent.port(self.namespace, pod["metadata"]["name"], API_PORT)
            url = f"http://127.0.0.1:{port}"
        return httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30
        )

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args[:3])}: {done.stderr}"
        return done

    def secret_values(self) -> list[str]:
        """Every value the user's Secrets hold (and the database password), none of which
        may be written in plain text into anything the release renders."""
        found = [self.database_url, self.api_key, self.secrets_key]
        for name in (DATABASE_SECRET, AUTH_SECRET):
            secret = self.get(f"/api/v1/namespaces/{self.namespace}/secrets/{name}")
            assert secret is not None
            found += [base64.b64decode(v).decode() for v in secret["data"].values()]
        password = make_url(self.database_url).password
        if password and len(password) >= 8:
            found.append(str(password))
        return sorted(set(found))

    def manifest(self) -> list[JsonObject]:
        """What helm applied for the release (``helm get manifest``)."""
        out = self.helm("get", "manifest", RELEASE).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def _persistent_volume(plane: ControlPlane, directory: Path) -> None:
    """What an NFS provisioner would offer the prod values' claim: class ``nfs-client``,
    ReadWriteMany, the claim's 50Gi. No ``claimRef``: the PV binder matches the claim to it
    by class, access mode and size."""
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": PV_NAME},
        "spec": {
            "storageClassName": "nfs-client",
            "capacity": {"storage": "50Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(directory), "type": "Directory"},
        },
    }
    status, answer = plane.request("POST", "/api/v1/persistentvolumes", body)
    assert status == 201, answer


@pytest.fixture(scope="module")
def prod(
    control_plane: ControlPlane,
    node_agent: NodeAgent,
    postgres_server_url: str,
    bookkeepingjobs_crd: JsonObject,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProdRelease]:
    if not HELM.exists() or not KUBECTL.exists():
        unavailable(f"{HELM} or {KUBECTL} missing: run `make tools`")
    with release_namespace(
        control_plane, postgres_server_url, NAMESPACE, f"bkjobs_prod_{os.getpid()}"
    ) as (kubeconfig, url):
        yield from _installed(control_plane, node_agent, kubeconfig, url, tmp_path_factory)


def _installed(
    control_plane: ControlPlane,
    node_agent: NodeAgent,
    kubeconfig: Path,
    url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProdRelease]:
    artifacts = Path(tempfile.mkdtemp(prefix="bkjobs-nfs-"))
    _persistent_volume(control_plane, artifacts)
    installed = ProdRelease(
        control_plane,
        node_agent,
        NAMESPACE,
        kubeconfig,
        url,
        api_key=secrets.token_urlsafe(32),
        secrets_key=base64.b64encode(os.urandom(36)).decode(),  # `openssl rand -base64 36`
        artifacts=artifacts,
        values=yaml.safe_load(PROD_VALUES.read_text()),
    )
    try:
        # The Secrets, made as the comments at the top of values-prod.yaml say
        installed.kubectl(
            "create", "secret", "generic", DATABASE_SECRET, f"--from-literal=database-url={url}"
        )
        keys_file = tmp_path_factory.mktemp("prod-auth") / "api-keys.json"
        keys_file.write_text(
            json.dumps({installed.api_key: {"tenant_id": TENANT, "company_ids": [COMPANY]}})
        )
        installed.kubectl(
            "create",
            "secret",
            "generic",
            AUTH_SECRET,
            f"--from-file=api-keys={keys_file}",
            f"--from-literal=secrets-key={installed.secrets_key}",
        )
        began = time.monotonic()
        installed.helm(
            "install",
            RELEASE,
            str(CHART),
            "-f",
            str(PROD_VALUES),
            # The cluster's one BookkeepingJob CRD is managed outside this release (the dev
            # release of this session owns it, or the test applied crds/): values.yaml's
            # `crds:` comment, for every release but the one that manages the CRD.
            "--set",
            "crds.install=false",
            "--wait=watcher",
            "--timeout",
            HELM_TIMEOUT,
        )
        installed.install_seconds = time.monotonic() - began
        yield installed
    finally:
        subprocess.run(
            [str(HELM), "uninstall", RELEASE, "-n", NAMESPACE, "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            timeout=300,
            check=False,
        )
        control_plane.request("DELETE", f"/api/v1/persistentvolumes/{PV_NAME}")
        shutil.rmtree(artifacts, ignore_errors=True)


def _selects(selector: JsonObject, labels: dict[str, str]) -> bool:
    """Whether a label selector (``matchLabels``, ``matchExpressions`` with In/NotIn/Exists/
    DoesNotExist) selects an object with ``labels``."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present, value = key in labels, labels.get(key)
        if operator == "In":
            matched = present and value in values
        elif operator == "NotIn":
            matched = not present or value not in values
        else:
            matched = present == (operator == "Exists")
        if not matched:
            return False
    return True


def _within(rendered: Any, live: Any, where: str = "") -> list[str]:
    """Where ``live`` differs from ``rendered`` (every rendered field kept; the server may add
    defaults, and drops an empty list: ``ingress: []`` is stored as no field)."""
    if rendered == [] and live is None:
        return []
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            return [f"{where}: {live!r} is not a mapping"]
        return [
            problem
            for key, value in rendered.items()
            for problem in _within(value, live.get(key), f"{where}.{key}")
        ]
    if isinstance(rendered, list):
        if not isinstance(live, list) or len(live) != len(rendered):
            return [f"{where}: {live!r} != {rendered!r}"]
        return [
            problem
            for index, (r, v) in enumerate(zip(rendered, live, strict=True))
            for problem in _within(r, v, f"{where}[{index}]")
        ]
    return [] if rendered == live else [f"{where}: {live!r} != {rendered!r}"]


def _env_problems(pod_spec: JsonObject, secret_values: list[str], what: str) -> list[str]:
    """Secrets in a pod spec's env other than through ``secretKeyRef``."""
    problems = []
    containers = [*pod_spec.get("initContainers", []), *pod_spec["containers"]]
    for container in containers:
        where = f"{what} container {container['name']}"
        if container.get("envFrom"):
            problems.append(f"{where}: envFrom {container['envFrom']}")
        for env in container.get("env") or []:
            if env["name"] in SECRET_VARIABLES and (
                "value" in env or "secretKeyRef" not in (env.get("valueFrom") or {})
            ):
                problems.append(f"{where}: {env['name']} is not a secretKeyRef: {env}")
            plain = str(env.get("value", ""))
            problems += [
                f"{where}: {env['name']} holds a secret in plain text"
                for secret in secret_values
                if secret in plain
            ]
        words = " ".join([*container.get("command", []), *container.get("args", [])])
        problems += [f"{where}: a secret in its command" for s in secret_values if s in words]
    return problems


def test_the_pre_install_hook_migrated_the_external_database_and_the_nfs_claim_bound(
    prod: ProdRelease,
) -> None:
    # The migrations hook is pre-install with these values (an existing auth Secret, no
    # chart PostgreSQL): its Job ran on the node before any Deployment existed
    migrations = [
        w for w in prod.agent.pods(NAMESPACE) if w.name.startswith(f"{FULLNAME}-migrate-")
    ]
    assert migrations and migrations[-1].phase == "Succeeded", prod.agent.dump_logs(NAMESPACE)
    assert prod.get(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{FULLNAME}-migrate") is None
    first_api = min(
        pod["metadata"]["creationTimestamp"] for pod in prod.pods("api") + prod.pods("operator")
    )
    hook = migrations[-1].pod
    assert hook["metadata"]["creationTimestamp"] <= first_api
    assert hook["spec"]["automountServiceAccountToken"] is False
    hooks = [doc for doc in yaml.safe_load_all(prod.helm("get", "hooks", RELEASE).stdout) if doc]
    (migrate,) = [doc for doc in hooks if doc["kind"] == "Job"]
    assert migrate["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert not _env_problems(
        migrate["spec"]["template"]["spec"], prod.secret_values(), "the migrations hook"
    )

    # The ledger is on the external database the user's Secret names
    engine = create_engine(prod.database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "alembic_version" in tables
    assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables

    # The artifacts claim got the nfs-client PV from the real PV binder
    claim = prod.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{FULLNAME}-artifacts")
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "nfs-client"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["volumeName"] == PV_NAME
    volume = prod.get(f"/api/v1/persistentvolumes/{PV_NAME}")
    assert volume is not None
    assert volume["spec"]["claimRef"]["name"] == f"{FULLNAME}-artifacts"
    assert volume["status"]["phase"] == "Bound"


def test_three_api_and_two_operator_pods_run_under_their_service_accounts(
    prod: ProdRelease,
) -> None:
    for component, replicas in (("api", 3), ("operator", 2)):
        deployment = prod.get(
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{FULLNAME}-{component}"
        )
        assert deployment is not None
        assert deployment["spec"]["replicas"] == replicas
        assert deployment["status"].get("availableReplicas") == replicas, deployment["status"]
        pods = prod.pods(component)
        assert len(pods) == replicas
        for pod in pods:
            assert pod["spec"]["serviceAccountName"] == f"{FULLNAME}-{component}"
            assert pod["status"]["phase"] == "Running"
            image = prod.values["image"]  # the node agent runs the command, not the image
            assert pod["spec"]["containers"][0]["image"] == f"{image['repository']}:{image['tag']}"
            worker = prod.worker(pod)
            assert worker.mounts.get("/var/run/secrets/kubernetes.io/serviceaccount")
            # every pod shares the one ReadWriteMany volume
            assert worker.mounts.get("/data") == prod.artifacts, worker.mounts
            env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
            assert env["BKJOBS_ENVIRONMENT"]["value"] == "production"

    # The operators run under the chart's namespaced Role: nothing refused, and they peer
    prod.require_a_running_operator(uptime=5.0)
    for pod in prod.pods("operator"):
        log = prod.worker(pod).logs()
        assert "Initial authentication has finished" in log, log[-4000:]
        assert "Forbidden" not in log and "forbidden" not in log, log[-4000:]
    peering = prod.get(f"/apis/kopf.dev/v1/namespaces/{NAMESPACE}/kopfpeerings/bookkeeper-jobs")
    assert peering is not None
    peers = {
        name for name, entry in (peering.get("status") or {}).items() if isinstance(entry, dict)
    }
    assert peers >= {pod["metadata"]["name"] for pod in prod.pods("operator")}, peers

    # Each API pod is ready: it synced its watch cache under its own account, in production
    # mode with the user's key and secrets key (a weak one would have stopped it)
    for pod in prod.pods("api"):
        with prod.http(pod) as http:
            assert http.get("/readyz").status_code == 200
            listing = f"/api/jobs/company/{COMPANY}"
            assert http.get(listing, params={"limit": 1}).status_code == 200
        with httpx.Client(base_url=str(http.base_url), timeout=30) as anonymous:
            assert anonymous.get(listing).status_code == 401


def test_ingress_network_policies_and_disruption_budget_are_as_rendered(prod: ProdRelease) -> None:
    values = prod.values
    rendered = {(doc["kind"], doc["metadata"]["name"]): doc for doc in prod.manifest()}
    paths = {
        (
            "Ingress",
            f"{FULLNAME}-api",
        ): f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses",
        (
            "NetworkPolicy",
            f"{FULLNAME}-api",
        ): f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies",
        (
            "NetworkPolicy",
            f"{FULLNAME}-workers",
        ): f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies",
        (
            "PodDisruptionBudget",
            f"{FULLNAME}-api",
        ): f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets",
        ("Service", f"{FULLNAME}-api"): f"/api/v1/namespaces/{NAMESPACE}/services",
    }
    live: dict[tuple[str, str], JsonObject] = {}
    for key, collection in paths.items():
        assert key in rendered, sorted(rendered)
        found = prod.get(f"{collection}/{key[1]}")
        assert found is not None, key
        live[key] = found
        problems = _within(rendered[key]["spec"], found["spec"], key[0])
        problems += _within(rendered[key]["metadata"].get("labels"), found["metadata"]["labels"])
        assert not problems, problems
    # only the chart's PostgreSQL would have a third policy; prod has none
    assert sorted(k for k in rendered if k[0] == "NetworkPolicy") == sorted(
        k for k in paths if k[0] == "NetworkPolicy"
    )

    # The Ingress: class nginx, the host with TLS, the annotations for long SSE streams
    ingress = live[("Ingress", f"{FULLNAME}-api")]
    wanted = values["api"]["ingress"]
    assert ingress["spec"]["ingressClassName"] == wanted["className"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": [wanted["host"]], "secretName": wanted["tlsSecret"]}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == wanted["host"] == "jobs.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"] == {"name": f"{FULLNAME}-api", "port": {"name": "http"}}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    # the backend Service has the port the Ingress names, onto the API's container port
    service = live[("Service", f"{FULLNAME}-api")]
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["targetPort"]) == ("http", "http")
    assert _selects(
        {"matchLabels": service["spec"]["selector"]}, prod.pods("api")[0]["metadata"]["labels"]
    )

    api_pods, operator_pods = prod.pods("api"), prod.pods("operator")
    assert len(api_pods) == 3 and len(operator_pods) == 2

    # NetworkPolicy of the API: its HTTP port, from the ingress-nginx namespace only; it
    # selects the three API pods and no other
    api_policy = live[("NetworkPolicy", f"{FULLNAME}-api")]["spec"]
    assert api_policy["policyTypes"] == ["Ingress"]
    (allowed,) = api_policy["ingress"]
    assert allowed["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert allowed["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    assert values["networkPolicy"]["allowedNamespaces"] == ["ingress-nginx"]
    assert all(_selects(api_policy["podSelector"], p["metadata"]["labels"]) for p in api_pods)
    assert not any(
        _selects(api_policy["podSelector"], p["metadata"]["labels"]) for p in operator_pods
    )
    # ... and of the workers: no ingress at all, for the operator pods (and task pods, whose
    # labels the operator sets: manifests.TASK_LABELS), not for the API pods
    workers = live[("NetworkPolicy", f"{FULLNAME}-workers")]["spec"]
    assert workers["policyTypes"] == ["Ingress"] and not workers.get("ingress")
    assert all(_selects(workers["podSelector"], p["metadata"]["labels"]) for p in operator_pods)
    assert _selects(workers["podSelector"], TASK_LABELS)
    assert not any(_selects(workers["podSelector"], p["metadata"]["labels"]) for p in api_pods)

    # The budget: one API pod down at a time, over exactly the three API pods
    budget = live[("PodDisruptionBudget", f"{FULLNAME}-api")]["spec"]
    assert budget["maxUnavailable"] == values["api"]["podDisruptionBudget"]["maxUnavailable"] == 1
    assert all(_selects(budget["selector"], p["metadata"]["labels"]) for p in api_pods)
    assert not any(_selects(budget["selector"], p["metadata"]["labels"]) for p in operator_pods)


def test_a_job_submitted_over_http_completes_through_the_operator_and_a_task_pod(
    prod: ProdRelease,
) -> None:
    """The key is the one in the user's auth Secret; the job is submitted to one API pod,
    the acting operator creates its Job, the real Job controller a pod, the node runs the
    product's task in it (production mode, the secrets key and database URL from the user's
    Secrets), and every API pod then answers `complete` from its own watch cache."""
    secret = prod.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{AUTH_SECRET}")
    assert secret is not None
    keys = json.loads(base64.b64decode(secret["data"]["api-keys"]))
    (key,) = keys
    assert key == prod.api_key and keys[key]["tenant_id"] == TENANT
    prod.require_a_running_operator()

    first, *others = prod.pods("api")
    with prod.http(first) as http:
        job_id = accepted_job_id(
            http.post("/api/jobs/categorize", json={"company_id": COMPANY, "tenant_id": TENANT})
        )
        try:
            job = follow_job(http, job_id, timeout=240, interval=1.0).view
        except AssertionError as error:
            raise AssertionError(f"{error}\n{prod.agent.dump_logs(NAMESPACE)[-8000:]}") from None
    assert job["status"] == "complete", f"{job}\n{prod.agent.dump_logs(NAMESPACE)[-8000:]}"
    for pod in others:
        with prod.http(pod) as http:
            view = wait_until(
                lambda h=http: (v := job_view(h, job_id))["status"] == "complete" and v,
                timeout=60,
                what=f"job {job_id} complete on {pod['metadata']['name']}",
            )
            assert (view["id"], view["result"]) == (job_id, job["result"])

    # the task ran in a pod of a batch/v1 Job, under the task account, on the shared volume;
    # the task reports `complete` itself, its pod ends and the Job controller counts it
    # moments later
    task_jobs = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    (task_job,) = wait_until(
        lambda: (
            (jobs := (prod.get(task_jobs) or {}).get("items", []))
            and all(j["status"].get("succeeded") == 1 for j in jobs)
            and jobs
        ),
        timeout=60,
        what="the task Job to succeed",
    )
    assert any(
        c["type"] == "Complete" and c["status"] == "True" for c in task_job["status"]["conditions"]
    )
    (task,) = (
        prod.get(
            f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app.kubernetes.io/component%3Dtask"
        )
        or {}
    ).get("items", [])
    assert task["spec"]["serviceAccountName"] == f"{FULLNAME}-task"
    assert task["status"]["phase"] == "Succeeded"
    assert task["metadata"]["ownerReferences"][0]["name"] == task_job["metadata"]["name"]
    assert task_job["metadata"]["ownerReferences"][0]["kind"] == "BookkeepingJob"
    worker = prod.worker(task)
    assert worker.mounts.get("/data") == prod.artifacts, worker.mounts
    env = {e["name"]: e for e in task["spec"]["containers"][0]["env"]}
    assert env["BKJOBS_ENVIRONMENT"]["value"] == "production"
    assert env["BKJOBS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": DATABASE_SECRET,
        "key": "database-url",
    }
    assert env["BKJOBS_SECRETS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": AUTH_SECRET,
        "key": "secrets-key",
    }


def test_secrets_reach_the_pods_only_through_secret_key_refs(prod: ProdRelease) -> None:
    """No value of the user's Secrets is written into anything the release made: not in a
    pod's env (the API, operator and task pods as the API server has them; every variable
    carrying a secret is a ``secretKeyRef`` to the user's Secrets), not in the Deployments' or
    Jobs' templates (the operator's ``BKJOBS_TASK_TEMPLATE`` included), not in what helm
    stored for the release (``helm get manifest``, ``get values --all``)."""
    secret_values = prod.secret_values()
    assert len(secret_values) >= 3
    pods = (prod.get(f"/api/v1/namespaces/{NAMESPACE}/pods") or {}).get("items", [])
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"api", "operator"} <= components, components
    problems: list[str] = []
    for pod in pods:
        problems += _env_problems(pod["spec"], secret_values, f"pod {pod['metadata']['name']}")
    for kind, path in (
        ("Deployment", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
        ("Job", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
    ):
        for item in (prod.get(path) or {}).get("items", []):
            what = f"{kind} {item['metadata']['name']}"
            problems += _env_problems(item["spec"]["template"]["spec"], secret_values, what)
            problems += [f"{what}: a secret in it" for s in secret_values if s in json.dumps(item)]
    assert not problems, problems

    api_env = {e["name"]: e for e in prod.pods("api")[0]["spec"]["containers"][0]["env"]}
    refs = {
        name: api_env[name]["valueFrom"]["secretKeyRef"]
        for name in ("BKJOBS_DATABASE_URL", "BKJOBS_SECRETS_KEY", "BKJOBS_API_KEYS")
    }
    assert refs == {
        "BKJOBS_DATABASE_URL": {"name": DATABASE_SECRET, "key": "database-url"},
        "BKJOBS_SECRETS_KEY": {"name": AUTH_SECRET, "key": "secrets-key"},
        "BKJOBS_API_KEYS": {"name": AUTH_SECRET, "key": "api-keys", "optional": True},
    }
    operator_env = {e["name"]: e for e in prod.pods("operator")[0]["spec"]["containers"][0]["env"]}
    template = json.loads(operator_env["BKJOBS_TASK_TEMPLATE"]["value"])
    assert (template["database_secret"], template["secrets_key_secret"]) == (
        DATABASE_SECRET,
        AUTH_SECRET,
    )
    assert "BKJOBS_API_KEYS" not in operator_env  # only the API reads the keys

    stored = prod.helm("get", "manifest", RELEASE).stdout
    stored += prod.helm("get", "values", RELEASE, "--all", "-o", "json").stdout
    stored += prod.helm("get", "hooks", RELEASE).stdout
    assert not [s for s in secret_values if s in stored]
    # helm made no Secret in the release: both are the user's
    assert not [doc for doc in prod.manifest() if doc["kind"] == "Secret"]


def test_helm_uninstall_removes_the_release_and_leaves_the_users_data(prod: ProdRelease) -> None:
    prod.uninstall()
    for path in (
        f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{FULLNAME}-api",
        f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{FULLNAME}-api",
        f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/{FULLNAME}-api",
        f"/api/v1/namespaces/{NAMESPACE}/services/{FULLNAME}-api",
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{FULLNAME}-operator",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{NAMESPACE}-{FULLNAME}-operator-cluster",
        f"/apis/kopf.dev/v1/namespaces/{NAMESPACE}/kopfpeerings/bookkeeper-jobs",
    ):
        assert prod.get(path) is None, path
    # the files claim stays (helm.sh/resource-policy: keep), still on its volume
    claim = prod.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{FULLNAME}-artifacts")
    assert claim is not None and claim["status"]["phase"] == "Bound"
    # the user's Secrets were never the release's, and the CRD (crds.install=false) neither
    for name in (DATABASE_SECRET, AUTH_SECRET):
        assert prod.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}") is not None
    crd = prod.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    assert crd is not None
    annotations = crd["metadata"].get("annotations") or {}
    assert annotations.get("meta.helm.sh/release-namespace") != NAMESPACE
    listed = json.loads(prod.helm("list", "-o", "json").stdout)
    assert not [r for r in listed if r["name"] == RELEASE]
