"""kopf's settings for our operator, applied by its one ``on.startup`` handler.

Our own identity everywhere (KUBERNETES.md, pitfall 8): the finalizer and the annotations
that hold kopf's progress and last-handled state carry the ``jobs.bookkeeper.ai`` prefix.
Annotations, not ``status.kopf``: the CRD's structural schema would prune that.
"""

from __future__ import annotations

import logging
import random

import kopf

from bookkeeper_jobs.resource import GROUP
from bookkeeper_jobs.settings import Settings

FINALIZER = f"{GROUP}/operator"
DIFFBASE_KEY = "last-handled-configuration"
WATCH_SERVER_TIMEOUT = 300.0
"""Seconds the API server keeps one watch open: below load balancers' idle cut-offs
(about 350 s on AWS), so a silently dropped stream is replaced in time (pitfall 4)."""
WATCH_CLIENT_TIMEOUT = 330.0
"""The client's bound on one watch request, in case the server does not end it."""
CONNECT_TIMEOUT = 30.0
PRIORITY_RANGE = (1, 2**31 - 1)
"""Where a replica's random peering priority comes from: two replicas draw the same one (and
both pause, kopf's rule for equal priorities) about once in two billion starts."""


def peering_priority(settings: Settings) -> int:
    """This process's kopf peering priority: ``BKJOBS_OPERATOR_PRIORITY``, else random.

    kopf pauses every operator that sees a live peer with a higher priority, and all of them
    when priorities are equal (https://docs.kopf.dev/en/latest/peering/). Replicas of one
    Deployment share their settings, so each draws its own priority: exactly one acts, and
    when it stops (its keep-alive is withdrawn on exit, or expires after kopf's peering
    lifetime) the one with the next highest priority resumes. An operator started by hand
    with ``BKJOBS_OPERATOR_PRIORITY=2147483647`` outranks every replica.
    """
    if settings.operator_priority is not None:
        return settings.operator_priority
    return random.randint(*PRIORITY_RANGE)


def configure(kopf_settings: kopf.OperatorSettings, settings: Settings) -> None:
    persistence = kopf_settings.persistence
    # Ours, should a handler ever need one; none does (no deletion handler, no timer).
    persistence.finalizer = FINALIZER
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key=DIFFBASE_KEY)

    kopf_settings.watching.server_timeout = WATCH_SERVER_TIMEOUT
    kopf_settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT
    kopf_settings.watching.connect_timeout = CONNECT_TIMEOUT

    # Handler log lines become Events only from warnings up; our Events are posted explicitly.
    kopf_settings.posting.level = logging.WARNING

    # Namespaced, kopf would list and watch namespaces cluster-wide to match patterns: a
    # namespaced install has no such permission, and kopf retried the 403 for ~54 s at every
    # start, watching nothing meanwhile. Our namespace is one exact name: no scanning.
    kopf_settings.scanning.disabled = not settings.operator_cluster_wide

    kopf_settings.peering.standalone = not settings.operator_peering
    if settings.operator_peering:
        kopf_settings.peering.name = settings.operator_peering
    kopf_settings.peering.clusterwide = settings.operator_cluster_wide
