"""The OpenAPI document, with each job type's result model where a job's ``result`` is.

``JobView.result`` is stored JSON whose model depends on the job type; the registry knows
each type's result model, so the document names them all (``anyOf``) and lists the job
types in ``JobView.type``. Generated once, on the first request for ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bookkeeper_jobs.jobs import job_types

REF = "#/components/schemas/{model}"


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
