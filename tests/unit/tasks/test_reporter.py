"""The coalescing reporter: at most about one write a second, every whole percent, the last."""

from __future__ import annotations

from dataclasses import dataclass, field

from bookkeeper_jobs.tasks.reporter import CoalescingReporter


@dataclass
class RecordingSink:
    writes: list[tuple[int, str]] = field(default_factory=list)
    cancel: bool = False

    def write_progress(self, progress: int, message: str) -> None:
        self.writes.append((progress, message))

    def cancel_requested(self) -> bool:
        return self.cancel


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_million_updates_become_one_write_per_whole_percent() -> None:
    sink = RecordingSink()
    reporter = CoalescingReporter(sink, clock=FakeClock())
    for row in range(1, 1_000_001):
        reporter.update(row * 100 / 1_000_000, f"row {row}")
    reporter.flush()
    assert [p for p, _ in sink.writes] == list(range(101))
    assert sink.writes[-1] == (100, "row 1000000")


def test_message_only_changes_are_written_at_most_once_per_interval() -> None:
    sink = RecordingSink()
    clock = FakeClock()
    reporter = CoalescingReporter(sink, interval=1.0, clock=clock)
    reporter.update(10, "a")
    for step in range(10):
        clock.now += 0.25
        reporter.update(10, f"message {step}")
    assert [m for _, m in sink.writes] == ["a", "message 3", "message 7"]


def test_flush_writes_the_last_update_once() -> None:
    sink = RecordingSink()
    reporter = CoalescingReporter(sink, clock=FakeClock())
    reporter.update(50, "half")
    reporter.update(50, "still half")
    reporter.flush()
    reporter.flush()
    assert sink.writes == [(50, "half"), (50, "still half")]


def test_progress_never_goes_back_and_is_clamped() -> None:
    sink = RecordingSink()
    reporter = CoalescingReporter(sink, clock=FakeClock())
    reporter.update(40, "forty")
    reporter.update(20, "back?")
    reporter.update(250, "over")
    reporter.flush()
    assert sink.writes == [(40, "forty"), (100, "over")]


def test_cancelled_asks_the_sink() -> None:
    sink = RecordingSink()
    reporter = CoalescingReporter(sink)
    assert not reporter.cancelled()
    sink.cancel = True
    assert reporter.cancelled()
