"""The browser side: ``/`` (the live dashboard) and ``/static/...`` (its scripts and styles,
uPlot, and the Swagger UI and ReDoc assets of ``/docs`` and ``/redoc``).

Everything is served by the simulator itself, so the dashboard and the API docs work offline.
"""

from __future__ import annotations

from importlib import resources

from quart import Blueprint, Response

from dersim_trio.web.http_errors import RequestError

_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
_STATIC_FOLDERS = ("swagger-ui", "redoc", "uplot", "dashboard")
_VENDORED_FOLDERS = frozenset({"swagger-ui", "redoc", "uplot"})
DASHBOARD_PAGE = "dashboard/index.html"


def _static_type(name: str) -> str | None:
    """The content type of a servable static file, or None for files not served."""
    base = name.rsplit("/", 1)[-1]
    if base == "LICENSE":
        return _STATIC_TYPES["LICENSE"]
    dot = base.rfind(".")
    return _STATIC_TYPES.get(base[dot:]) if dot > 0 else None


def _load_static() -> dict[str, bytes]:
    """Every servable static file (documentation UIs, dashboard, uPlot), read once at start."""
    root = resources.files("dersim_trio.web") / "static"
    files: dict[str, bytes] = {}
    for folder in _STATIC_FOLDERS:
        for entry in (root / folder).iterdir():
            if entry.is_file() and _static_type(entry.name) is not None:
                files[f"{folder}/{entry.name}"] = entry.read_bytes()
    return files


def pages_blueprint() -> Blueprint:
    """The dashboard page and the static assets."""
    bp = Blueprint("pages", __name__)
    static_files = _load_static()

    @bp.get("/")
    async def index() -> Response:
        """The live dashboard (a static page on top of this API and the telemetry WebSocket)."""
        response = Response(static_files[DASHBOARD_PAGE], content_type=_STATIC_TYPES[".html"])
        response.cache_control.no_cache = True
        return response

    @bp.get("/static/<path:name>")
    async def static_asset(name: str) -> Response:
        """Dashboard and vendored assets (served from memory; the machine may be offline)."""
        body = static_files.get(name)
        content_type = _static_type(name)
        if body is None or content_type is None:
            raise RequestError(404, "not_found", f"no static file {name!r}")
        response = Response(body, content_type=content_type)
        if name.split("/", 1)[0] in _VENDORED_FOLDERS:
            response.cache_control.max_age = 86400
        else:
            response.cache_control.no_cache = True  # the dashboard changes with the server
        return response

    return bp
