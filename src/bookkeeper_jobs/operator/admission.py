"""How many task Jobs run at once: at most ``max_running`` in the namespace and
``max_running_per_tenant`` of one tenant; the others are created suspended (the Job
controller starts no pod for a suspended Job, and its deadline does not run) and are
resumed as running ones finish, in :class:`~bookkeeper_jobs.start_order.StartOrder`: the
tenant running the fewest first, then the job type's priority, then the oldest. A burst of
1,000 submissions therefore means at most ``max_running`` pods, each with its one database
connection, and one tenant's backlog never holds back another tenant's new job.

With Kueue (``kueue_queue`` in the task template) every Job is created suspended with the
queue's label and Kueue admits it by quota: this module then leaves them alone.

The limits are checked when a Job is created and when one finishes (the operator's Job
watch), and again by the periodic sweep. kopf runs handlers of different objects at the same
time: counting and creating (or resuming) happen under one lock (:func:`deciding`), so a
burst cannot overshoot; only the acting operator of peered replicas creates Jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.task_jobs import TaskJob, as_body
from bookkeeper_jobs.start_order import StartOrder, Waiting

log = logging.getLogger(__name__)

_DECIDING = threading.Lock()


@contextmanager
def deciding() -> Iterator[None]:
    """One admission decision at a time in this operator (count, then create or resume)."""
    with _DECIDING:
        yield


RESUME = {"spec": {"suspend": False}}


def task_jobs(context: OperatorContext, namespace: str) -> list[TaskJob]:
    return context.task_jobs.jobs(context.batch, namespace)


def refresh(context: OperatorContext, namespace: str) -> None:
    """List the task Jobs again if the index is old: before :func:`deciding`, never in it."""
    context.task_jobs.refresh(context.batch, namespace)


def must_wait(context: OperatorContext, namespace: str, tenant: str) -> bool:
    """Whether a new Job of ``tenant`` must be created suspended (no room now)."""
    if context.template.kueue_queue:
        return False  # created suspended anyway; Kueue decides
    running = [job for job in task_jobs(context, namespace) if job.running]
    per_tenant = sum(job.tenant == tenant for job in running)
    return (
        len(running) >= context.template.max_running
        or per_tenant >= context.template.max_running_per_tenant
    )


def resume_waiting(context: OperatorContext, namespace: str) -> int:
    """Resume suspended Jobs, oldest first, while there is room; how many."""
    if context.template.kueue_queue:
        return 0
    refresh(context, namespace)
    with deciding():
        return _resume(context, namespace)


def _resume(context: OperatorContext, namespace: str) -> int:
    jobs = task_jobs(context, namespace)
    running = [job for job in jobs if job.running]
    total, by_tenant = len(running), Counter(job.tenant for job in running)
    last_started: dict[str, float] = {}
    for job in jobs:
        if job.started is not None:
            last_started[job.tenant] = max(job.started, last_started.get(job.tenant, 0.0))
    template = context.template
    order = StartOrder(template.max_running_per_tenant, template.priorities)
    queues: dict[str, list[Waiting[TaskJob]]] = {}
    for job in jobs:
        if job.suspended and not job.finished and not job.queued_by_kueue:
            queues.setdefault(job.tenant, []).append(job.waiting)
    # Each tenant's next one, not each tenant's jobs sorted: with 10,000 waiting, building and
    # sorting them at every ending took most of the operator's time (bench/fairness.py).
    heads = {tenant: min(queue, key=order.within_tenant) for tenant, queue in queues.items()}
    resumed = 0
    while total < template.max_running:
        chosen = order.pick(heads.values(), by_tenant, last_started)
        if chosen is None:
            break  # every tenant with a waiting Job is at its limit
        queue = queues[chosen.tenant] = [w for w in queues[chosen.tenant] if w is not chosen]
        if queue:
            heads[chosen.tenant] = min(queue, key=order.within_tenant)
        else:
            del heads[chosen.tenant]
        with kube_errors():
            patched = context.batch.patch_namespaced_job(chosen.name, namespace, RESUME)
        context.task_jobs.observe(namespace, as_body(context.batch.api_client, patched))
        total, resumed = total + 1, resumed + 1
        by_tenant[chosen.tenant] += 1
        last_started[chosen.tenant] = time.time()
    if resumed:
        log.info("resumed %d waiting task Job(s) in %s", resumed, namespace)
    return resumed


def counts(context: OperatorContext, namespace: str) -> dict[str, int]:
    """The namespace's unfinished task Jobs: ``running`` and ``waiting`` (for metrics)."""
    jobs = [job for job in task_jobs(context, namespace) if not job.finished]
    waiting = sum(job.suspended for job in jobs)
    return {"running": len(jobs) - waiting, "waiting": waiting}
