"""The door of the API, before any route runs: who is calling (the API key, from headers only),
how fast (a token bucket per key) and how much they may send (body size limits). A pure ASGI
middleware, so an unauthenticated or oversized request is answered before a byte of its body is
read: no spooled upload, no JSON parsed for a caller without a valid key."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from index.keys import ApiKey

Verifier = Callable[[Scope, str], ApiKey | None]
KEYED_PREFIXES = ("/v1/", "/metrics")
STATE_KEY = "api_key"


def _verify_with_stores(scope: Scope, presented: str) -> ApiKey | None:
    key: ApiKey | None = scope["app"].state.services.stores.keys.verify(presented)
    return key


class KeyCache:
    """Recently verified keys, by the SHA-256 of what was presented (the key itself is never
    kept), least recently used first out. Unknown keys are remembered too, in a smaller cache of
    their own, so a flood of made-up keys neither reaches Elasticsearch each time nor pushes the
    valid keys out."""

    def __init__(self, ttl_s: float = 10.0, valid_size: int = 10_000, invalid_size: int = 1_000) -> None:
        self._ttl_s = ttl_s
        self._valid: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._invalid: OrderedDict[str, float] = OrderedDict()
        self._sizes = (valid_size, invalid_size)

    @staticmethod
    def digest(presented: str) -> str:
        return hashlib.sha256(presented.encode()).hexdigest()

    def get(self, presented: str) -> tuple[bool, ApiKey | None]:
        """(known, key): known is False when the key must be verified again."""
        digest, now = self.digest(presented), time.monotonic()
        if (valid := self._valid.get(digest)) is not None and now - valid[0] < self._ttl_s:
            self._valid.move_to_end(digest)
            return True, valid[1]
        if (seen := self._invalid.get(digest)) is not None and now - seen < self._ttl_s:
            return True, None
        return False, None

    def put(self, presented: str, key: ApiKey | None) -> None:
        digest, now = self.digest(presented), time.monotonic()
        if key is None:
            self._remember(self._invalid, digest, now, self._sizes[1])
        else:
            self._invalid.pop(digest, None)
            self._remember(self._valid, digest, (now, key), self._sizes[0])

    @staticmethod
    def _remember(cache: OrderedDict[str, Any], digest: str, value: Any, size: int) -> None:
        cache[digest] = value
        cache.move_to_end(digest)
        while len(cache) > size:
            cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._valid) + len(self._invalid)

    def digests(self) -> set[str]:
        return set(self._valid) | set(self._invalid)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per API key id: `burst` requests at once, refilled at `per_minute`. At
    most `max_buckets` are kept (least recently used first out; a dropped bucket starts full)."""

    def __init__(self, per_minute: int, burst: int, max_buckets: int = 10_000) -> None:
        self._rate_s, self._burst, self._max = per_minute / 60.0, float(burst), max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait_s(self, key_id: str) -> float:
        """0 if the request may go now (a token is taken), else the seconds until one is due."""
        now = time.monotonic()
        bucket = self._buckets.pop(key_id, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate_s)
        bucket.at = now
        self._buckets[key_id] = bucket
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate_s

    def __len__(self) -> int:
        return len(self._buckets)


def presented_key(headers: Headers) -> str | None:
    if x_api_key := headers.get("x-api-key", "").strip():
        return x_api_key
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    # the body is not read: ask the client to close rather than send it on this connection
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int
    upload_bytes: int
    upload_routes: frozenset[tuple[str, str]]  # (method, path) taking multipart uploads
    upload_mb: int

    def for_request(self, method: str, path: str) -> tuple[int, str]:
        if (method, path.rstrip("/")) in self.upload_routes:
            return self.upload_bytes, f"uploads are limited to {self.upload_mb} MB"
        return self.json_bytes, f"request bodies are limited to {self.json_bytes // 1024} KB"


class Guard:
    """Authenticates every keyed route (KEYED_PREFIXES) from its headers and puts the key in
    `request.state.api_key`; answers 401 (no or bad key), 429 (over the key's rate, with
    Retry-After) or 413 (declared Content-Length over the limit) without reading the body, and
    counts the body as the route reads it (Starlette's RequestBodyLimitMiddleware: 413 past the
    limit). Roles are checked by the routes' dependencies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: BodyLimits,
        rate_per_minute: int,
        rate_burst: int,
        verify: Verifier = _verify_with_stores,
        cache: KeyCache | None = None,
    ) -> None:
        self.app, self.limits, self.verify = app, limits, verify
        self.cache = cache or KeyCache()
        self.rates = RateLimiter(rate_per_minute, rate_burst)
        self._bounded = {
            size: RequestBodyLimitMiddleware(app, max_body_size=size)
            for size in {limits.json_bytes, limits.upload_bytes}
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if path.startswith(KEYED_PREFIXES) and not await self._admit(scope, headers, send):
            return
        limit, limit_text = self.limits.for_request(scope["method"], path)
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            await _answer(send, 400, "Content-Length is not a number")
            return
        if declared is not None and int(declared) > limit:
            await _answer(send, 413, f"the request body is {int(declared)} bytes; {limit_text}")
            return
        await self._bounded[limit](scope, receive, send)

    async def _admit(self, scope: Scope, headers: Headers, send: Send) -> bool:
        presented = presented_key(headers)
        if presented is None:
            await _answer(send, 401, "an API key is required", {"WWW-Authenticate": "Bearer"})
            return False
        known, key = self.cache.get(presented)
        if not known:
            key = await run_in_threadpool(self.verify, scope, presented)
            self.cache.put(presented, key)
        if key is None:
            await _answer(send, 401, "unknown or revoked API key", {"WWW-Authenticate": "Bearer"})
            return False
        wait = self.rates.wait_s(key.key_id)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _answer(
                send, 429, f"too many requests for this key; retry in {retry} s", {"Retry-After": retry}
            )
            return False
        scope.setdefault("state", {})[STATE_KEY] = key
        return True
