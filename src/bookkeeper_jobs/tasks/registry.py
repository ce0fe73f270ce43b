"""Which function runs which job type, by dotted path (``module:function``).

Paths rather than objects so a worker process (or a task container) imports only the task
it runs, and so tests can hand a backend a table of scripted tasks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TypeAlias

from bookkeeper_jobs.jobs import job_types
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskFunction

TaskTable: TypeAlias = Mapping[str, str]


def task_table_for(settings: Settings) -> TaskTable:
    """Each registered job type's task, with the settings' overrides (``BKJOBS_TASKS``)."""
    return {**{info.name: info.task for info in job_types()}, **settings.tasks}


def resolve_task(path: str) -> TaskFunction:
    module_name, _, attribute = path.partition(":")
    function: TaskFunction = getattr(importlib.import_module(module_name), attribute)
    return function
