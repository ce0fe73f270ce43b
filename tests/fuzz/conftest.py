"""Fixtures of the fuzzing suite: one live server (with its worker processes) and a tally of
the statuses it answered, printed at the end of the run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.api.harness import LiveServer, api_settings, serve

StatusTally = Counter[tuple[str, int]]
"""How many answers of each status each caller got: ``{("with key", 202): 31, ...}``."""
STATUS_TALLY = pytest.StashKey[StatusTally]()


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(api_settings(tmp_path_factory.mktemp("fuzz"))) as server:
        yield server


@pytest.fixture(scope="session")
def status_tally(pytestconfig: pytest.Config) -> StatusTally:
    return pytestconfig.stash.setdefault(STATUS_TALLY, Counter())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    tally = config.stash.get(STATUS_TALLY, None)
    if tally:
        terminalreporter.write_line(summary_of(tally))


def summary_of(tally: StatusTally) -> str:
    """``fuzzing: 812 requests (with key: 202=31, 403=240, …; without key: …); 5xx: 0``."""
    parts = []
    for caller in sorted({caller for caller, _ in tally}):
        counts = sorted((status, n) for (name, status), n in tally.items() if name == caller)
        parts.append(f"{caller}: " + ", ".join(f"{status}={n}" for status, n in counts))
    server_errors = sum(n for (_, status), n in tally.items() if status >= 500)
    return f"fuzzing: {sum(tally.values())} requests ({'; '.join(parts)}); 5xx: {server_errors}"
