"""A task's status writer held between its read and its write, so a test can land another
component's write (the user's cancel and the operator's answer) exactly there."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bookkeeper_jobs.status_writes import Resource, StatusWriter


@dataclass(frozen=True)
class HeldWriter(StatusWriter):
    """A StatusWriter whose first read returns, then waits until the test lets it go on:
    the task is held between its read and its write."""

    read_done: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    def read(self) -> Resource | None:
        found = super().read()
        if not self.read_done.is_set():
            self.read_done.set()
            assert self.go_on.wait(10), "the test never let the task go on"
        return found
