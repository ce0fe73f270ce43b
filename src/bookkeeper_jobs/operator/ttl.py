"""Deleting finished BookkeepingJobs past their TTL (``BKJOBS_JOB_TTL``), as the embedded
mode's sweep does: the resource (its Job and pods follow by owner reference) and its upload;
and failing unfinished ones whose Job is gone (deleted while the operator was down).

One loop per operator lists the resources every ``BKJOBS_SWEEP_INTERVAL`` seconds. Not a
per-object ``kopf.timer``: kopf puts a finalizer on every object a timer watches, which
would block deleting finished jobs whenever the operator is down (KUBERNETES.md, pitfall 7).

Peered replicas all run the loop, but only the one kopf lets act sweeps: before each sweep
the loop reads the peering object and applies kopf's rule (:func:`should_sweep`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kubernetes.client import V1DeleteOptions, V1Preconditions

from bookkeeper_jobs.errors import KubernetesApiError, ResourceConflictError, ResourceNotFoundError
from bookkeeper_jobs.jobs import JobPhase, utcnow
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.operator.admission import resume_waiting
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.operator.reconcile import reflect_job
from bookkeeper_jobs.operator.task_jobs import job_pages
from bookkeeper_jobs.resource import API_VERSION, GROUP, KIND, LABEL_NAME, PLURAL, VERSION

log = logging.getLogger(__name__)
PAGE_SIZE = 500
PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"
PEERINGS, CLUSTER_PEERINGS = "kopfpeerings", "clusterkopfpeerings"


def expired(status: Mapping[str, Any], ttl: float, now: datetime) -> bool:
    finished_at = status.get("finishedAt")
    if not finished_at:
        return False
    finished = datetime.fromisoformat(str(finished_at).replace("Z", "+00:00"))
    return now - finished >= timedelta(seconds=ttl)


def should_sweep(peering_status: Mapping[str, Any], own_priority: int, now: datetime) -> bool:
    """Whether the operator with ``own_priority`` acts, by kopf's rule for the peers in a
    peering object's status (``{id: {priority, lifetime, lastseen}}``).

    kopf pauses an operator that sees a live peer (``lastseen + lifetime`` still ahead)
    with a higher priority, and every operator when priorities are equal
    (https://docs.kopf.dev/en/latest/peering/). The status lists this operator too, so
    the live entries at ``own_priority`` must be exactly one, ours: a second one is a
    conflicting peer, none means our keep-alive is not there (yet), as kopf's initial pause.
    """
    same = 0
    for peer in peering_status.values():
        if not isinstance(peer, Mapping) or not alive(peer, now):
            continue
        priority = int(peer.get("priority", 0))
        if priority > own_priority:
            return False
        same += priority == own_priority
    return same == 1


def alive(peer: Mapping[str, Any], now: datetime) -> bool:
    lastseen = peer.get("lastseen")
    if not lastseen:
        return True  # kopf takes a peer without ``lastseen`` as seen just now
    seen = datetime.fromisoformat(str(lastseen).replace("Z", "+00:00"))
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen + timedelta(seconds=int(peer.get("lifetime", 60))) > now


def acting(context: OperatorContext) -> bool:
    """Whether this operator acts: always standalone, else by the peering object's status."""
    settings = context.settings
    if context.priority is None or not settings.operator_peering:
        return True
    name = settings.operator_peering
    if settings.operator_cluster_wide:
        peering = context.custom.get_cluster_custom_object(
            PEERING_GROUP, PEERING_VERSION, CLUSTER_PEERINGS, name
        )
    else:
        peering = context.custom.get_namespaced_custom_object(
            PEERING_GROUP, PEERING_VERSION, settings.kubernetes_namespace, PEERINGS, name
        )
    status = cast(dict[str, Any], peering).get("status") or {}
    return should_sweep(status, context.priority, utcnow())


async def sweep_forever(context: OperatorContext) -> None:
    """Sweep and look for orphans now, then every ``sweep_interval`` seconds until
    cancelled, whenever this operator is the acting one."""
    while True:
        try:
            with kube_errors():
                if await asyncio.to_thread(acting, context):
                    await asyncio.to_thread(sweep, context)
                    await asyncio.to_thread(fail_orphans, context)
                    if not context.settings.operator_cluster_wide:
                        namespace = context.settings.kubernetes_namespace
                        await asyncio.to_thread(resume_waiting, context, namespace)
        except KubernetesApiError as exc:
            log.warning("TTL sweep failed (%s); trying again later", exc)
        await asyncio.sleep(context.settings.sweep_interval)


ORPHAN_GRACE_SECONDS = 120.0
"""A resource younger than this may still be getting its Job (kopf retries a failed create)."""


def fail_orphans(context: OperatorContext, *, now: datetime | None = None) -> int:
    """Fail the unfinished resources whose Job is gone (deleted while the operator was down,
    so no watch event told it): as the Job watch would have, with the reason. How many."""
    now = now or utcnow()
    grace = timedelta(seconds=ORPHAN_GRACE_SECONDS)
    unfinished = [r for r in resources(context) if _unfinished_since(r, now - grace)]
    if not unfinished:
        return 0
    jobs = _job_names(context)
    failed = 0
    for resource in unfinished:
        metadata = resource["metadata"]
        if (metadata["namespace"], job_name(metadata["name"])) in jobs:
            continue
        vanished = {
            "metadata": {
                "namespace": metadata["namespace"],
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": KIND,
                        "name": metadata["name"],
                        "controller": True,
                    }
                ],
            }
        }
        if reflect_job(context, vanished, deleted=True) is not None:
            log.warning("%s/%s: its Job is gone; failed", metadata["namespace"], metadata["name"])
            failed += 1
    return failed


def _unfinished_since(resource: Mapping[str, Any], before: datetime) -> bool:
    """Given its Job, not finished, not being cancelled, and created before ``before``.

    The operator writes the first status right after creating the Job: a resource without
    one never had a Job (a burst kopf has not reached yet), so it cannot be an orphan."""
    phase = (resource.get("status") or {}).get("phase")
    if (
        not phase
        or JobPhase(phase).is_terminal
        or (resource.get("spec") or {}).get("cancelRequested")
    ):
        return False
    created = _created(resource)
    return created is not None and created <= before


def _created(resource: Mapping[str, Any]) -> datetime | None:
    stamp = resource["metadata"].get("creationTimestamp")
    if not stamp:
        return None
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def _job_names(context: OperatorContext) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every Job of ours the operator can see."""
    namespace = (
        None if context.settings.operator_cluster_wide else context.settings.kubernetes_namespace
    )
    return {
        (str(job["metadata"].get("namespace")), str(job["metadata"].get("name")))
        for page in job_pages(context.batch, namespace, LABEL_NAME)
        for job in page.get("items") or []
    }


def sweep(context: OperatorContext) -> int:
    """Delete every resource that finished more than the TTL ago; how many were deleted."""
    now, ttl = utcnow(), context.settings.job_ttl
    old = [r for r in resources(context) if expired(r.get("status") or {}, ttl, now)]
    return sum(delete_expired(context, resource) for resource in old)


def resources(context: OperatorContext) -> Iterator[dict[str, Any]]:
    """The watched namespace's resources (every namespace's when cluster-wide), paged."""
    settings, token = context.settings, None
    while True:
        page: dict[str, Any] = {"limit": PAGE_SIZE}
        if token:
            page["_continue"] = token
        if settings.operator_cluster_wide:
            listing = context.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **page)
        else:
            namespace = settings.kubernetes_namespace
            listing = context.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, **page
            )
        listing = cast(dict[str, Any], listing)
        yield from listing.get("items") or []
        token = (listing.get("metadata") or {}).get("continue")
        if not token:
            return


def delete_expired(context: OperatorContext, resource: Mapping[str, Any]) -> bool:
    """Delete the resource's upload, then the resource (unless a new one took its name);
    ``True`` if this call deleted it. The file goes first: a kill in between leaves an
    expired resource without its file, which the next sweep deletes, never an orphaned file."""
    metadata = resource["metadata"]
    artifact_id = ((resource.get("spec") or {}).get("parameters") or {}).get("artifactId")
    if artifact_id:
        context.artifacts.delete(artifact_id)
    options = V1DeleteOptions(
        propagation_policy="Background", preconditions=V1Preconditions(uid=metadata["uid"])
    )
    try:
        with kube_errors():
            context.custom.delete_namespaced_custom_object(
                GROUP, VERSION, metadata["namespace"], PLURAL, metadata["name"], body=options
            )
    except ResourceConflictError:  # the uid precondition: a new resource took the name
        return False
    except ResourceNotFoundError:
        return False
    return True
