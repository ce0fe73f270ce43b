"""Error answers: every 4xx body is ``{"detail": ...}`` and stays a few KB, whatever was sent.

A request with 100,000 ids, a 900 KB form field or a 20,000-character job id is refused with
an answer that names the field and shows the start of what was sent, never all of it: a
client that logs error bodies, or retries in a loop, must not pay for the input twice.
Validation errors keep FastAPI's ``detail`` list shape (``type``, ``loc``, ``msg``,
``input``, ``ctx``) with ``input`` and the ``ctx`` values cut to a small bound, and at most
as many errors as fit in :data:`MAX_BODY_CHARS` (then one last entry says how many more).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.status import HTTP_400_BAD_REQUEST, HTTP_422_UNPROCESSABLE_CONTENT

MAX_ECHOED_CHARS = 200
"""Characters of a refused value (``input``, a quoted id) an answer repeats."""
MAX_ECHOED_ITEMS = 5
"""Items of a refused list or object an answer repeats."""
MAX_CONTEXT_CHARS = 100
"""Characters of each ``ctx`` value (a pattern, a limit, the JSON decoder's complaint)."""
MAX_MESSAGE_CHARS = 300
"""Characters of one error's ``msg``, and of each ``loc`` part (a 900 KB unknown key)."""
MAX_DETAIL_CHARS = 1_000
"""Characters of a plain ``detail`` string (an HTTPException's)."""
MAX_BODY_CHARS = 3_500
"""Validation errors are listed while the body stays under this; the first one always is
(one error of a flat body model is at most about 1.5 KB), so the answer stays under 4 KiB."""
MAX_DEPTH = 2
"""Containers nested deeper than this are summarised (``<list of 3 items>``)."""


class Problem(BaseModel):
    """The body of an error answer (a validation error's ``detail`` is a list instead)."""

    detail: str = Field(description="What was wrong, naming the field or the value.")


def clipped(text: str, limit: int = MAX_ECHOED_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def quoted(value: str) -> str:
    """``value`` quoted for a message (``repr``), cut so a huge value cannot flood it."""
    return repr(clipped(value))


@dataclass
class _Budget:
    """Characters an echoed value may still spend, shared by all its parts."""

    chars: int

    def spend(self, wanted: int) -> int:
        granted = max(0, min(wanted, self.chars))
        # Every part costs at least one character, so a budget always runs out.
        self.chars -= max(wanted, 1)
        return granted


def bounded(value: object, limit: int = MAX_ECHOED_CHARS) -> object:
    """A JSON-able copy of ``value`` that spends about ``limit`` characters on its content:
    long strings are cut, lists and objects keep a few items and say how many more."""
    return _bounded(value, _Budget(limit), depth=0)


def _bounded(value: object, budget: _Budget, depth: int) -> object:
    if value is None or isinstance(value, bool):
        budget.spend(4)
        return value
    if isinstance(value, int | float):
        text = repr(value)
        # A JSON number may have 4,300 digits; beyond the budget it is shown as cut text.
        return value if budget.spend(len(text)) == len(text) else clipped(text, 20)
    if isinstance(value, bytes | bytearray):
        granted = budget.spend(len(value))
        text = bytes(value[:granted]).decode("utf-8", "replace")
        return text if granted == len(value) else f"{text}… ({len(value) - granted} more bytes)"
    if isinstance(value, str):
        return clipped(value, budget.spend(len(value)))
    if isinstance(value, Mapping):
        return _bounded_mapping(value, budget, depth)
    if isinstance(value, Sequence | set | frozenset):
        return _bounded_items(value, budget, depth)
    text = str(value)  # an exception in ``ctx``, a Decimal: echo its text
    return clipped(text, budget.spend(len(text)))


def _bounded_mapping(value: Mapping[Any, Any], budget: _Budget, depth: int) -> object:
    if depth >= MAX_DEPTH:
        return f"<object of {len(value)} keys>"
    shown: dict[str, object] = {}
    for key, item in islice(value.items(), MAX_ECHOED_ITEMS):
        if budget.chars <= 0:
            break
        shown[clipped(str(key), MAX_CONTEXT_CHARS)] = _bounded(item, budget, depth + 1)
    if len(value) > len(shown):
        shown["…"] = f"{len(value) - len(shown)} more keys"
    return shown


def _bounded_items(
    value: Sequence[Any] | set[Any] | frozenset[Any], budget: _Budget, depth: int
) -> object:
    if depth >= MAX_DEPTH:
        return f"<list of {len(value)} items>"
    shown: list[object] = []
    for item in islice(value, MAX_ECHOED_ITEMS):
        if budget.chars <= 0:
            break
        shown.append(_bounded(item, budget, depth + 1))
    if len(value) > len(shown):
        shown.append(f"… {len(value) - len(shown)} more items")
    return shown


def bounded_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """One validation error in FastAPI's shape, with what it quotes cut to size."""
    shown: dict[str, Any] = {
        "type": error.get("type", "value_error"),
        "loc": [
            part if isinstance(part, int) else clipped(str(part), MAX_MESSAGE_CHARS)
            for part in error.get("loc", ())
        ],
        "msg": clipped(str(error.get("msg", "")), MAX_MESSAGE_CHARS),
    }
    if "input" in error:
        shown["input"] = bounded(error["input"])
    context = error.get("ctx")
    if isinstance(context, Mapping):
        shown["ctx"] = {
            clipped(str(key), MAX_CONTEXT_CHARS): bounded(item, MAX_CONTEXT_CHARS)
            for key, item in islice(context.items(), MAX_ECHOED_ITEMS)
        }
    encoded: dict[str, Any] = jsonable_encoder(shown)
    return encoded


def bounded_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """As many of ``errors`` as fit the body bound, then a note of how many were left out."""
    shown: list[dict[str, Any]] = []
    used = 0
    for error in errors:
        entry = bounded_error(error)
        size = len(json.dumps(entry, ensure_ascii=False))
        if shown and used + size > MAX_BODY_CHARS:
            break
        shown.append(entry)
        used += size
    left_out = len(errors) - len(shown)
    if left_out:
        shown.append(
            {
                "type": "too_many_errors",
                "loc": ["body"],
                "msg": f"… and {left_out} more errors (fix these first)",
            }
        )
    return shown


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 in FastAPI's shape, with what the errors quote cut to size."""
    assert isinstance(exc, RequestValidationError)  # registered for it alone
    return JSONResponse(
        {"detail": bounded_errors(exc.errors())}, status_code=HTTP_422_UNPROCESSABLE_CONTENT
    )


async def bounded_http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's HTTPException answer (headers, no body for 304), with ``detail`` cut to
    size: whatever a route quotes in its message, the answer stays small."""
    assert isinstance(exc, StarletteHTTPException)  # registered for it alone
    if (body_error := unparsable_body_error(exc)) is not None:
        return JSONResponse(
            {"detail": bounded_errors([body_error])}, status_code=HTTP_422_UNPROCESSABLE_CONTENT
        )
    if isinstance(exc.detail, str):
        detail: Any = clipped(exc.detail, MAX_DETAIL_CHARS)
    else:
        detail = bounded(exc.detail, MAX_DETAIL_CHARS)
    small = HTTPException(exc.status_code, detail=detail, headers=exc.headers)
    return await http_exception_handler(request, small)


def unparsable_body_error(exc: StarletteHTTPException) -> dict[str, Any] | None:
    """The validation error for a body the framework could not parse at all, if that is
    what ``exc`` is.

    FastAPI answers JSON that is not UTF-8 (or nested too deep to decode) and Starlette a
    broken multipart form (no boundary, cut short) with a bare 400 that names nothing; every
    other malformed body is a 422 whose ``loc`` starts at ``body``, and so are these."""
    if exc.status_code != HTTP_400_BAD_REQUEST:
        return None
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, UnicodeDecodeError):
        return _json_invalid(f"not UTF-8: {cause.reason} at byte {cause.start}")
    if isinstance(cause, RecursionError):
        return _json_invalid("nested too deeply")
    if isinstance(cause, MultiPartException):
        message = f"not a multipart/form-data body: {cause.message}"
        return {"type": "multipart_invalid", "loc": ["body"], "msg": message, "input": {}}
    return None


def _json_invalid(reason: str) -> dict[str, Any]:
    """FastAPI's error for malformed JSON, about the whole body."""
    return {
        "type": "json_invalid",
        "loc": ["body"],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": reason},
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Answer validation errors and HTTPExceptions with bounded bodies."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, bounded_http_error)


def problem(description: str) -> dict[str, Any]:
    """One error answer for a route's ``responses``: what it means, and its body model."""
    return {"description": description, "model": Problem}
