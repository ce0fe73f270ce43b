"""What every handler needs, built once at startup and handed over in kopf's ``memo``.

The official client and kopf share one :class:`kubernetes.client.Configuration` (in-cluster,
else a kubeconfig), loaded into a private object instead of the client's global default,
so several operators (tests) can run in one process against different API servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import kopf
from kubernetes import client

from bookkeeper_jobs.artifacts import ArtifactStore, artifact_store
from bookkeeper_jobs.operator.manifests import JobTemplateConfig
from bookkeeper_jobs.operator.metrics import OperatorMetrics
from bookkeeper_jobs.operator.task_jobs import TaskJobIndex
from bookkeeper_jobs.settings import Settings

DEFAULT_TASK_IMAGE = "bookkeeper-jobs:latest"
MEMO_KEY = "bookkeeper_jobs"


@dataclass(frozen=True)
class OperatorContext:
    settings: Settings
    template: JobTemplateConfig
    configuration: client.Configuration
    batch: client.BatchV1Api
    custom: client.CustomObjectsApi
    artifacts: ArtifactStore
    priority: int | None = None
    """The kopf peering priority ``run_operator`` gave this operator; ``None`` standalone."""
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    task_jobs: TaskJobIndex = field(default_factory=TaskJobIndex)
    """The namespace's task Jobs, for admission (``task_jobs.py``)."""


def job_template(settings: Settings) -> JobTemplateConfig:
    """``BKJOBS_TASK_TEMPLATE`` over defaults derived from the settings (the chart sets the
    image; a bare ``bkjobs operator run`` uses :data:`DEFAULT_TASK_IMAGE`)."""
    return JobTemplateConfig.from_settings(
        settings, **{"image": DEFAULT_TASK_IMAGE, **settings.task_template}
    )


def build_context(
    settings: Settings, configuration: client.Configuration, priority: int | None = None
) -> OperatorContext:
    api_client = client.ApiClient(configuration)
    return OperatorContext(
        settings=settings,
        template=job_template(settings),
        configuration=configuration,
        batch=client.BatchV1Api(api_client),
        custom=client.CustomObjectsApi(api_client),
        artifacts=artifact_store(settings),
        priority=priority,
    )


def close_context(context: OperatorContext) -> None:
    context.batch.api_client.close()


def context_of(memo: object) -> OperatorContext:
    """The context stored by ``run_operator`` (kopf hands each handler a copy of the memo)."""
    return cast(OperatorContext, cast(kopf.Memo, memo)[MEMO_KEY])


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the client's configuration (as ``kopf.login_via_client``)."""
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    scheme: str | None = None
    token: str | None = None
    if header:  # "Bearer <token>" or a bare token (RFC 7235)
        first, _, rest = header.partition(" ")
        scheme, token = (first, rest) if rest else (None, first)
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )
