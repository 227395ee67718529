"""The API's guard (api/guard.py) in front of a small app: keys checked from headers before any
body is read, body limits, bounded key cache, per-key rate limits. Real HTTP where the point is
that the body is never read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import uvicorn
from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.testclient import TestClient
from starlette.types import Scope

from api.deps import caller
from api.guard import BodyLimits, Guard, KeyCache
from index.keys import ApiKey

GOOD = "clr_k1_secret-one"
OTHER = "clr_k2_secret-two"
KEYS = {GOOD: ApiKey("k1", "ada", "reviewer", None), OTHER: ApiKey("k2", "bo", "ingest", None)}


class Verifier:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, scope: Scope, presented: str) -> ApiKey | None:
        self.calls.append(presented)
        return KEYS.get(presented)


class Reads:
    """What the routes saw: how many bodies were read."""

    def __init__(self) -> None:
        self.bodies = 0


def small_app(verify: Verifier, reads: Reads, per_minute: int = 6000, burst: int = 1000) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(request: Request, key: Annotated[ApiKey, Depends(caller)]) -> dict[str, Any]:
        body = await request.body()
        reads.bodies += 1
        return {"key": key.name, "bytes": len(body)}

    @app.post("/v1/upload")
    def upload(
        key: Annotated[ApiKey, Depends(caller)], audio: Annotated[UploadFile, File()]
    ) -> dict[str, Any]:
        reads.bodies += 1
        return {"bytes": len(audio.file.read())}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        Guard,
        limits=BodyLimits(
            json_bytes=1024,
            upload_bytes=3 << 20,
            upload_routes=frozenset({("POST", "/v1/upload")}),
            upload_mb=2,
        ),
        rate_per_minute=per_minute,
        rate_burst=burst,
        verify=verify,
    )
    return app


@pytest.fixture
def verify() -> Verifier:
    return Verifier()


@pytest.fixture
def reads() -> Reads:
    return Reads()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_no_key_or_a_bad_key_is_401_and_the_body_is_not_read(verify: Verifier, reads: Reads) -> None:
    client = TestClient(small_app(verify, reads))
    no_key = client.post("/v1/echo", content=b"x" * 100)
    assert no_key.status_code == 401 and no_key.json()["detail"] == "an API key is required"
    bad = client.post("/v1/echo", content=b"x" * 100, headers=bearer("clr_nope_nope"))
    assert bad.status_code == 401 and "unknown" in bad.json()["detail"]
    assert reads.bodies == 0
    ok = client.post("/v1/echo", content=b"x" * 100, headers={"X-API-Key": GOOD})
    assert ok.status_code == 200 and ok.json() == {"key": "ada", "bytes": 100}
    assert client.get("/healthz").status_code == 200  # no key needed outside the keyed prefixes


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(verify: Verifier, reads: Reads) -> None:
    client = TestClient(small_app(verify, reads))
    declared = client.post("/v1/echo", content=b"x" * 2048, headers=bearer(GOOD))
    assert declared.status_code == 413 and "1 KB" in declared.json()["detail"]
    assert reads.bodies == 0

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        for _ in range(10):
            yield b"x" * 512

    streamed = client.post("/v1/echo", content=chunks(), headers=bearer(GOOD))
    assert streamed.status_code == 413 and streamed.json()["detail"]
    assert reads.bodies == 0
    # uploads have their own, larger limit, only on the upload routes
    upload = client.post("/v1/upload", files={"audio": ("a.wav", b"x" * (1 << 20))}, headers=bearer(GOOD))
    assert upload.status_code == 200 and upload.json() == {"bytes": 1 << 20}
    too_big = client.post("/v1/upload", files={"audio": ("a.wav", b"x" * (4 << 20))}, headers=bearer(GOOD))
    assert too_big.status_code == 413 and "2 MB" in too_big.json()["detail"]
    multipart_to_json_route = client.post(
        "/v1/echo", files={"audio": ("a.wav", b"x" * (1 << 20))}, headers=bearer(GOOD)
    )
    assert multipart_to_json_route.status_code == 413


def test_the_key_cache_holds_hashes_is_bounded_and_saves_lookups(verify: Verifier, reads: Reads) -> None:
    cache = KeyCache(ttl_s=60, valid_size=10, invalid_size=5)
    guard_app = small_app(verify, reads)
    client = TestClient(guard_app)
    guard = _guard_of(client)
    guard.cache = cache
    for _ in range(3):
        assert client.post("/v1/echo", headers=bearer(GOOD)).status_code == 200
    assert verify.calls == [GOOD]  # verified once, then from the cache
    for i in range(50):
        assert client.post("/v1/echo", headers=bearer(f"clr_x{i}_made-up")).status_code == 401
    assert len(cache) <= 15
    assert GOOD not in cache.digests() and all(len(d) == 64 for d in cache.digests())
    assert client.post("/v1/echo", headers=bearer(GOOD)).status_code == 200
    assert verify.calls.count(GOOD) == 1  # made-up keys did not push the valid one out


def _guard_of(client: TestClient) -> Guard:
    client.get("/healthz")  # builds the middleware stack
    layer: Any = client.app
    layer = layer.middleware_stack
    while not isinstance(layer, Guard):
        layer = layer.app
    return layer


def test_each_key_has_its_own_rate_limit_answered_with_429_and_retry_after(
    verify: Verifier, reads: Reads
) -> None:
    client = TestClient(small_app(verify, reads, per_minute=60, burst=3))
    answers = [client.post("/v1/echo", headers=bearer(GOOD)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = client.post("/v1/echo", headers=bearer(GOOD))
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many requests" in limited.json()["detail"]
    assert client.post("/v1/echo", headers=bearer(OTHER)).status_code == 200  # another key is unaffected


@pytest.fixture
def served(verify: Verifier, reads: Reads) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(small_app(verify, reads), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=5)


def raw_request(port: int, head: str, timeout_s: float = 3.0) -> str:
    """Send only the request's head (no body) over a real socket; return the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096).decode().split(" ", 2)[1]


def huge_upload_head(path: str, key: str | None) -> str:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}"
        "Content-Type: multipart/form-data; boundary=zzz\r\n"
        f"Content-Length: {10**12}\r\n\r\n"
    )


def test_over_real_http_a_huge_body_without_a_key_is_refused_before_it_is_sent(
    served: int, reads: Reads
) -> None:
    started = time.monotonic()
    assert raw_request(served, huge_upload_head("/v1/upload", None)) == "401"
    assert raw_request(served, huge_upload_head("/v1/upload", "clr_a_b")) == "401"
    assert raw_request(served, huge_upload_head("/v1/upload", GOOD)) == "413"
    assert time.monotonic() - started < 3 and reads.bodies == 0
