"""Deleting finished BookkeepingJobs past their TTL (``BKJOBS_JOB_TTL``), as the embedded
mode's sweep does: the resource (its Job and pods follow by owner reference) and its upload.

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
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION

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
    """Sweep now and then every ``sweep_interval`` seconds until cancelled, whenever this
    operator is the acting one."""
    while True:
        try:
            with kube_errors():
                if await asyncio.to_thread(acting, context):
                    await asyncio.to_thread(sweep, context)
        except KubernetesApiError as exc:
            log.warning("TTL sweep failed (%s); trying again later", exc)
        await asyncio.sleep(context.settings.sweep_interval)


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
