"""install_dashboard serves the built page and its files, with nothing from another host."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.dashboard import DASHBOARD_URL, DIST_DIR, install_dashboard
from bookkeeper_jobs.ledger.accounts import DEFAULT_CHART
from tests.api.harness import api_settings
from tests.web.node import ROOT


def dashboard_app(tmp_path: Path, dist_dir: Path | None = None) -> FastAPI:
    """The API's app (which installs the shipped dashboard), or a bare app with the
    dashboard of ``dist_dir`` installed alone."""
    if dist_dir is None:
        return create_app(api_settings(tmp_path), run_workers=False)
    app = FastAPI()
    install_dashboard(app, dist_dir)
    return app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_page_and_its_assets_are_served(tmp_path: Path) -> None:
    async with client_of(dashboard_app(tmp_path)) as client:
        bare = await client.get(DASHBOARD_URL, follow_redirects=False)
        assert bare.status_code == 308
        assert bare.headers["location"] == f"{DASHBOARD_URL}/"
        page = await client.get(f"{DASHBOARD_URL}/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page.text)
        assert any(a.endswith(".js") for a in assets), page.text
        for asset in assets:
            response = await client.get(f"{DASHBOARD_URL}/{asset}")
            assert response.status_code == 200, asset
        missing = await client.get(f"{DASHBOARD_URL}/assets/nope.js")
        assert missing.status_code == 404


def test_the_built_files_load_nothing_from_another_host() -> None:
    for path in DIST_DIR.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", text), path
            assert "@import url(http" not in text, path


async def test_an_unbuilt_dashboard_says_what_to_run(tmp_path: Path) -> None:
    async with client_of(dashboard_app(tmp_path, tmp_path / "no-dist")) as client:
        response = await client.get(f"{DASHBOARD_URL}/")
        assert response.status_code == 503
        assert "npm run build" in response.json()["detail"]


def test_the_dashboards_account_names_are_the_default_chart() -> None:
    """web/dashboard/accounts.ts offers the default chart's codes in the category inputs."""
    source = (ROOT / "web" / "dashboard" / "accounts.ts").read_text()
    offered = re.findall(r'^\s*\["([^"]+)", "((?:[^"\\]|\\.)*)"\],$', source, re.MULTILINE)
    assert offered == [(a.code, a.name.replace('"', '\\"')) for a in DEFAULT_CHART]
