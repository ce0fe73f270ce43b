"""The trivial job of ``bench/pickup_side_by_side.py``'s RQ side.

Standard library only: an ``rq worker`` does not import a job's module itself, each forked
work horse imports it when it calls the job, so a heavy module here would charge RQ an import
per job that a small deployment's tasks module need not cost.
"""

from __future__ import annotations

import time


def started() -> float:
    """The job's own start: the wall clock (``time.time()``) as the job's code begins."""
    return time.time()
