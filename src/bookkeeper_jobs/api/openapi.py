"""The OpenAPI document, with each job type's result model where a job's ``result`` is,
and every status each route can answer.

``JobView.result`` is stored JSON whose model depends on the job type; the registry knows
each type's result model, so the document names them all (``anyOf``) and lists the job
types in ``JobView.type``. Generated once, on the first request for ``/openapi.json``.

Statuses that come from outside a route's own code are added here, where the reason is
app-wide: 401 on every operation behind the bearer token, 413 on every ``POST`` (the upload
size limit is a middleware in front of all of them), and for the start routes (built from
the registry by ``routes/start.py``) 403 for a company outside the grant and 409 for an
``Idempotency-Key`` reused with another body. Every error answer names its body model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bookkeeper_jobs.api.problems import Problem
from bookkeeper_jobs.jobs import job_types

REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": REF.format(model=Problem.__name__)}
VALIDATION_REF = {"$ref": REF.format(model="HTTPValidationError")}
UNAUTHORIZED = {
    "description": "No bearer token, or one that is unknown, expired or badly signed.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
}
TOO_LARGE = {
    "description": "The request body is larger than the upload limit "
    "(`BKJOBS_MAX_UPLOAD_BYTES`); refused before it is read."
}
START_ERRORS = {
    "403": {"description": "`company_id` is not in your grant, or `tenant_id` is not yours."},
    "409": {"description": "The `Idempotency-Key` was used before with another body."},
}
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The job's URL."}}


def typed_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` that documents the registered job types' results."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document_results(schema["components"]["schemas"])
            document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def document_results(components: dict[str, Any]) -> None:
    refs = []
    for info in job_types():
        model = info.result.model_json_schema(ref_template=REF, mode="serialization")
        components.update(model.pop("$defs", {}))
        components[info.result.__name__] = model
        refs.append({"$ref": REF.format(model=info.result.__name__)})
    view = components["JobView"]["properties"]
    view["result"] = {**view["result"], "anyOf": [*refs, {"type": "null"}]}
    view["type"] = {**view["type"], "enum": [info.name for info in job_types()]}


STORAGE_UNAVAILABLE = {
    "description": "The job store cannot be read or written now (see `/readyz`); retry later."
}
STORAGE_FULL = {"description": "The server's disk is full; nothing was stored. Retry later."}


def document_errors(schema: dict[str, Any]) -> None:
    """Add the app-wide statuses to each operation and the body model to each error."""
    start_paths = {f"/api/jobs/{info.name}" for info in job_types()}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", UNAUTHORIZED)
            if method == "post":
                responses.setdefault("413", TOO_LARGE)
            if operation.get("security"):  # every store read or write: see app.py
                responses.setdefault("503", STORAGE_UNAVAILABLE)
            if method == "post":
                responses.setdefault("507", STORAGE_FULL)
            if path in start_paths and method == "post":
                for code, answer in START_ERRORS.items():
                    responses.setdefault(code, answer)
                if "202" in responses:
                    responses["202"].setdefault("headers", LOCATION)
            for code, answer in responses.items():
                if code.isdigit() and int(code) >= 400 and "content" not in answer:
                    responses[code] = {**answer, "content": _error_content(code)}
            operation["responses"] = dict(sorted(responses.items()))  # as the docs list them
    schema["components"]["schemas"].setdefault(
        Problem.__name__, Problem.model_json_schema(ref_template=REF)
    )


def _error_content(code: str) -> dict[str, Any]:
    # A 422 is FastAPI's list of field errors, or a plain detail (a file that is not a
    # bank statement); every other error is a plain detail.
    body = {"anyOf": [VALIDATION_REF, PROBLEM_REF]} if code == "422" else PROBLEM_REF
    return {"application/json": {"schema": body}}
