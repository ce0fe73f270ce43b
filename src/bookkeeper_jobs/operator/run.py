"""Running the operator: ``bkjobs operator run`` in the cluster, a thread in tests.

:func:`run_operator` loads the credentials (in-cluster, else a kubeconfig), builds the
handlers' context and runs kopf until ``stop_flag`` is set (or SIGTERM/SIGINT when it runs
in the main thread). Peering, scope and the liveness endpoint come from the settings; with a
peering name, each process takes its own priority (:func:`peering_priority`), so that of
several replicas exactly one handles objects and the others pause until it is gone. The
context carries that priority: the TTL sweep (``ttl.py``) acts only in the operator kopf lets act.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import kopf
from prometheus_client import start_http_server

from bookkeeper_jobs.jobs import load_job_type_modules
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.operator import admission
from bookkeeper_jobs.operator.context import (
    MEMO_KEY,
    OperatorContext,
    build_context,
    close_context,
)
from bookkeeper_jobs.operator.handlers import build_registry
from bookkeeper_jobs.operator.startup import peering_priority
from bookkeeper_jobs.settings import Settings

Flag = asyncio.Event | threading.Event
log = logging.getLogger(__name__)
ALL_INTERFACES = "0.0.0.0"  # the kubelet probes the pod's IP


def run_operator(
    settings: Settings,
    *,
    registry: kopf.OperatorRegistry | None = None,
    stop_flag: Flag | None = None,
    ready_flag: Flag | None = None,
    kubeconfig: Path | None = None,
    health_host: str | None = ALL_INTERFACES,
) -> None:
    """Run the operator until stopped; blocks (start it in a thread to embed it).

    ``registry`` defaults to :func:`build_registry`; ``ready_flag`` is set once the startup
    handlers ran; ``health_host=None`` serves no liveness endpoint (``/healthz`` otherwise,
    on ``settings.operator_health_port``).
    """
    load_job_type_modules(settings.job_type_modules)
    priority = peering_priority(settings) if settings.operator_peering else None
    context = build_context(settings, load_kube_configuration(kubeconfig), priority)
    if registry is None:
        registry = build_registry()
    liveness = None
    metrics_server = None
    if health_host is not None:
        liveness = f"http://{health_host}:{settings.operator_health_port}/healthz"
        metrics_server = serve_metrics(context, health_host, settings.operator_metrics_port)
    try:
        asyncio.run(
            kopf.operator(
                registry=registry,
                standalone=not settings.operator_peering,
                peering_name=settings.operator_peering or None,
                priority=priority,
                clusterwide=settings.operator_cluster_wide,
                namespaces=[]
                if settings.operator_cluster_wide
                else [settings.kubernetes_namespace],
                liveness_endpoint=liveness,
                stop_flag=stop_flag,
                ready_flag=ready_flag,
                memo=kopf.Memo({MEMO_KEY: context}),
            )
        )
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        close_context(context)


def serve_metrics(context: OperatorContext, host: str, port: int) -> WSGIServer | None:
    """``/metrics`` on ``host:port`` in a thread (prometheus_client's own small server); a
    port in use is logged and the operator runs on without metrics."""
    if not context.settings.operator_cluster_wide:
        namespace = context.settings.kubernetes_namespace
        context.metrics.count_task_jobs(lambda: admission.counts(context, namespace))
    try:
        server, _thread = start_http_server(port, addr=host, registry=context.metrics.registry)
    except OSError as exc:
        log.warning("the operator's /metrics cannot listen on %s:%d (%s)", host, port, exc)
        return None
    return server
