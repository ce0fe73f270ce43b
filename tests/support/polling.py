"""One way to wait for something in a test: poll a function until it returns a true value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """``check()``'s first true value; fails the test (saying ``what`` and the last value)
    when ``timeout`` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while (value := _checked(check, deadline, timeout, what)) is None:
        time.sleep(interval)
    return value


async def wait_until_async(
    check: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """:func:`wait_until` for a test running on an event loop (it sleeps without blocking)."""
    deadline = time.monotonic() + timeout
    while (value := _checked(check, deadline, timeout, what)) is None:
        await asyncio.sleep(interval)
    return value


def _checked(check: Callable[[], T | None], deadline: float, timeout: float, what: str) -> T | None:
    value = check()
    if value:
        return value
    if time.monotonic() > deadline:
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what or check!r}; last value: {value!r}"
        )
    return None
