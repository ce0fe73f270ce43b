"""Cluster mode's services for the API: the Kubernetes client, the watch cache and the
store over BookkeepingJob resources (no workers here: the operator runs the jobs)."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from bookkeeper_jobs.api.deps import Services
from bookkeeper_jobs.api.ledger_gate import LedgerGate
from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.artifacts import artifact_store
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.settings import Settings


def cluster_services(
    settings: Settings, api_client: client.ApiClient | None = None
) -> tuple[Services, Callable[[], None]]:
    """The services and the function that stops them."""
    api = client.CustomObjectsApi(api_client or client.ApiClient(load_kube_configuration()))
    cache = WatchCache(api, settings.kubernetes_namespace)
    cache.start()
    ledger = LedgerGate(settings, migrate=False)  # the chart's migrations Job migrates
    store = KubernetesJobStore(api, cache)
    services = Services(
        settings=settings, store=store, artifacts=artifact_store(settings), ledger=ledger
    )

    def stop() -> None:
        store.close()  # the creates in flight finish first
        cache.stop()
        ledger.close()

    return services, stop
