"""build_job_manifest: the child Job of a BookkeepingJob, built without touching a cluster."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client import ApiClient, V1Job
from pydantic import ValidationError

from bookkeeper_jobs.jobs import BulkApproveSpec
from bookkeeper_jobs.lifecycle import TaskExit
from bookkeeper_jobs.operator.context import job_template
from bookkeeper_jobs.operator.manifests import (
    MAX_JOB_NAME,
    JobTemplateConfig,
    build_job_manifest,
    job_name,
)
from bookkeeper_jobs.resource import LABEL_COMPANY, LABEL_NAME, LABEL_TYPE, spec_to_resource
from bookkeeper_jobs.settings import Settings

NAME = "job-0123456789abcdef0123"


def resource(**spec_fields: Any) -> dict[str, Any]:
    body = spec_to_resource(
        BulkApproveSpec(company_id="acme:eu", tenant_id="t1", transaction_ids=["tx-1"]),
        job_id=NAME,
        namespace="books",
    )
    body["spec"].update(spec_fields)
    body["metadata"].update(uid="1234", resourceVersion="7", generation=1)
    return body


def config(**fields: Any) -> JobTemplateConfig:
    return JobTemplateConfig(image="registry.example/bookkeeper-jobs:1.0", **fields)


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    [task] = pod_spec(manifest)["containers"]
    assert task["name"] == "task"
    return task


def test_identity_and_no_owner_references() -> None:
    manifest = build_job_manifest(resource(), config())
    assert manifest["apiVersion"] == "batch/v1"
    assert manifest["kind"] == "Job"
    assert manifest["metadata"]["name"] == f"{NAME}-run"
    assert manifest["metadata"]["namespace"] == "books"
    assert "ownerReferences" not in manifest["metadata"]  # kopf.adopt adds them


def test_labels_are_copied_to_the_job_and_its_pods() -> None:
    body = resource()
    manifest = build_job_manifest(body, config())
    labels = manifest["metadata"]["labels"]
    for key, value in body["metadata"]["labels"].items():
        assert labels[key] == value
    assert labels[LABEL_TYPE] == "bulk-approve"
    assert labels[LABEL_COMPANY].startswith("h-")
    assert labels[LABEL_NAME] == NAME
    assert labels["app.kubernetes.io/component"] == "task"
    assert manifest["spec"]["template"]["metadata"]["labels"] == labels
    assert manifest["spec"]["template"]["metadata"]["labels"] is not labels


def test_retry_deadline_and_ttl_come_from_the_config_by_default() -> None:
    spec = build_job_manifest(
        resource(),
        config(backoff_limit=4, active_deadline_seconds=900, ttl_seconds_after_finished=120),
    )["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (4, 900)
    assert spec["ttlSecondsAfterFinished"] == 120
    assert (spec["completions"], spec["parallelism"]) == (1, 1)


def test_the_resource_spec_wins_over_the_config() -> None:
    body = resource(backoffLimit=0, activeDeadlineSeconds=60, ttlSecondsAfterFinished=0)
    spec = build_job_manifest(body, config())["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 60)
    assert spec["ttlSecondsAfterFinished"] == 0


def test_defaults_follow_the_settings() -> None:
    settings = Settings(job_max_attempts=4, job_timeout=300, job_ttl=3600)
    derived = JobTemplateConfig.from_settings(settings, image="img:1")
    assert derived.backoff_limit == 3
    assert derived.active_deadline_seconds == 1200
    assert derived.ttl_seconds_after_finished == 3600
    assert JobTemplateConfig.from_settings(settings, image="i", backoff_limit=0).backoff_limit == 0


def test_pod_runs_the_task_once_as_the_task_service_account() -> None:
    manifest = build_job_manifest(resource(), config(image_pull_secrets=("regcred",)))
    pod = pod_spec(manifest)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "bookkeeper-jobs-task"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    task = container(manifest)
    assert task["image"] == "registry.example/bookkeeper-jobs:1.0"
    assert task["command"] == ["bkjobs", "task", "run", "--job", f"books/{NAME}"]


def test_env_has_the_data_dir_the_database_secret_and_extra_variables() -> None:
    manifest = build_job_manifest(
        resource(),
        config(
            env={"BKJOBS_ENVIRONMENT": "production", "BKJOBS_DATA_DIR": "/elsewhere"},
            database_secret="db",
            database_secret_key="url",
        ),
    )
    assert container(manifest)["env"] == [
        {"name": "BKJOBS_DATA_DIR", "value": "/data"},
        {"name": "BKJOBS_JOB_MAX_ATTEMPTS", "value": "3"},
        {
            "name": "BKJOBS_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}},
        },
        {"name": "BKJOBS_ENVIRONMENT", "value": "production"},
    ]
    assert "value" not in container(manifest)["env"][2]  # never the URL itself


def test_the_task_knows_its_attempts_from_the_jobs_backoff_limit() -> None:
    """The task gives up on its last attempt itself (backoffLimit + 1 pods run at most)."""
    for spec_limit, attempts in ((None, "3"), (0, "1"), (5, "6")):
        manifest = build_job_manifest(resource(backoffLimit=spec_limit), config())
        env = {item["name"]: item.get("value") for item in container(manifest)["env"]}
        assert manifest["spec"]["backoffLimit"] + 1 == int(attempts)
        assert env["BKJOBS_JOB_MAX_ATTEMPTS"] == attempts


def test_without_a_database_secret_no_database_url_is_set() -> None:
    env = container(build_job_manifest(resource(), config(database_secret=None)))["env"]
    assert [item["name"] for item in env] == ["BKJOBS_DATA_DIR", "BKJOBS_JOB_MAX_ATTEMPTS"]


def test_the_secrets_key_comes_from_its_secret_never_as_a_value() -> None:
    """The task decrypts what the API encrypted: the same Secret's key, by reference."""
    manifest = build_job_manifest(
        resource(),
        config(
            database_secret="db",
            secrets_key_secret="bkjobs-secrets-key",
            secrets_key_secret_key="key",
            env={"BKJOBS_ENVIRONMENT": "production"},
        ),
    )
    env = container(manifest)["env"]
    [secrets_key] = [item for item in env if item["name"] == "BKJOBS_SECRETS_KEY"]
    assert secrets_key == {
        "name": "BKJOBS_SECRETS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "bkjobs-secrets-key", "key": "key"}},
    }
    assert [item["name"] for item in env] == [
        "BKJOBS_DATA_DIR",
        "BKJOBS_JOB_MAX_ATTEMPTS",
        "BKJOBS_DATABASE_URL",
        "BKJOBS_SECRETS_KEY",
        "BKJOBS_ENVIRONMENT",
    ]


def test_the_secrets_key_key_defaults_to_the_charts_name() -> None:
    env = container(build_job_manifest(resource(), config(secrets_key_secret="keys")))["env"]
    [secrets_key] = [item for item in env if item["name"] == "BKJOBS_SECRETS_KEY"]
    assert secrets_key["valueFrom"]["secretKeyRef"] == {"name": "keys", "key": "secrets-key"}


def test_without_a_secrets_key_secret_no_secrets_key_is_set() -> None:
    env = container(build_job_manifest(resource(), config()))["env"]
    assert "BKJOBS_SECRETS_KEY" not in {item["name"] for item in env}


def test_a_literal_secrets_key_in_env_is_refused() -> None:
    with pytest.raises(ValidationError, match="BKJOBS_SECRETS_KEY cannot be a literal"):
        config(env={"BKJOBS_SECRETS_KEY": "s" * 48})


def test_the_operator_reads_the_secrets_key_secret_from_its_task_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the chart passes it: JSON in BKJOBS_TASK_TEMPLATE, read through the settings."""
    template = {"image": "i:1", "secrets_key_secret": "keys", "secrets_key_secret_key": "k"}
    monkeypatch.setenv("BKJOBS_TASK_TEMPLATE", json.dumps(template))
    loaded = job_template(Settings(environment="test"))
    assert (loaded.secrets_key_secret, loaded.secrets_key_secret_key) == ("keys", "k")


def test_resources_and_volumes() -> None:
    manifest = build_job_manifest(
        resource(),
        config(
            resources={"requests": {"cpu": "50m"}, "limits": {"memory": "512Mi"}},
            artifacts_claim="files",
        ),
    )
    task = container(manifest)
    assert task["resources"] == {"requests": {"cpu": "50m"}, "limits": {"memory": "512Mi"}}
    assert {"name": "data", "mountPath": "/data"} in task["volumeMounts"]
    assert {"name": "tmp", "mountPath": "/tmp"} in task["volumeMounts"]
    volumes = {v["name"]: v for v in pod_spec(manifest)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "files"}
    assert "emptyDir" in volumes["tmp"]


def test_without_a_claim_only_tmp_is_mounted() -> None:
    manifest = build_job_manifest(resource(), config(artifacts_claim=None))
    assert [v["name"] for v in pod_spec(manifest)["volumes"]] == ["tmp"]
    assert [m["name"] for m in container(manifest)["volumeMounts"]] == ["tmp"]


def test_security_context_is_restricted() -> None:
    manifest = build_job_manifest(resource(), config())
    assert container(manifest)["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = pod_spec(manifest)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_final_exit_code_fails_the_job_without_retry() -> None:
    rules = build_job_manifest(resource(), config())["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "task", "operator": "In", "values": [TaskExit.FINAL]},
    }
    assert rules[1] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert TaskExit.FINAL == 3
    spec = build_job_manifest(resource(), config(pod_failure_policy=False))["spec"]
    assert "podFailurePolicy" not in spec


def test_the_same_input_builds_the_same_manifest() -> None:
    body = resource()
    before = copy.deepcopy(body)
    first = build_job_manifest(body, config())
    assert build_job_manifest(copy.deepcopy(body), config()) == first
    assert body == before  # the input is not modified


@pytest.mark.parametrize("name", ["a" * 63, "b" * 253, "x.y.z", "j-" + "c" * 58])
def test_job_names_fit_the_label_limit(name: str) -> None:
    built = job_name(name)
    assert len(built) <= MAX_JOB_NAME
    assert built.endswith("-run")
    assert "." not in built
    assert built == job_name(name)


def test_long_names_that_share_a_prefix_stay_distinct() -> None:
    assert job_name("d" * 100 + "1") != job_name("d" * 100 + "2")
    assert job_name("x.y") != job_name("x-y")
    assert job_name(NAME) == f"{NAME}-run"


def test_long_resource_names_get_a_valid_name_label() -> None:
    body = resource()
    body["metadata"]["name"] = "n" * 200
    labels = build_job_manifest(body, config())["metadata"]["labels"]
    assert len(labels[LABEL_NAME]) <= 63


def test_a_bad_spec_is_refused() -> None:
    with pytest.raises(ValidationError):
        build_job_manifest(resource(backoffLimit=-1), config())


def test_the_manifest_deserializes_into_the_official_model() -> None:
    manifest = build_job_manifest(resource(), config())
    job = ApiClient()._ApiClient__deserialize(manifest, "V1Job")
    assert isinstance(job, V1Job)
    assert job.metadata.name == f"{NAME}-run"
    assert job.spec.pod_failure_policy.rules[0].on_exit_codes.values == [TaskExit.FINAL]
    task = job.spec.template.spec.containers[0]
    assert task.env[2].value_from.secret_key_ref.name == "bookkeeper-jobs-database"
    assert task.security_context.capabilities.drop == ["ALL"]
    # nothing was dropped on the way: serializing gives the manifest back
    assert ApiClient().sanitize_for_serialization(job) == manifest
