"""Which function runs which job type, by dotted path (``module:function``).

Paths rather than objects so a worker process (or a task container) imports only the task
it runs, and so tests can hand a backend a table of scripted tasks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeAlias

from bookkeeper_jobs.jobs import JobType
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskFunction

TaskTable: TypeAlias = Mapping[str, str]

DEFAULT_TASKS: TaskTable = {
    JobType.CATEGORIZE.value: "bookkeeper_jobs.tasks.categorize:categorize",
    JobType.BULK_APPROVE.value: "bookkeeper_jobs.tasks.approve:bulk_approve",
    JobType.UPLOAD_AND_CATEGORIZE.value: "bookkeeper_jobs.tasks.upload:upload_and_categorize",
}


def task_table_for(settings: Settings) -> TaskTable:
    """The defaults with the settings' overrides (``BKJOBS_TASKS``) applied."""
    return {**DEFAULT_TASKS, **settings.tasks}


def resolve_task(path: str) -> TaskFunction:
    module_name, _, attribute = path.partition(":")
    function: TaskFunction = getattr(importlib.import_module(module_name), attribute)
    return function
