"""API errors as the Kubernetes API server reports them: a ``Status`` object.

Clients (the official ``kubernetes`` client, kopf, kubectl) branch on ``code`` and
``reason``, so every refusal the emulator makes is an :class:`ApiError` that the HTTP
layer turns into a ``Status`` body, and the Python-level API raises unchanged.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#resources-and-status-codes
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A request the API server refuses; ``status`` is the ``Status`` body it answers."""

    def __init__(
        self, code: int, reason: str, message: str, details: JsonObject | None = None
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @property
    def status(self) -> JsonObject:
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(group_resource: str, name: str) -> JsonObject:
    plural, _, group = group_resource.partition(".")
    details: JsonObject = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def not_found(group_resource: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{group_resource} "{name}" not found',
        _details(group_resource, name),
    )


def already_exists(group_resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{group_resource} "{name}" already exists',
        _details(group_resource, name),
    )


def conflict(group_resource: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {group_resource} "{name}": {why}',
        _details(group_resource, name),
    )


def invalid(kind: str, group_resource: str, name: str, causes: list[JsonObject]) -> ApiError:
    """422 with one cause per field, the shape ``kubectl`` prints and clients parse."""
    summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    group = group_resource.partition(".")[2]
    qualified = f"{kind}.{group}" if group else kind
    details = _details(group_resource, name)
    details["kind"] = kind
    details["causes"] = causes
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def cause(reason: str, field: str, message: str) -> JsonObject:
    return {"reason": reason, "field": field, "message": message}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        f"application/strategic-merge-patch+json; got {content_type}",
    )


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method ({method}) on the requested resource",
    )


def expired(resource_version: int, oldest: int) -> ApiError:
    """The watch answer for a compacted resourceVersion (410 Gone, reason Expired)."""
    return ApiError(
        410,
        "Expired",
        f"too old resource version: {resource_version} ({oldest})",
    )


def success_status(group_resource: str, name: str, uid: str) -> JsonObject:
    details = _details(group_resource, name)
    details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
