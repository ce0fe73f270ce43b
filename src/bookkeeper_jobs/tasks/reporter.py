"""Progress reporting for tasks: a task calls ``reporter.update(percent, message)`` as often
as it likes; :class:`CoalescingReporter` forwards few of those calls to the backend's sink
(every write is a status write a poller or watcher sees): when the whole percent grew (at
most a burst at once, then two a second), otherwise only every few seconds, and always the
last update (on ``flush``).
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
    """Coalesces updates into a bounded number of writes, whatever the task's pace.

    A write happens when the whole percent grew and a token is left, or when anything
    changed and ``interval`` seconds passed since the last write; ``flush`` writes the last
    update. Tokens: ``burst`` at the start, one more every ``min_gap`` seconds (never more
    than ``burst``), one spent per write of a grown percent. So a job of a few seconds shows
    each of its steps as it reaches it, a fast one writes at most ``burst`` of its percents
    at once and then two a second, and a job of ``T`` seconds writes at most ``min(100,
    burst + T / min_gap) + T / interval`` updates: about 120 for a 1,000,000-row import of
    100 s (at most 200 up to 500 s)."""

    def __init__(
        self,
        sink: ProgressSink,
        *,
        interval: float = 5.0,
        min_gap: float = 0.5,
        burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._interval = interval
        self._min_gap = min(min_gap, interval)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._written: tuple[int, str] | None = None
        self._pending: tuple[int, str] | None = None
        self._last_write = float("-inf")
        self._last_refill: float | None = None
        self._progress = 0

    def update(self, progress: float, message: str = "") -> None:
        percent = max(self._progress, min(100, max(0, int(progress))))
        self._progress = percent
        self._pending = (percent, message)
        if self._written is None:
            self._write()
        elif self._pending != self._written:
            now = self._clock()
            due = now - self._last_write >= self._interval
            if due or (percent > self._written[0] and self._take_token(now)):
                self._write()

    def cancelled(self) -> bool:
        return self._sink.cancel_requested()

    def flush(self) -> None:
        if self._pending is not None and self._pending != self._written:
            self._write()

    def _take_token(self, now: float) -> bool:
        if self._min_gap <= 0:
            return True
        if self._last_refill is not None:
            earned = (now - self._last_refill) / self._min_gap
            self._tokens = min(self._burst, self._tokens + earned)
        self._last_refill = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _write(self) -> None:
        assert self._pending is not None
        self._sink.write_progress(*self._pending)
        self._written = self._pending
        self._last_write = self._clock()
