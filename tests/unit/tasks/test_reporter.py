"""The coalescing reporter: each whole percent a short job reaches, a fast job's percents at
most twice a second after a burst, other changes every few seconds, always the last: a
bounded number of status writes whatever the task's pace."""

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


def test_a_million_updates_over_100_s_become_one_write_per_whole_percent() -> None:
    sink = RecordingSink()
    clock = FakeClock()
    reporter = CoalescingReporter(sink, clock=clock)
    for row in range(1, 1_000_001):
        clock.now += 0.0001
        reporter.update(row * 100 / 1_000_000, f"row {row}")
    reporter.flush()
    assert [p for p, _ in sink.writes] == list(range(101))
    assert sink.writes[-1] == (100, "row 1000000")


def test_a_fast_job_writes_a_burst_then_at_most_twice_a_second() -> None:
    sink = RecordingSink()
    clock = FakeClock()
    reporter = CoalescingReporter(sink, burst=20, clock=clock)
    for step in range(1, 101):  # 100 percent in 2 s
        clock.now += 0.02
        reporter.update(step, f"step {step}")
    reporter.flush()
    progress = [p for p, _ in sink.writes]
    assert progress[:21] == list(range(1, 22)), "the first write, then the burst"
    assert progress[-1] == 100
    assert len(progress) <= 1 + 20 + 2 / 0.5 + 1
    assert progress == sorted(progress)


def test_each_step_of_a_short_job_is_shown_as_it_is_reached() -> None:
    sink = RecordingSink()
    clock = FakeClock()
    reporter = CoalescingReporter(sink, clock=clock)
    steps = [(0, "Loading"), (10, "Preparing page 1"), (20, "Recognising page 1"), (80, "Matching")]
    for percent, message in steps:  # a few tenths of a second apart
        reporter.update(percent, message)
        clock.now += 0.1
    assert sink.writes == steps


def test_a_slow_job_of_an_hour_writes_a_bounded_number_of_times() -> None:
    sink = RecordingSink()
    clock = FakeClock()
    reporter = CoalescingReporter(sink, clock=clock)
    for second in range(3600):  # the message changes every second, the percent slowly
        clock.now += 1.0
        reporter.update(second / 36, f"second {second}")
    reporter.flush()
    assert len(sink.writes) <= 100 + 3600 / 5 + 1


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
