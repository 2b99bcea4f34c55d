"""The browser side: ``/`` (the live dashboard) and ``/static/...`` (its scripts and styles,
uPlot, and the Swagger UI and ReDoc assets of ``/docs`` and ``/redoc``).

Files are sent from the package directory (``web/static/``) by quart's ``send_from_directory``:
read in chunks per request (nothing held in memory), content type from the file name, ETag and
Last-Modified with conditional and range requests. Only the four asset folders are served.
Everything comes from the simulator itself, so the dashboard and the API docs work offline.
"""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path

from quart import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from dersim_trio.web.api_docs import tagged
from dersim_trio.web.http_errors import RequestError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""``dersim_trio/web/static`` in the installed package."""
VENDORED_FOLDERS = frozenset({"swagger-ui", "redoc", "uplot"})
"""Third-party assets, fixed per release: cached by browsers for a day."""
DASHBOARD_FOLDER = "dashboard"
"""The dashboard's own files: revalidated on every load (they change with the server)."""
DASHBOARD_PAGE = "dashboard/index.html"
VENDORED_MAX_AGE_S = 86400


async def _send(name: str) -> Response:
    """``web/static/<name>`` with its content type (plain text for LICENSE and NOTICE)."""
    folder = posixpath.normpath(name).split("/", 1)[0]  # "dashboard/../x" is not in dashboard
    if folder != DASHBOARD_FOLDER and folder not in VENDORED_FOLDERS:
        raise RequestError(404, "not_found", f"no static file {name!r}")
    vendored = folder in VENDORED_FOLDERS
    try:
        response = await send_from_directory(
            STATIC_DIR,
            name,
            mimetype=mimetypes.guess_type(name)[0] or "text/plain",
            cache_timeout=VENDORED_MAX_AGE_S if vendored else None,
        )
    except NotFound:
        raise RequestError(404, "not_found", f"no static file {name!r}") from None
    if not vendored:
        response.cache_control.no_cache = True
    return response


def pages_blueprint() -> Blueprint:
    """The dashboard page and the static assets."""
    bp = tagged(Blueprint("pages", __name__), "dashboard")

    @bp.get("/")
    async def index() -> Response:
        """The live dashboard (a static page on top of this API and the telemetry WebSocket)."""
        return await _send(DASHBOARD_PAGE)

    @bp.get("/static/<path:name>")
    async def static_asset(name: str) -> Response:
        """Dashboard and vendored assets, from the package directory."""
        return await _send(name)

    return bp
