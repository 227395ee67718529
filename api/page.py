"""The reviewer page: plain HTML and a little JavaScript (static/review.html) over the API itself.
The page holds no data; the reviewer's key (kept in the tab's sessionStorage) goes with every API
call, so the page works with the API's own auth and nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
PAGE = (Path(__file__).parent / "static" / "review.html").read_text()


@router.get("/review", response_class=HTMLResponse)
def reviewer_page() -> HTMLResponse:
    return HTMLResponse(PAGE)
