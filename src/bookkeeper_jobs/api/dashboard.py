"""The background jobs dashboard at ``/dashboard/background-jobs``: the page built by Vite
from ``web/`` (``npm run build:dashboard``), shipped in this package as ``dashboard_dist/``,
so the API serves it without Node. Call :func:`install_dashboard` on the app.

The page is static: it signs in with an API key kept in the tab's session storage and calls
the API like any other client. It loads nothing from another host, and the Content Security
Policy on its page says so to the browser.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

DASHBOARD_URL = "/dashboard/background-jobs"
DIST_DIR = Path(__file__).parent / "dashboard_dist"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def install_dashboard(app: FastAPI, dist_dir: Path = DIST_DIR) -> None:
    """Serve the built dashboard: its page at ``DASHBOARD_URL/`` (the bare URL redirects
    there, so the page's relative asset URLs resolve) and its files under ``assets/``."""
    index = dist_dir / "index.html"
    assets = dist_dir / "assets"

    async def page(request: Request) -> Response:
        if not index.is_file():
            return JSONResponse(
                {"detail": "the dashboard is not built: run `npm run build` in web/"},
                status_code=503,
            )
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def to_page(request: Request) -> RedirectResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return RedirectResponse(f"{root}{DASHBOARD_URL}/", status_code=308)

    app.add_api_route(DASHBOARD_URL, to_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{DASHBOARD_URL}/", page, methods=["GET"], include_in_schema=False)
    # check_dir=False: an unbuilt tree still starts (the page then says what to run).
    app.mount(
        f"{DASHBOARD_URL}/assets",
        StaticFiles(directory=assets, check_dir=False),
        name="dashboard-assets",
    )
