"""kopf's settings for our operator, applied by its one ``on.startup`` handler.

Our own identity everywhere (KUBERNETES.md, pitfall 8): the finalizer and the annotations
that hold kopf's progress and last-handled state carry the ``jobs.bookkeeper.ai`` prefix.
Annotations, not ``status.kopf``: the CRD's structural schema would prune that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from typing import Any

import kopf

from bookkeeper_jobs.resource import GROUP
from bookkeeper_jobs.settings import Settings

FINALIZER = f"{GROUP}/operator"
DIFFBASE_KEY = "last-handled-configuration"
WATCH_SERVER_TIMEOUT = 300  # an integer: kube-apiserver refuses timeoutSeconds=300.0 (ParseInt)
"""Seconds the API server keeps one watch open: below load balancers' idle cut-offs
(about 350 s on AWS), so a silently dropped stream is replaced in time (pitfall 4)."""
WATCH_CLIENT_TIMEOUT = 330.0
"""The client's bound on one watch request, in case the server does not end it."""
CONNECT_TIMEOUT = 30.0
CONSISTENCY_TIMEOUT = 120.0
"""Seconds kopf waits for its own patch of a resource to come back through the watch before it
takes an older event of that resource as current (kopf's default: 5). The events of a resource
before that patch lack kopf's last-handled annotation: taken as current, they are a new
creation, and kopf runs the create handler again. Under a burst the watch runs behind by more
than 5 s (10,000 queued: ~1,000 create handlers ran twice, each with a 409 create, two reads
and the admission lock, ahead of another tenant's new job in kopf's thread pool,
``bench/fairness.py``). Waiting costs a sleeping task; the patch's own event ends it, and a
watch delivers it before any later change of the resource (only a relist after the watch
expired can skip it: a change then waits up to this long)."""
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


class DigestedParametersDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base annotation with ``spec.parameters`` as its SHA-256: kopf copies the
    whole spec into that annotation to tell changes apart, and a bulk-approve of 10,000 ids
    (~350 KB) would pass the API server's 256 KiB limit on annotations, so every kopf patch
    would be refused. No handler reacts to the parameters (they are immutable once created);
    the digest still changes if they ever did."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        spec = essence.get("spec")
        if isinstance(spec, dict) and "parameters" in spec:
            text = json.dumps(spec["parameters"], sort_keys=True, separators=(",", ":"))
            spec["parameters"] = {"sha256": hashlib.sha256(text.encode()).hexdigest()}
        return essence


def configure(kopf_settings: kopf.OperatorSettings, settings: Settings) -> None:
    persistence = kopf_settings.persistence
    # Ours, should a handler ever need one; none does (no deletion handler, no timer).
    persistence.finalizer = FINALIZER
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    persistence.diffbase_storage = DigestedParametersDiffBase(prefix=GROUP, key=DIFFBASE_KEY)
    persistence.consistency_timeout = CONSISTENCY_TIMEOUT

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
