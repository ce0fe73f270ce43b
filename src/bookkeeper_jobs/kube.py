"""Credentials for the Kubernetes API, one way for the API, the operator and the tasks."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config


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
