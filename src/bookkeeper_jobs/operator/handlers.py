"""The operator's kopf registrations: one thin typed handler per event.

Handlers are registered on a registry that :func:`build_registry` makes (never kopf's
global one), so tests can run several independent operators in one process. Each handler
takes the :class:`~bookkeeper_jobs.operator.context.OperatorContext` from kopf's ``memo``,
calls one function of ``reconcile.py``, posts the Event that function asks for, and
returns ``None`` (kopf would store a return value in ``status``, pitfall 2). The startup
handler applies our kopf settings and starts the TTL sweep (``ttl.py``); cleanup stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, cast

import kopf

from bookkeeper_jobs.jobs import JobPhase
from bookkeeper_jobs.operator import admission, reconcile, ttl
from bookkeeper_jobs.operator.context import connection_info, context_of
from bookkeeper_jobs.operator.reconcile import Outcome
from bookkeeper_jobs.operator.startup import configure
from bookkeeper_jobs.resource import GROUP, LABEL_NAME, PLURAL, VERSION

SWEEPER_KEY = "ttl_sweeper"
WARNING_REASONS = frozenset({"Failed"})


def build_registry() -> kopf.OperatorRegistry:
    """Every handler of the operator, on a registry of its own."""
    registry = kopf.OperatorRegistry()
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    kopf.on.login(registry=registry)(login)
    kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)(create_job)
    kopf.on.field(
        GROUP, VERSION, PLURAL, field="spec.cancelRequested", new=True, registry=registry
    )(cancel_job)
    kopf.on.field(
        GROUP, VERSION, PLURAL, field="status.phase", new=JobPhase.COMPLETE.value, registry=registry
    )(report_success)
    kopf.on.field(GROUP, VERSION, PLURAL, field="status.phase", registry=registry)(observe_phase)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(observe_resource)
    task_job = {LABEL_NAME: kopf.PRESENT}
    kopf.on.event("batch", "v1", "jobs", labels=task_job, registry=registry)(index_job)
    kopf.on.event("batch", "v1", "jobs", labels=task_job, when=job_is_over, registry=registry)(
        job_over
    )
    return registry


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    context = context_of(memo)
    configure(settings, context.settings)
    memo[SWEEPER_KEY] = asyncio.create_task(ttl.sweep_forever(context), name="ttl sweep")


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    sweeper: asyncio.Task[None] | None = memo.get(SWEEPER_KEY)
    if sweeper is not None:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    return connection_info(context_of(memo).configuration)


def create_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    context = context_of(memo)
    outcome = reconcile.start(context, body)
    if outcome is not None and outcome.reason == "JobCreated":
        context.metrics.created.labels(str(body.get("spec", {}).get("type", ""))).inc()
    post(outcome)


async def observe_phase(old: Any, new: Any, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Count an ending once, when the phase first becomes terminal (metrics only; async, as
    the handlers below that do no I/O: kopf's thread pool is for those that call the API)."""
    if new is None or not JobPhase(str(new)).is_terminal:
        return
    if old is not None and JobPhase(str(old)).is_terminal:
        return
    context_of(memo).metrics.job_ended(dict(body))


async def observe_resource(
    event: Mapping[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Every event of a resource, for the progress-updates metric only."""
    context_of(memo).metrics.resource_changed(event.get("type") == "DELETED", body)


def cancel_job(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    if namespace is not None:  # always, for a namespaced kind
        post(reconcile.cancel(context_of(memo), namespace, name))


async def report_success(body: kopf.Body, status: kopf.Status, **_: Any) -> None:
    message = status.get("message") or "The task reported its result"
    post(Outcome(dict(body), "Succeeded", message))


async def index_job(event: Mapping[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every event of a task Job keeps the admission index (``task_jobs.py``) current. Async
    and without I/O: most Job events (created, suspended, started) end nothing, and under a
    burst of thousands a sync handler for each would queue in kopf's thread pool ahead of
    another tenant's create handler (``bench/fairness.py``)."""
    context = context_of(memo)
    namespace = body["metadata"]["namespace"]
    if event.get("type") == "DELETED":
        context.task_jobs.forget(namespace, body["metadata"]["name"])
    else:
        context.task_jobs.observe(namespace, body)


def job_is_over(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> bool:
    """kopf's filter for :func:`job_over`, evaluated in its event loop: only a Job that ended
    or went reaches the thread pool."""
    deleted = event.get("type") == "DELETED"
    return deleted or reconcile.job_ending(body, deleted=False) is not None


def job_over(event: Mapping[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A task Job ended or went: its resource fails if the task did not record its end, and
    there is room for one that waits (``operator/admission.py``)."""
    deleted = event.get("type") == "DELETED"
    context = context_of(memo)
    post(reconcile.reflect_job(context, body, deleted))
    admission.resume_waiting(context, body["metadata"]["namespace"])


def post(outcome: Outcome | None) -> None:
    """A Kubernetes Event about the outcome's resource (posted by kopf in the background)."""
    if outcome is None:
        return
    kind = "Warning" if outcome.reason in WARNING_REASONS else "Normal"
    resource = cast(kopf.Body, outcome.resource)
    kopf.event(resource, type=kind, reason=outcome.reason, message=outcome.message)
