"""The reviewer page's headers and the API's error hygiene, without services (the app is built but
its lifespan, which connects to Elasticsearch and Kafka, is not run)."""

from __future__ import annotations

import re

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import BadRequestError
from fastapi.testclient import TestClient

from api.app import create_app
from model.settings import Settings


def client() -> TestClient:
    return TestClient(create_app(Settings()))


def directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in csp.split(";") if part.strip()}


def test_the_reviewer_page_has_a_strict_csp_and_no_inline_script_or_style() -> None:
    page = client().get("/review")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = directives(page.headers["Content-Security-Policy"])
    assert csp["default-src"] == "default-src 'self'"
    assert csp["script-src"] == "script-src 'self'" and csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html and "style=" not in html and not re.search(r"\son\w+=", html)
    for asset, kind in (("/review/review.js", "text/javascript"), ("/review/review.css", "text/css")):
        response = client().get(asset)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    script = client().get("/review/review.js").text
    assert "style=" not in script  # inline style attributes would be blocked by style-src 'self'


def test_json_answers_carry_the_security_headers_too() -> None:
    response = client().get("/v1/records")  # no key
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_an_elasticsearch_refusal_does_not_reach_the_client() -> None:
    app = create_app(Settings())
    internals = "failed to create query: [clearance-provenance] field [matches.isrc] secret-internal"

    @app.get("/refused")
    def refused() -> None:
        meta = ApiResponseMeta(400, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "127.0.0.1", 9200))
        raise BadRequestError(internals, meta, {"error": {"reason": internals}})

    response = TestClient(app).get("/refused")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail and "secret-internal" not in detail and "clearance-" not in detail
