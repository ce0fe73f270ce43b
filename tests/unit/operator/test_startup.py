"""kopf's settings for our operator: a namespaced install asks for nothing cluster-wide."""

from __future__ import annotations

import kopf

from bookkeeper_jobs.operator.startup import FINALIZER, configure
from bookkeeper_jobs.settings import Settings


def configured(**options: object) -> kopf.OperatorSettings:
    kopf_settings = kopf.OperatorSettings()
    configure(kopf_settings, Settings(environment="test", **options))  # type: ignore[arg-type]
    return kopf_settings


def test_a_namespaced_operator_does_not_scan_namespaces() -> None:
    """Scanning lists and watches every namespace (kopf's observation.py), which a namespaced
    install's Role does not allow: kopf retried the 403 for ~54 s at every start."""
    assert configured(operator_cluster_wide=False).scanning.disabled is True


def test_a_cluster_wide_operator_keeps_kopfs_scanning() -> None:
    assert configured(operator_cluster_wide=True).scanning.disabled is False


def test_our_finalizer_and_annotations_carry_our_prefix() -> None:
    kopf_settings = configured()
    assert kopf_settings.persistence.finalizer == FINALIZER == "jobs.bookkeeper.ai/operator"
