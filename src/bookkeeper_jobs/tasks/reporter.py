"""Progress reporting for tasks: a task calls ``reporter.update(percent, message)`` as often
as it likes; :class:`CoalescingReporter` forwards to the backend's sink at most about once a
second, at every whole percent, and always the last update (on ``flush``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class ProgressReporter(Protocol):
    def update(self, progress: float, message: str = "") -> None:
        """Report ``progress`` (0-100; lower values than already reported are ignored)."""

    def cancelled(self) -> bool:
        """True once cancellation was requested; long tasks may stop early."""


class ProgressSink(Protocol):
    """Where coalesced progress goes: a SQLite row locally, a status patch in a cluster."""

    def write_progress(self, progress: int, message: str) -> None: ...

    def cancel_requested(self) -> bool: ...


class CoalescingReporter:
    """Coalesces updates: writes when the whole percent grows, or when ``interval`` seconds
    have passed since the last write and something changed; ``flush`` writes the last one."""

    def __init__(
        self,
        sink: ProgressSink,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._interval = interval
        self._clock = clock
        self._written: tuple[int, str] | None = None
        self._pending: tuple[int, str] | None = None
        self._last_write = float("-inf")
        self._progress = 0

    def update(self, progress: float, message: str = "") -> None:
        percent = max(self._progress, min(100, max(0, int(progress))))
        self._progress = percent
        self._pending = (percent, message)
        if (
            self._written is None
            or percent > self._written[0]
            or (
                self._pending != self._written
                and self._clock() - self._last_write >= self._interval
            )
        ):
            self._write()

    def cancelled(self) -> bool:
        return self._sink.cancel_requested()

    def flush(self) -> None:
        if self._pending is not None and self._pending != self._written:
            self._write()

    def _write(self) -> None:
        assert self._pending is not None
        self._sink.write_progress(*self._pending)
        self._written = self._pending
        self._last_write = self._clock()
