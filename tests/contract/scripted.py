"""A scripted task for the contract suite: the spec's ``company_id`` names the scenario.

Attempts are counted in files under ``BKJOBS_TEST_SCRIPT_DIR`` (the workers inherit the
environment), so a scenario can fail on its first attempts and succeed later.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bookkeeper_jobs.errors import FatalTaskError, RetryableTaskError
from bookkeeper_jobs.jobs import job_types
from bookkeeper_jobs.tasks.context import TaskContext

SCRIPTED_TASKS = dict.fromkeys((info.name for info in job_types()), "tests.contract.scripted:run")
"""Every built-in job type runs this module's scenarios (``BKJOBS_TASKS``)."""


class ScriptResult(BaseModel):
    """Whatever the scenario returns, as given."""

    model_config = ConfigDict(extra="allow")


def note(name: str) -> Path:
    """A file of the scenarios' notes: ``<key>`` (attempts so far), ``<key>.pid`` (the task
    process of the latest attempt), ``<key>.done`` (a slow scenario's work is over)."""
    return Path(os.environ["BKJOBS_TEST_SCRIPT_DIR"]) / name


def _attempt(job_key: str) -> int:
    marker = note(job_key)
    count = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(count))
    note(f"{job_key}.pid").write_text(str(os.getpid()))
    return count


def run(context: TaskContext[Any]) -> ScriptResult:
    return ScriptResult(**scenario(context))


def scenario(context: TaskContext[Any]) -> dict[str, Any]:
    spec, reporter = context.spec, context.reporter
    scenario = spec.company_id
    key = f"{scenario}-{spec.tenant_id}-{spec.limit}"
    attempt = _attempt(key)
    if scenario == "ok":
        for step in range(1, 11):
            reporter.update(step * 10, f"Step {step}/10")
        return {"steps": 10, "attempt": attempt}
    if scenario == "slow":
        for step in range(1, 101):
            reporter.update(step, f"Step {step}/100")
            time.sleep(0.1)
        note(f"{key}.done").touch()
        return {"steps": 100}
    if scenario == "hang":
        reporter.update(5, "Hanging")
        time.sleep(3600)
    if scenario == "fatal":
        raise FatalTaskError("the statement has no usable rows")
    if scenario == "flaky":
        if attempt < 3:
            raise RetryableTaskError(f"database is locked (attempt {attempt})")
        return {"attempt": attempt}
    if scenario == "always-retryable":
        raise RetryableTaskError("service unavailable")
    if scenario == "crash-once":
        if attempt == 1:
            reporter.update(20, "About to crash")
            os._exit(137)
        return {"attempt": attempt}
    if scenario == "vanish":  # exits 0 without reporting a result: the Job completes
        reporter.update(10, "About to vanish")
        os._exit(0)
    if scenario == "boom":
        raise KeyError("unexpected")
    raise AssertionError(f"unknown scenario {scenario!r}")
