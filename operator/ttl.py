"""Deleting finished BookkeepingJobs past their TTL (``BKJOBS_JOB_TTL``), as the embedded
mode's sweep does: the resource (its Job and pods follow by owner reference) and its upload.

One loop per operator lists the resources every ``BKJOBS_SWEEP_INTERVAL`` seconds. Not a
per-object ``kopf.timer``: kopf puts a finalizer on every object a timer watches, which
would block deleting finished jobs whenever the operator is down (KUBERNETES.md, pitfall 7).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from kubernetes.client import V1DeleteOptions, V1Preconditions
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.status import CONFLICT, NOT_FOUND
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)
PAGE_SIZE = 500


def expired(status: Mapping[str, Any], ttl: float, now: datetime) -> bool:
    finished_at = status.get("finishedAt")
    if not finished_at:
        return False
    finished = datetime.fromisoformat(str(finished_at).replace("Z", "+00:00"))
    return now - finished >= timedelta(seconds=ttl)


async def sweep_forever(context: OperatorContext) -> None:
    """Sweep now and then every ``sweep_interval`` seconds until cancelled."""
    while True:
        try:
            await asyncio.to_thread(sweep, context)
        except ApiException as exc:
            log.warning("TTL sweep failed (%s %s); trying again later", exc.status, exc.reason)
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
    """Delete the resource (unless a new one took its name) and its upload; ``True`` if
    this call deleted it."""
    metadata = resource["metadata"]
    options = V1DeleteOptions(
        propagation_policy="Background", preconditions=V1Preconditions(uid=metadata["uid"])
    )
    try:
        context.custom.delete_namespaced_custom_object(
            GROUP, VERSION, metadata["namespace"], PLURAL, metadata["name"], body=options
        )
        deleted = True
    except ApiException as exc:
        if exc.status == CONFLICT:  # the uid precondition: a new resource took the name
            return False
        if exc.status != NOT_FOUND:
            raise
        deleted = False
    artifact_id = ((resource.get("spec") or {}).get("parameters") or {}).get("artifactId")
    if artifact_id:
        context.artifacts.delete(artifact_id)
    return deleted
