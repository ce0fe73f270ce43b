"""Mapping Kubernetes REST paths to what they address.

``/api/v1/namespaces/default/pods/x/status`` and friends: the legacy core group under
``/api``, named groups under ``/apis``, optional ``namespaces/<ns>`` prefix for namespaced
types, the deprecated ``watch/`` prefix, and discovery documents at every level.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#standard-api-terminology
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError
from .resources import ResourceType
from .state import State


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


@dataclass(frozen=True)
class Target:
    """What a request path names: a discovery document or a resource (collection)."""

    discovery: str | None = None  # "version", "api", "apis", "group", "resources"
    group: str = ""
    version: str = ""
    rtype: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch: bool = False


def route(path: str, state: State) -> Target:
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return Target("version")
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            return Target("api")
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        if len(parts) <= 2:
            return Target("apis" if len(parts) == 1 else "group", group=parts[-1])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise path_not_found()
    if not rest:
        return Target("resources", group=group, version=version)
    watch = rest[0] == "watch"
    rest = rest[1:] if watch else rest
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = state.type_for(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    rtype = state.type_for(group, version, rest[0]) if rest else None
    if rtype is None or len(rest) > 3 or (len(rest) > 1 and rtype.namespaced and namespace is None):
        raise path_not_found()
    return Target(
        group=group,
        version=version,
        rtype=rtype,
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else None,
        subresource=rest[2] if len(rest) > 2 else None,
        watch=watch,
    )
