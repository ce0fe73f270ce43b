"""Prometheus metrics of the operator, served on ``BKJOBS_OPERATOR_METRICS_PORT``:

- ``bkjobs_operator_jobs_created_total{type}``: task Jobs this operator created;
- ``bkjobs_operator_jobs_finished_total{type,phase}``: resources that reached an ending;
- ``bkjobs_job_queue_duration_seconds{type}`` and ``bkjobs_job_run_duration_seconds{type}``:
  submit to first start, and first start to the ending, of each finished job;
- ``bkjobs_job_retries_total{type}``: attempts beyond the first, counted at the ending;
- ``bkjobs_job_progress_updates_total{type}``: changes of a resource's progress or message
  (what tasks write as they go; each is an event every API replica's watch receives);
- ``bkjobs_operator_task_jobs{state}``: the namespace's task Jobs now, ``running`` or
  ``waiting`` (suspended for room, see ``admission.py``), counted at each scrape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.created = Counter(
            "bkjobs_operator_jobs_created",
            "Task Jobs created, by type.",
            ["type"],
            registry=self.registry,
        )
        self.finished = Counter(
            "bkjobs_operator_jobs_finished",
            "Jobs that ended, by type and phase.",
            ["type", "phase"],
            registry=self.registry,
        )
        self.queue_seconds = Histogram(
            "bkjobs_job_queue_duration_seconds",
            "Seconds from submission to the first start.",
            ["type"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "bkjobs_job_run_duration_seconds",
            "Seconds from the first start to the ending.",
            ["type"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "bkjobs_job_retries",
            "Attempts beyond the first, by type.",
            ["type"],
            registry=self.registry,
        )

        self.progress_updates = Counter(
            "bkjobs_job_progress_updates",
            "Changes of a job's progress or message, by type.",
            ["type"],
            registry=self.registry,
        )
        self._progress: dict[str, tuple[object, object]] = {}

    def resource_changed(self, deleted: bool, body: Mapping[str, Any]) -> None:
        """Observe every event of a resource: count its progress or message changes."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        if deleted:
            self._progress.pop(uid, None)
            return
        status = body.get("status") or {}
        if not status.get("phase"):
            return  # the operator's first status is the baseline, not an update
        now = (status.get("progress"), status.get("message"))
        before = self._progress.get(uid)
        self._progress[uid] = now
        if before is not None and now != before:
            self.progress_updates.labels(str((body.get("spec") or {}).get("type", ""))).inc()

    def count_task_jobs(self, count: Callable[[], Mapping[str, int]]) -> None:
        self.registry.register(_TaskJobs(count))

    def job_ended(self, body: Mapping[str, Any]) -> None:
        """Observe a resource that just reached an ending."""
        spec, status = body.get("spec") or {}, body.get("status") or {}
        job_type = str(spec.get("type", ""))
        self.finished.labels(job_type, str(status.get("phase", ""))).inc()
        created = _time(
            ((body.get("metadata") or {}).get("annotations") or {}).get(
                "jobs.bookkeeper.ai/created-at"
            )
            or (body.get("metadata") or {}).get("creationTimestamp")
        )
        started, finished = _time(status.get("startedAt")), _time(status.get("finishedAt"))
        if created and started:
            self.queue_seconds.labels(job_type).observe(
                max(0.0, (started - created).total_seconds())
            )
        if started and finished:
            self.run_seconds.labels(job_type).observe(
                max(0.0, (finished - started).total_seconds())
            )
        attempts = int(status.get("attempts") or 0)
        if attempts > 1:
            self.retries.labels(job_type).inc(attempts - 1)


class _TaskJobs(Collector):
    def __init__(self, count: Callable[[], Mapping[str, int]]) -> None:
        self._count = count

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "bkjobs_operator_task_jobs", "Task Jobs of the namespace now.", labels=["state"]
        )
        try:
            counts = self._count()
        except Exception:  # the API server unreachable: no sample rather than a failed scrape
            return
        for state, value in sorted(counts.items()):
            family.add_metric([state], value)
        yield family


def _time(value: object) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds())
