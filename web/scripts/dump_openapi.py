"""Print the API's OpenAPI document as JSON: the source of the web package's generated types.

Builds the app as the API serves it, without worker processes or a data directory of any
use (a throwaway one), so it runs anywhere the Python package is installed::

    python web/scripts/dump_openapi.py > web/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.settings import Settings


def openapi_document() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bkjobs-openapi-") as data_dir:
        settings = Settings(environment="test", data_dir=Path(data_dir))
        document: dict[str, object] = create_app(settings, run_workers=False).openapi()
        return document


if __name__ == "__main__":
    json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
