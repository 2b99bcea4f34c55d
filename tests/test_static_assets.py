"""The browser assets (``web/routes/pages.py``): sent from the package directory, offline.

Every asset the dashboard page and the two documentation pages reference is served from
``web/static/`` with a usable content type (over a real server: quart's test client stalls on
streamed bodies of more than about 80 KB); the dashboard's own files are revalidated on each
load, vendored ones cached for a day; only the four asset folders are reachable.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
from quart_trio import QuartTrio

from dersim_trio.service.hub import Hub
from dersim_trio.web.app import create_app
from dersim_trio.web.routes.pages import STATIC_DIR

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Kit
    from helpers import Served

    StartService = Callable[..., Awaitable[Served]]

SCRIPT_TYPES = ("text/javascript", "application/javascript")


@pytest.fixture
async def app(kit: type[Kit]) -> QuartTrio:
    config = kit.make_config()
    return create_app(Hub(config.device_count), kit.make_context(config))


async def fetch(app: QuartTrio, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with app.test_app() as test_app:
        response = await test_app.test_client().get(path, headers=headers)
        body = await response.get_data()
        return response.status_code, dict(response.headers), body


def referenced_assets(html: str) -> list[str]:
    return sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))


async def test_every_asset_the_pages_reference_is_served_with_its_type(
    start_service: StartService,
) -> None:
    service = await start_service("-d", "Batt")
    with trio.fail_after(30):
        async with httpx.AsyncClient(base_url=service.http_url) as http:
            pages = {}
            for page in ("/", "/docs", "/redoc"):
                answer = await http.get(page)
                assert answer.status_code == 200, page
                assert answer.headers["content-type"].startswith("text/html"), page
                pages[page] = answer.text
            assets = sorted({a for html in pages.values() for a in referenced_assets(html)})
            answers = {asset: await http.get(asset) for asset in assets}
    assert "/static/uplot/uPlot.iife.min.js" in assets
    assert "/static/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/redoc/redoc.standalone.js" in assets
    for asset, answer in answers.items():
        assert answer.status_code == 200, asset
        on_disk = (STATIC_DIR / asset.removeprefix("/static/")).read_bytes()
        assert answer.content == on_disk, asset
        content_type = answer.headers["content-type"]
        if asset.endswith(".js"):
            assert content_type.startswith(SCRIPT_TYPES), (asset, content_type)
        elif asset.endswith(".css"):
            assert content_type.startswith("text/css"), (asset, content_type)
        elif asset.endswith(".svg"):
            assert content_type.startswith("image/svg+xml"), (asset, content_type)
        else:
            assert content_type.startswith("text/plain"), (asset, content_type)  # LICENSE


async def test_dashboard_files_revalidate_and_vendored_files_are_cached_a_day(
    app: QuartTrio,
) -> None:
    _, page, _ = await fetch(app, "/")
    _, own, _ = await fetch(app, "/static/dashboard/app.js")
    _, vendored, _ = await fetch(app, "/static/uplot/uPlot.min.css")
    assert "no-cache" in page["cache-control"]
    assert "no-cache" in own["cache-control"]
    assert "max-age=86400" in vendored["cache-control"]


async def test_an_unchanged_asset_is_answered_304(app: QuartTrio) -> None:
    status, headers, _ = await fetch(app, "/static/dashboard/style.css")
    assert status == 200
    status, _, body = await fetch(
        app, "/static/dashboard/style.css", **{"If-None-Match": headers["etag"]}
    )
    assert status == 304
    assert body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/dashboard/missing.js",
        "/static/VENDORED.md",  # beside the asset folders, not in one
        "/static/other/app.js",
        "/static/dashboard/../VENDORED.md",
        "/static/dashboard/%2e%2e/%2e%2e/app.py",
    ],
)
async def test_anything_outside_the_asset_folders_is_a_json_404(app: QuartTrio, path: str) -> None:
    status, headers, body = await fetch(app, path)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "not_found"
