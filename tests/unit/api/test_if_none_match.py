"""``If-None-Match`` follows RFC 9110 §13.1.2: ``*`` or the weak comparison of a list of
entity tags; anything else matches nothing, so the client gets the full answer."""

from __future__ import annotations

import pytest

from bookkeeper_jobs.api.routes.jobs import none_match

CURRENT = "job-1.7"


@pytest.mark.parametrize(
    "header",
    ['"job-1.7"', 'W/"job-1.7"', "*", ' "x" , W/"job-1.7" ', '"x",,"job-1.7"', " * "],
)
def test_matches(header: str) -> None:
    assert none_match(header, CURRENT)


@pytest.mark.parametrize(
    "header",
    ['"job-1.6"', 'W/"job-1.6"', 'W/"job-1.7"x', '"job-1.7', "job-1.7", '"job-1.7,"', ", ,", ""],
)
def test_does_not_match(header: str) -> None:
    assert not none_match(header, CURRENT)
