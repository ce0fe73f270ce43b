"""Pure builders of the child ``batch/v1`` Job that runs one BookkeepingJob.

:func:`build_job_manifest` takes the resource (as kopf hands it over) and a
:class:`JobTemplateConfig` and returns a plain dict: no API calls, no clock, no randomness,
so a second reconcile builds the same Job and its create is a 409, never a duplicate.
Owner references are not set here: the handler adds them with ``kopf.adopt``.

Exit codes of ``bkjobs task run`` (:class:`~bookkeeper_jobs.lifecycle.TaskExit`) and what
the Job does with them (``podFailurePolicy``):

- ``DONE`` (0): the task recorded its ending (complete, cancelled); the Job succeeds.
- ``FINAL`` (3): the task recorded ``failed`` (a ``FatalTaskError``, or a retryable error
  on its last attempt): another attempt cannot help, so the policy fails the whole Job at
  once instead of spending its ``backoffLimit``, even if that status write was lost.
- anything else (``RETRY`` after a ``RetryableTaskError``, a crash, OOM): the pod counts
  against ``backoffLimit`` and the Job controller starts another one after its backoff
  delay. The pod's ``BKJOBS_JOB_MAX_ATTEMPTS`` is ``backoffLimit`` + 1, so the task knows
  which attempt is its last.
- a pod stopped by a disruption (eviction, preemption, node drain; condition
  ``DisruptionTarget``) is ignored: it is retried without counting as a failure.

``activeDeadlineSeconds`` bounds all attempts together and wins over ``backoffLimit``
(the Job then fails with reason ``DeadlineExceeded``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bookkeeper_jobs.lifecycle import TaskExit
from bookkeeper_jobs.resource import (
    ANNOTATION_CREATED,
    LABEL_NAME,
    BookkeepingJobSpec,
    label_value,
)
from bookkeeper_jobs.settings import Settings

CONTAINER_NAME = "task"
JOB_NAME_SUFFIX = "-run"
MAX_JOB_NAME = 63  # Job names end up in pod labels (job-name), which allow 63 characters
TASK_LABELS = {
    "app.kubernetes.io/part-of": "bookkeeper-jobs",
    "app.kubernetes.io/component": "task",
    "app.kubernetes.io/managed-by": "bookkeeper-jobs-operator",
}
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


class JobTemplateConfig(BaseModel):
    """What every child Job shares; set once when the operator starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = Field(min_length=1)
    """The task image (the project's image: it has the ``bkjobs`` entry point)."""

    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()

    service_account: str = "bookkeeper-jobs-task"
    """May only get bookkeepingjobs and patch bookkeepingjobs/status (the chart's task Role)."""

    backoff_limit: int = Field(default=2, ge=0)
    """Retries when the resource sets none: ``job_max_attempts - 1`` (three attempts)."""

    active_deadline_seconds: int = Field(default=1800, ge=1)
    """Seconds for all attempts together when the resource sets none."""

    ttl_seconds_after_finished: int = Field(default=86_400, ge=0)
    """Seconds a finished Job (and its pods' logs) is kept when the resource sets none."""

    resources: Mapping[str, Mapping[str, str]] = Field(
        default_factory=lambda: {kind: dict(values) for kind, values in DEFAULT_RESOURCES.items()}
    )
    """The task container's ``requests`` and ``limits``."""

    artifacts_claim: str | None = "bookkeeper-jobs-artifacts"
    """The PersistentVolumeClaim (ReadWriteMany) shared with the API for uploaded files;
    ``None`` mounts none (the S3 artifact store: ``BKJOBS_ARTIFACTS_BACKEND=s3`` in env)."""

    data_dir: str = "/data"
    """Where the claim is mounted; the task's ``BKJOBS_DATA_DIR`` (artifacts below it)."""

    s3_credentials_secret: str | None = None
    """A Secret with ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` for the S3 artifact
    store; ``None`` leaves boto3 to the pod's identity (IRSA, EKS Pod Identity)."""

    database_secret: str | None = "bookkeeper-jobs-database"
    """The Secret holding the ledger's URL; ``None`` leaves the ledger at its SQLite default."""

    database_secret_key: str = "database-url"

    secrets_key_secret: str | None = None
    """The Secret holding ``BKJOBS_SECRETS_KEY``, which decrypts the stored credentials
    (QuickBooks tokens): the API's Secret and key, as the task must read what the API
    encrypted. ``None`` sets no key (production then refuses to start the task)."""

    secrets_key_secret_key: str = "secrets-key"

    env: Mapping[str, str] = Field(default_factory=dict)
    """More ``BKJOBS_*`` variables for the task (sorted into the manifest). Never
    ``BKJOBS_SECRETS_KEY``: a key written here would be readable in every Job manifest."""

    run_as_user: int = Field(default=10001, ge=1)
    """A numeric non-root user, so ``runAsNonRoot`` can be checked without the image."""

    pod_failure_policy: bool = True
    """Fail the Job at once on ``TaskExit.FINAL``; ignore disruptions (see above)."""

    max_running: int = Field(default=50, ge=1)
    """Task Jobs of the namespace running at once; more wait suspended (``operator/
    admission.py``), so a burst of submissions cannot exhaust the database's connections."""

    max_running_per_tenant: int = Field(default=20, ge=1)
    """Task Jobs of one tenant running at once, so one tenant's burst cannot starve others."""

    priorities: dict[str, int] = Field(default_factory=dict)
    """Resume order among one tenant's waiting Jobs by job type, higher first."""

    kueue_queue: str | None = Field(default=None, max_length=63)
    """A Kueue LocalQueue: Jobs are created suspended with its ``kueue.x-k8s.io/queue-name``
    label and Kueue admits them by quota (the two limits above then do not apply)."""

    @field_validator("env")
    @classmethod
    def _no_literal_secrets_key(cls, env: Mapping[str, str]) -> Mapping[str, str]:
        if "BKJOBS_SECRETS_KEY" in env:
            raise ValueError(
                "BKJOBS_SECRETS_KEY cannot be a literal in env: name its Secret in "
                "secrets_key_secret (and secrets_key_secret_key)"
            )
        return env

    @classmethod
    def from_settings(cls, settings: Settings, **fields: Any) -> JobTemplateConfig:
        """Defaults from the shared settings: the same retries, deadline and TTL as embedded
        mode (the deadline covers every attempt, so it is the timeout times the attempts)."""
        derived: dict[str, Any] = {
            "max_running": settings.max_running_jobs,
            "max_running_per_tenant": settings.max_running_jobs_per_tenant,
            "priorities": settings.job_type_priorities,
            "kueue_queue": settings.kueue_queue_name or None,
            "backoff_limit": settings.job_max_attempts - 1,
            "active_deadline_seconds": math.ceil(settings.job_timeout * settings.job_max_attempts),
            "ttl_seconds_after_finished": math.ceil(settings.job_ttl),
        }
        return cls(**{**derived, **fields})


def job_name(resource_name: str) -> str:
    """``<resource name>-run``; names too long for that are cut and get a hash suffix."""
    base = resource_name.replace(".", "-")
    if len(base) + len(JOB_NAME_SUFFIX) <= MAX_JOB_NAME and base == resource_name:
        return base + JOB_NAME_SUFFIX
    digest = hashlib.sha256(resource_name.encode()).hexdigest()[:8]
    keep = MAX_JOB_NAME - len(JOB_NAME_SUFFIX) - len(digest) - 1
    return f"{base[:keep].rstrip('-')}-{digest}{JOB_NAME_SUFFIX}"


def _labels(resource: Mapping[str, Any]) -> dict[str, str]:
    metadata = resource["metadata"]
    return {
        **(metadata.get("labels") or {}),
        **TASK_LABELS,
        LABEL_NAME: label_value(metadata["name"]),
    }


def _env(config: JobTemplateConfig, backoff_limit: int) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "BKJOBS_DATA_DIR", "value": config.data_dir},
        {"name": "BKJOBS_JOB_MAX_ATTEMPTS", "value": str(backoff_limit + 1)},
    ]
    if config.database_secret is not None:
        secret_ref = {"name": config.database_secret, "key": config.database_secret_key}
        env.append({"name": "BKJOBS_DATABASE_URL", "valueFrom": {"secretKeyRef": secret_ref}})
    if config.secrets_key_secret is not None:
        key_ref = {"name": config.secrets_key_secret, "key": config.secrets_key_secret_key}
        env.append({"name": "BKJOBS_SECRETS_KEY", "valueFrom": {"secretKeyRef": key_ref}})
    if config.s3_credentials_secret is not None:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = {"name": config.s3_credentials_secret, "key": name}
            env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    reserved = {item["name"] for item in env}
    env += [
        {"name": name, "value": value}
        for name, value in sorted(config.env.items())
        if name not in reserved
    ]
    return env


def _container(
    namespace: str, name: str, config: JobTemplateConfig, backoff_limit: int
) -> dict[str, Any]:
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if config.artifacts_claim is not None:
        mounts.append({"name": "data", "mountPath": config.data_dir})
    return {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["bkjobs", "task", "run", "--job", f"{namespace}/{name}"],
        "env": _env(config, backoff_limit),
        "resources": {kind: dict(values) for kind, values in config.resources.items()},
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _volumes(config: JobTemplateConfig) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    if config.artifacts_claim is not None:
        claim = {"claimName": config.artifacts_claim}
        volumes.append({"name": "data", "persistentVolumeClaim": claim})
    return volumes


def _pod_spec(
    namespace: str, name: str, config: JobTemplateConfig, backoff_limit: int
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": config.service_account,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "fsGroup": config.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(namespace, name, config, backoff_limit)],
        "volumes": _volumes(config),
    }
    if config.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": secret} for secret in config.image_pull_secrets]
    return pod


def _pod_failure_policy() -> dict[str, Any]:
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER_NAME,
                    "operator": "In",
                    "values": [int(TaskExit.FINAL)],
                },
            },
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }


def build_job_manifest(
    resource: Mapping[str, Any], config: JobTemplateConfig, *, suspend: bool = False
) -> dict[str, Any]:
    """The ``batch/v1`` Job running ``resource`` (a BookkeepingJob body as read from the API);
    ``suspend``: created waiting for room (the operator's admission, or Kueue's).

    Raises ``pydantic.ValidationError`` for a spec the CRD schema should have refused.
    """
    metadata = resource["metadata"]
    name, namespace = metadata["name"], metadata["namespace"]
    spec = BookkeepingJobSpec.model_validate(resource["spec"])
    labels = _labels(resource)
    backoff_limit = _either(spec.backoff_limit, config.backoff_limit)
    job_spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "activeDeadlineSeconds": _either(
            spec.active_deadline_seconds, config.active_deadline_seconds
        ),
        "ttlSecondsAfterFinished": _either(
            spec.ttl_seconds_after_finished, config.ttl_seconds_after_finished
        ),
        "completions": 1,
        "parallelism": 1,
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": _pod_spec(namespace, name, config, backoff_limit),
        },
    }
    if config.pod_failure_policy:
        job_spec["podFailurePolicy"] = _pod_failure_policy()
    if config.kueue_queue:
        labels = {**labels, KUEUE_QUEUE_LABEL: config.kueue_queue}
        suspend = True  # Kueue unsuspends it once admitted
    if suspend:
        job_spec["suspend"] = True
    job_metadata: dict[str, Any] = {
        "name": job_name(name),
        "namespace": namespace,
        "labels": labels,
    }
    created = (metadata.get("annotations") or {}).get(ANNOTATION_CREATED)
    if created:
        # the submission's time to the microsecond: the start order among waiting Jobs is
        # oldest first, and creationTimestamp has whole seconds only (a burst ties)
        job_metadata["annotations"] = {ANNOTATION_CREATED: created}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_metadata, "spec": job_spec}


def _either(value: int | None, default: int) -> int:
    return default if value is None else value
