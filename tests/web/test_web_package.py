"""The web package's own checks, run by ``make test``: the generated OpenAPI types match the
Python API, the TypeScript compiles (strict), and the Vitest suite passes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.web.node import WEB, require_node


def test_the_committed_openapi_document_is_the_apis() -> None:
    """A field renamed in Python changes the document: regenerate with `npm run openapi`
    (which also rewrites the TypeScript types, so the TypeScript build sees the rename)."""
    dumped = subprocess.run(
        [sys.executable, str(WEB / "scripts" / "dump_openapi.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (WEB / "openapi.json").read_text()
    assert json.loads(dumped) == json.loads(committed), "run `npm run openapi` in web/"


def test_npm_test_passes() -> None:
    """`npm test`: openapi:check (schema.d.ts regenerated and compared), tsc, vitest."""
    require_node()
    result = subprocess.run(
        ["npm", "test"], cwd=WEB, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
