"""Prometheus metrics of the API (``GET /metrics``, scraped by the chart's ServiceMonitor).

- ``bkjobs_jobs{type,phase}``: the jobs the store holds now (counted at each scrape: one
  grouped query embedded, the watch cache in a cluster);
- ``bkjobs_jobs_submitted_total{type}`` and ``bkjobs_submit_duration_seconds{type}``: what
  this replica accepted, and how long recording each took (a SQLite commit, or the
  BookkeepingJob's create);
- ``bkjobs_watch_cache_objects``, ``bkjobs_watch_cache_relists_total``,
  ``bkjobs_watch_cache_synced``, the lag histogram ``bkjobs_watch_cache_lag_seconds`` (from a
  job's submission to its arrival through the watch) and
  ``bkjobs_watch_cache_silence_seconds`` (since the API server last sent anything; a real
  one bookmarks about once a minute) (cluster mode);
- ``bkjobs_workers_alive`` (embedded mode);
- ``bkjobs_http_responses_total{method,status}``: every response this replica sent, counted
  in a plain dict by :class:`ResponseCounter` and read at each scrape (what the access log,
  off by default, would have said, without a line per status poll).

One registry per app, so several apps in one process (tests) never share series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.protocol import JobStore
from bookkeeper_jobs.api.worker_pool import WorkerPool

SUBMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.responses: dict[tuple[str, int], int] = {}
        """Responses by (method, status), counted by :class:`ResponseCounter`."""
        self.submitted = Counter(
            "bkjobs_jobs_submitted",
            "Jobs this API replica accepted (202), by type.",
            ["type"],
            registry=self.registry,
        )
        self.submit_seconds = Histogram(
            "bkjobs_submit_duration_seconds",
            "Seconds the job store took to record a submission, by job type.",
            ["type"],
            buckets=SUBMIT_BUCKETS,
            registry=self.registry,
        )

    def watch(
        self, store: Callable[[], JobStore | None], workers: Callable[[], WorkerPool | None]
    ) -> None:
        """Report the store's jobs and the workers at each scrape (read through the getters:
        both only exist once the app's lifespan has built them)."""
        self.registry.register(StateCollector(store, workers))
        self.registry.register(ResponseCollector(self.responses))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    def __init__(
        self, store: Callable[[], JobStore | None], workers: Callable[[], WorkerPool | None]
    ) -> None:
        self._store = store
        self._workers = workers

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only

    def collect(self) -> Iterator[Metric]:
        store = self._store()
        if store is not None:
            jobs = GaugeMetricFamily(
                "bkjobs_jobs", "Jobs held now, by type and phase.", labels=["type", "phase"]
            )
            for (job_type, phase), count in sorted(store.counts().items()):
                jobs.add_metric([job_type, phase], count)
            yield jobs
            if isinstance(store, KubernetesJobStore):
                yield from _cache_metrics(store)
        pool = self._workers()
        if pool is not None:
            yield GaugeMetricFamily(
                "bkjobs_workers_alive", "Embedded worker processes alive.", value=pool.alive()
            )


class ResponseCounter:
    """Counts each response by method (other methods as ``OTHER``) and status. Incremented on
    the event loop only; a scrape reads a copy."""

    def __init__(self, app: ASGIApp, counts: dict[tuple[str, int], int]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        counts = self.counts

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                key = (method, message["status"])
                counts[key] = counts.get(key, 0) + 1
            await send(message)

        await self.app(scope, receive, counted)


class ResponseCollector(Collector):
    def __init__(self, counts: dict[tuple[str, int], int]) -> None:
        self._counts = counts

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bkjobs_http_responses",
            "HTTP responses sent, by request method and status code.",
            labels=["method", "status"],
        )
        for (method, status), count in sorted(self._counts.copy().items()):
            family.add_metric([method, str(status)], count)
        yield family


def _cache_metrics(store: KubernetesJobStore) -> Iterator[Metric]:
    cache = store.cache
    yield GaugeMetricFamily(
        "bkjobs_watch_cache_objects", "BookkeepingJobs in the watch cache.", value=len(cache.all())
    )
    yield GaugeMetricFamily(
        "bkjobs_watch_cache_synced", "1 once the watch cache has listed.", value=int(cache.synced)
    )
    yield CounterMetricFamily(
        "bkjobs_watch_cache_relists",
        "Full lists of BookkeepingJobs (start, 410 Gone).",
        cache.relists,
    )
    yield from cache.lag.collect()
    silence = cache.silent_for()
    if silence is not None:
        yield GaugeMetricFamily(
            "bkjobs_watch_cache_silence_seconds",
            "Seconds since the API server last sent the cache anything (a list, an event or a"
            " bookmark); bookmarks come about once a minute, so far more means a stuck watch.",
            value=silence,
        )


def metrics_router(metrics: ApiMetrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def serve_metrics(request: Request) -> Response:
        """Prometheus text format, without authentication (like the health probes)."""
        del request
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
