"""The Kubernetes API, one way for the API, the operator and the tasks: credentials, and
the API server's error answers as exceptions of our own tree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.errors import (
    KubernetesApiError,
    ResourceConflictError,
    ResourceExpiredError,
    ResourceInvalidError,
    ResourceNotFoundError,
)


def load_kube_configuration(kubeconfig: Path | None = None) -> client.Configuration:
    """In-cluster credentials (a pod's service account), else the kubeconfig: ``kubeconfig``
    or the default one (``KUBECONFIG``, ``~/.kube/config``). Loaded into a private
    configuration, never the client's process-wide default, so one process can talk to
    several API servers (tests do)."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
        except config.ConfigException:
            pass
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig is not None else None,
        client_configuration=configuration,
    )
    return configuration


_ERRORS_BY_STATUS: dict[int, type[KubernetesApiError]] = {
    404: ResourceNotFoundError,
    409: ResourceConflictError,
    410: ResourceExpiredError,
    422: ResourceInvalidError,
}


def api_error(status: int, body: str | bytes | None = None, reason: str = "") -> KubernetesApiError:
    """The error for an API server answer: the class by HTTP status (as kopf's
    ``APIError`` subclasses), the message and reason from the ``Status`` body when there is
    one."""
    message = ""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    if isinstance(parsed, dict):
        message = str(parsed.get("message") or "")
        reason = str(parsed.get("reason") or reason)
    return _ERRORS_BY_STATUS.get(status, KubernetesApiError)(status, reason, message)


@contextmanager
def kube_errors() -> Iterator[None]:
    """Turn the official client's ``ApiException`` into :class:`KubernetesApiError`
    subclasses, so callers write ``except ResourceNotFoundError`` instead of comparing
    status codes by hand."""
    try:
        yield
    except ApiException as exc:
        raise api_error(exc.status or 0, exc.body, exc.reason or "") from exc
