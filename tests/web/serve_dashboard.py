"""``bkjobs serve --demo`` with the dashboard installed, for the browser test while
``create_app`` does not install it itself (once it does, the test runs ``bkjobs serve``).

    python -m tests.web.serve_dashboard --port 8000 --data-dir var --workers 1
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.dashboard import DASHBOARD_URL, install_dashboard
from bookkeeper_jobs.cli import prepare_demo, server_settings
from bookkeeper_jobs.instance_lock import bound_socket, data_dir_lock


def has_dashboard(app: FastAPI) -> bool:
    return any(getattr(route, "path", None) == f"{DASHBOARD_URL}/" for route in app.routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    settings = server_settings(args, worker_concurrency=args.workers)
    with data_dir_lock(settings.data_dir), bound_socket(args.host, args.port) as listener:
        port = listener.getsockname()[1]
        settings = prepare_demo(settings, f"http://{args.host}:{port}")
        app = create_app(settings)
        if not has_dashboard(app):
            install_dashboard(app)
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=port, log_level="info"))
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])


if __name__ == "__main__":
    main()
