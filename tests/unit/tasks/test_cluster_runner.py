"""The task container's progress sink: best effort, so an API server hiccup never fails
the task it reports on; a refused write (the job ended meanwhile) asks the task to stop."""

from __future__ import annotations

from typing import Any

from bookkeeper_jobs.errors import KubernetesApiError
from bookkeeper_jobs.lifecycle import Event
from bookkeeper_jobs.status_writes import ResourceRef
from bookkeeper_jobs.tasks.cluster_runner import StatusPatchSink


class FlakyWriter:
    """Answers like a StatusWriter whose API server fails, then refuses, as told."""

    ref = ResourceRef("books", "job-0123456789abcdef0123")

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.events: list[Event] = []

    def apply(self, event: Event) -> object:
        self.events.append(event)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def read(self) -> dict[str, Any]:
        raise KubernetesApiError(500, "InternalError", "etcd leader changed")


def test_a_failed_progress_write_is_logged_not_raised() -> None:
    writer = FlakyWriter([KubernetesApiError(500, "InternalError", "etcd"), object()])
    sink = StatusPatchSink(writer, attempt=1)  # type: ignore[arg-type]
    sink.write_progress(10, "Imported 10 rows")
    sink.write_progress(20, "Imported 20 rows")
    assert len(writer.events) == 2
    assert sink.cancel_requested() is False, "an unreadable cancel flag is not a cancel"


def test_a_refused_progress_write_asks_the_task_to_stop() -> None:
    sink = StatusPatchSink(FlakyWriter([None]), attempt=1)  # type: ignore[arg-type]
    sink.write_progress(10, "late")
    assert sink.cancel_requested() is True
