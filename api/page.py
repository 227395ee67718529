"""The reviewer page: plain HTML, a stylesheet and a script (static/) over the API itself.
The page holds no data; the reviewer's key (kept in the tab's sessionStorage) goes with every API
call, so the page works with the API's own auth and nothing else.

Served under a strict Content-Security-Policy: script and style only from this origin (nothing
inline), audio from this origin or the blob the player is given, no framing."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
ASSETS = {
    name: ((STATIC / name).read_bytes(), media_type)
    for name, media_type in (
        ("review.html", "text/html; charset=utf-8"),
        ("review.js", "text/javascript; charset=utf-8"),
        ("review.css", "text/css; charset=utf-8"),
    )
}


def _asset(name: str) -> Response:
    body, media_type = ASSETS[name]
    return Response(body, media_type=media_type, headers={"Content-Security-Policy": CSP})


@router.get("/review")
def reviewer_page() -> Response:
    return _asset("review.html")


@router.get("/review/review.js")
def reviewer_script() -> Response:
    return _asset("review.js")


@router.get("/review/review.css")
def reviewer_style() -> Response:
    return _asset("review.css")
