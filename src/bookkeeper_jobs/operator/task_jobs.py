"""The namespace's task Jobs as the operator last saw them, for admission (``admission.py``)
and the metrics gauge.

Listed once (in pages), then kept current by the Job events kopf delivers (``handlers.index_job``)
and by the operator's own creates and resumes, recorded from the API server's answers so a
burst is counted right before its events arrive. Each decision used to list every task Job:
with 10,000 queued, each create and each ending read 10,000 Jobs (``bench/fairness.py``).
An entry is replaced only by a newer ``resourceVersion`` of its Job, so an event handled
late never undoes a later create or resume. The index is listed again when older than
:data:`MAX_AGE_SECONDS` (deletions missed while a watch was down, or while this operator
stood by for a peer, cannot linger), before a decision and outside its lock
(:meth:`TaskJobIndex.refresh`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, cast

from kubernetes import client

from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.operator.manifests import KUEUE_QUEUE_LABEL, TASK_LABELS
from bookkeeper_jobs.resource import ANNOTATION_CREATED, LABEL_TENANT, LABEL_TYPE
from bookkeeper_jobs.start_order import Waiting

SELECTOR = ",".join(f"{key}={value}" for key, value in TASK_LABELS.items())
MAX_AGE_SECONDS = 60.0
PAGE = 500


@dataclass(frozen=True)
class TaskJob:
    name: str
    tenant: str
    job_type: str
    created: float  # epoch seconds: when the job was submitted
    started: float | None  # epoch seconds; None while suspended (the Job controller clears it)
    suspended: bool
    finished: bool
    queued_by_kueue: bool
    version: int  # metadata.resourceVersion (0 when not a number)
    owner_uid: str = ""  # the uid of the resource that controls it ("" when none does)

    @property
    def running(self) -> bool:
        return not self.suspended and not self.finished

    @cached_property
    def waiting(self) -> Waiting[TaskJob]:
        """This Job as a candidate of the start order (built once: an entry is replaced, never
        changed, when its Job changes)."""
        return Waiting(self.tenant, self.job_type, self.created, self.name, self)


def is_task_job(body: Mapping[str, Any]) -> bool:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in TASK_LABELS.items())


def task_job(body: Mapping[str, Any]) -> TaskJob:
    """A Job as the API server serialises it (a watch event's object, a list item)."""
    metadata = body.get("metadata") or {}
    spec, status = body.get("spec") or {}, body.get("status") or {}
    labels = metadata.get("labels") or {}
    conditions = status.get("conditions") or []
    finished = any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )
    return TaskJob(
        name=str(metadata.get("name", "")),
        tenant=str(labels.get(LABEL_TENANT, "")),
        job_type=str(labels.get(LABEL_TYPE, "")),
        # the submission's time (microseconds; the manifest copies it from the resource),
        # else the Job's creationTimestamp (whole seconds)
        created=_epoch((metadata.get("annotations") or {}).get(ANNOTATION_CREATED))
        or _epoch(metadata.get("creationTimestamp"))
        or 0.0,
        started=_epoch(status.get("startTime")),
        suspended=bool(spec.get("suspend")),
        finished=finished,
        queued_by_kueue=KUEUE_QUEUE_LABEL in labels,
        version=_version(metadata),
        owner_uid=next(
            (
                str(owner.get("uid", ""))
                for owner in metadata.get("ownerReferences") or []
                if owner.get("controller")
            ),
            "",
        ),
    )


def _epoch(moment: object) -> float | None:
    """Epoch seconds of a timestamp (UTC when it names no zone); None when absent or not a
    timestamp (an annotation someone edited by hand is ignored, never fatal)."""
    if isinstance(moment, str) and moment:
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.timestamp()
    return None


def as_body(api_client: client.ApiClient, job: Any) -> dict[str, Any]:
    """A client model (what ``create``/``patch`` return) as the API server's JSON."""
    return dict(cast(Any, api_client).sanitize_for_serialization(job))


class TaskJobIndex:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._listing = threading.Lock()
        self._jobs: dict[str, dict[str, TaskJob]] = {}
        self._listed_at: dict[str, float] = {}
        self._clock = clock

    def refresh(self, batch: client.BatchV1Api, namespace: str) -> None:
        """List the namespace's task Jobs when never listed or listed too long ago.

        Called before an admission decision, never under its lock: a list of 10,000 Jobs
        takes seconds, and every decision (another tenant's new Job, every resume) used to
        wait for it (``bench/fairness.py``). While another thread lists, a stale index is
        used as it is (events and answers keep it current); one never listed is waited for."""
        if self._fresh(namespace):
            return
        if not self._listing.acquire(blocking=not self._listed(namespace)):
            return
        try:
            if not self._fresh(namespace):  # listed while this thread waited
                self._relist(batch, namespace)
        finally:
            self._listing.release()

    def jobs(self, batch: client.BatchV1Api, namespace: str) -> list[TaskJob]:
        """The namespace's task Jobs as last seen (listed first if never listed; a stale
        index is listed again by :meth:`refresh` only)."""
        if not self._listed(namespace):
            self.refresh(batch, namespace)
        with self._lock:
            return list(self._jobs.get(namespace, {}).values())

    def _listed(self, namespace: str) -> bool:
        with self._lock:
            return namespace in self._listed_at

    def _fresh(self, namespace: str) -> bool:
        with self._lock:
            listed_at = self._listed_at.get(namespace)
            return listed_at is not None and self._clock() - listed_at < MAX_AGE_SECONDS

    def _relist(self, batch: client.BatchV1Api, namespace: str) -> None:
        listed, snapshot = _list(batch, namespace)
        with self._lock:
            fresh = {job.name: job for job in listed}
            for name, job in self._jobs.get(namespace, {}).items():
                # recorded from events or answers newer than what the list read
                if job.version > (fresh[name].version if name in fresh else snapshot):
                    fresh[name] = job
            self._jobs[namespace] = fresh
            self._listed_at[namespace] = self._clock()

    def known(self, namespace: str, name: str) -> TaskJob | None:
        """The Job as last seen, without listing (``None`` when not seen, or not yet listed)."""
        with self._lock:
            return self._jobs.get(namespace, {}).get(name)

    def observe(self, namespace: str, body: Mapping[str, Any]) -> None:
        """A Job as an event, a create or a patch returned it."""
        if not is_task_job(body):
            return
        job = task_job(body)
        with self._lock:
            jobs = self._jobs.setdefault(namespace, {})
            known = jobs.get(job.name)
            if known is None or job.version >= known.version:
                jobs[job.name] = job

    def forget(self, namespace: str, name: str) -> None:
        """The Job was deleted."""
        with self._lock:
            self._jobs.get(namespace, {}).pop(name, None)


def _list(batch: client.BatchV1Api, namespace: str) -> tuple[list[TaskJob], int]:
    """Every task Job of the namespace, and the list's resourceVersion."""
    found: list[TaskJob] = []
    snapshot = 0
    for page in job_pages(batch, namespace, SELECTOR):
        found += [task_job(item) for item in page.get("items") or []]
        snapshot = snapshot or _version(page.get("metadata") or {})
    return found, snapshot


def job_pages(
    batch: client.BatchV1Api, namespace: str | None, selector: str
) -> Iterator[dict[str, Any]]:
    """The Jobs matching ``selector`` (of every namespace when ``namespace`` is None), a page
    of :data:`PAGE` at a time, as the API server's plain JSON: the client's models of
    thousands of Jobs cost about ten times as much to build."""
    api: Any = batch
    token: str | None = None
    while True:
        options: dict[str, Any] = {"label_selector": selector, "limit": PAGE}
        if token:
            options["_continue"] = token
        with kube_errors():
            if namespace is None:
                answer = api.list_job_for_all_namespaces(_preload_content=False, **options)
            else:
                answer = api.list_namespaced_job(namespace, _preload_content=False, **options)
        page: dict[str, Any] = json.loads(answer.data)
        yield page
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def _version(metadata: Mapping[str, Any]) -> int:
    """``resourceVersion`` as a number (0 when it is not one)."""
    version = str(metadata.get("resourceVersion") or "")
    return int(version) if version.isdigit() else 0
