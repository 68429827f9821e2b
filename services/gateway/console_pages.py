"""The ops console at /ops/: static pages (HTML, ES modules, CSS) that staff open in a browser and that use only the
public ops API (/v1/ops/...), with a Content-Security-Policy that lets nothing but these files run.

The files are served from services/gateway/console/ by name: only a flat name with a known suffix, so that no path
outside the folder can be asked for. They hold no data; everything staff see comes from the API with their token.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from shared.problems import Problem, problem_responses
from shared.security_headers import CONTENT_SECURITY_POLICY

CONSOLE = Path(__file__).parent / "console"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[a-z0-9_-]+\.(html|js|css|svg)$")

# Scripts, styles and API calls from this origin only; no inline script or style, no eval, no plugin, no frame, no
# form posted elsewhere. `blob:` images: kyc's document images, decoded in the page from the API's JSON. Trusted
# Types: a string can never be written into markup (innerHTML and the like throw), whatever a bug in the page does.
CONSOLE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)

router = APIRouter(tags=["gateway"])
# For the public OpenAPI document: pages and their files, or a 404 problem.
_FILES = {
    200: {"description": "the file", "content": {media.split(";")[0]: {} for media in CONTENT_TYPES.values()}},
    **problem_responses((404, "not_found")),
}


def _file(name: str) -> Response:
    path = CONSOLE / name
    if not _NAME.match(name) or not path.is_file():
        raise Problem("No such resource.", code="not_found", status=404)
    return Response(
        path.read_bytes(),
        media_type=CONTENT_TYPES[path.suffix],
        headers={CONTENT_SECURITY_POLICY: CONSOLE_POLICY},
    )


@router.get("/ops", response_class=RedirectResponse, status_code=308, responses={308: {"description": "to /ops/"}})
async def console_root() -> RedirectResponse:
    return RedirectResponse("/ops/", status_code=308)


@router.get("/ops/", response_class=Response, responses=_FILES)
async def console_page() -> Response:
    return _file("index.html")


@router.get("/ops/{name}", response_class=Response, responses=_FILES)
async def console_file(name: str) -> Response:
    return _file(name)
