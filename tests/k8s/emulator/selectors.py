"""Label and field selectors, parsed and matched as the API server does.

Controllers list and watch only what a selector picks (kopf's ``labels=`` filters, the Job
controller's ``batch.kubernetes.io/controller-uid``), so both list and watch filter here.
Field selectors accept only the fields a resource type supports; anything else is a
400, as on a real server.
See https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
and https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

JsonObject = dict[str, Any]
_SET_RE = re.compile(
    r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|=|!=)\s*(\S*))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One clause: ``key op values`` where op is in, notin, =, !=, exists or !exists."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator in ("in", "="):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # notin, !=


def _split_clauses(text: str) -> list[str]:
    """Commas separate clauses except inside the parentheses of ``in``/``notin``."""
    clauses, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            clauses.append(current)
            current = ""
        else:
            current += char
    clauses.append(current)
    return [c for c in clauses if c.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    requirements = []
    for clause in _split_clauses(text or ""):
        match = _SET_RE.match(clause)
        if not match:
            raise bad_request(f"unable to parse requirement: invalid label selector: {clause!r}")
        negated, key, set_op, set_values, eq_op, eq_value = match.groups()
        if negated and (set_op or eq_op):
            raise bad_request(f"unable to parse requirement: {clause!r}")
        if set_op:
            values = frozenset(v.strip() for v in set_values.split(",") if v.strip())
            requirements.append(Requirement(key, set_op, values))
        elif eq_op:
            requirements.append(
                Requirement(key, "!=" if eq_op == "!=" else "=", frozenset({eq_value}))
            )
        else:
            requirements.append(Requirement(key, "!exists" if negated else "exists"))
    return requirements


def _field_value(obj: JsonObject, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_field_selector(
    text: str | None, supported: Collection[str]
) -> list[tuple[str, bool, str]]:
    """``(field, equal, value)`` triples; unsupported fields are refused with 400."""
    terms = []
    for clause in _split_clauses(text or ""):
        match = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(\S*)\s*", clause)
        if not match:
            raise bad_request(f"invalid field selector: {clause!r}")
        name, operator, value = match.groups()
        if name not in supported:
            raise bad_request(f'field label not supported: "{name}"')
        terms.append((name, operator != "!=", value))
    return terms


def object_predicate(
    label_selector: str | None,
    field_selector: str | None,
    supported_fields: Collection[str],
    namespace: str | None = None,
) -> Callable[[JsonObject], bool]:
    """One test for an object: inside ``namespace`` (if any) and matching both selectors."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector, supported_fields)

    def matches(obj: JsonObject) -> bool:
        metadata = obj.get("metadata", {})
        if namespace is not None and metadata.get("namespace") != namespace:
            return False
        object_labels = metadata.get("labels") or {}
        if not all(r.matches(object_labels) for r in labels):
            return False
        return all((_field_value(obj, f) == value) == equal for f, equal, value in fields)

    return matches
