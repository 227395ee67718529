"""The review API: FastAPI over Elasticsearch (reads) and Kafka (every change is an event).

clearance api            # serves on CLEARANCE_API_HOST:CLEARANCE_API_PORT
GET /docs                # the OpenAPI schema, browsable
GET /review              # the reviewer page
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from elastic_transport import TransportError
from elasticsearch import ApiError
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from api import page
from api.deps import FORBIDDEN, UNAUTHORIZED, Services, require, services
from api.guard import BodyLimits, Guard
from api.headers import SecurityHeaders
from api.routes import UPLOAD_ROUTES, router
from api.schemas import Health
from index.stores import Stores
from model.findings import RecordingMetadata
from model.settings import Settings
from streams.backfill import request_backfill
from streams.generation import Generations
from streams.logs import get_logger
from streams.publisher import Publisher, PublishError
from streams.registration import Registration, RegistrationJobs

log = get_logger("clearance.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "clearance_api_requests_total", "requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "clearance_api_request_seconds", "request latency", ["method", "route"], registry=self.registry
        )
        self.queue = Gauge("clearance_review_queue_size", "open needs_review cases", registry=self.registry)


_REFUSED = "the record store could not run this request; check its parameters"
_REFUSALS = {
    404: "not found",
    409: "the data changed while the request ran; retry",
    429: "the record store is busy; retry shortly",
    503: "the record store is unavailable; retry shortly",
}


def _body_limits(settings: Settings) -> BodyLimits:
    return BodyLimits(
        json_bytes=settings.api_max_json_kb << 10,
        # the audio part is held to the limit exactly by the route; the rest is metadata and framing
        upload_bytes=(settings.api_max_upload_mb << 20) + (settings.api_max_json_kb << 10) + (64 << 10),
        upload_routes=UPLOAD_ROUTES,
        upload_mb=settings.api_max_upload_mb,
    )


def create_app(settings: Settings, publisher: Publisher | None = None) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stores = Stores.open(settings)
        stores.ensure_indices(settings.es_replicas)
        bus = publisher or Publisher(settings)

        def claim_retroactively(meta: RecordingMetadata) -> str:
            return request_backfill(
                stores.backfill_jobs, bus, settings, "recording", meta.isrc, meta.rights_holder
            ).job_id

        registrations = RegistrationJobs(
            Registration(settings, stores.catalog), stores.jobs, settings, claim_retroactively
        )
        app.state.services = Services(
            settings,
            stores,
            bus,
            registrations,
            Generations(settings, stores.generated),
            threading.BoundedSemaphore(settings.api_registration_workers),
        )
        yield
        registrations.shutdown()
        app.state.services.publisher.close()
        stores.close()

    app = FastAPI(
        title="Clearance review API",
        version="1",
        description="Provenance records, the review queue and rights holders' views. "
        "Every route but /healthz needs an API key (Authorization: Bearer <key>, or X-API-Key).",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(page.router)
    app.add_middleware(
        Guard,
        limits=_body_limits(settings),
        rate_per_minute=settings.api_rate_per_minute,
        rate_burst=settings.api_rate_burst,
    )

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
            or "invalid request"
        )
        return JSONResponse(status_code=422, content={"detail": message})

    @app.exception_handler(TransportError)
    async def store_unreachable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("elasticsearch unreachable", error=str(exc))
        return JSONResponse(
            status_code=503, content={"detail": "the record store is unavailable; retry shortly"}
        )

    @app.exception_handler(ApiError)
    async def store_refused(request: Request, exc: ApiError) -> JSONResponse:
        # e.g. a search Elasticsearch cannot run for this input. Its message names indices, fields
        # and internals: it goes to the log, the caller gets what kind of problem it was.
        log.warning(
            "elasticsearch refused a request",
            path=request.url.path,
            status=exc.meta.status,
            error=str(exc),
        )
        code = exc.meta.status if 400 <= exc.meta.status < 500 else 503
        return JSONResponse(status_code=code, content={"detail": _REFUSALS.get(code, _REFUSED)})

    @app.exception_handler(PublishError)
    async def bus_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("kafka did not take an event", error=str(exc))
        return JSONResponse(
            status_code=503, content={"detail": f"the event bus is unavailable; retry shortly ({exc})"}
        )

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz(request: Request) -> Health:
        """Liveness and whether Elasticsearch answers (no key needed)."""
        healthy = services(request).stores.healthy()
        return Health(status="ok" if healthy else "degraded", elasticsearch=healthy)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        dependencies=[Depends(require("reviewer"))],
        responses={200: {"content": {"text/plain": {}}}, 401: UNAUTHORIZED, 403: FORBIDDEN},
    )
    def prometheus(request: Request) -> Response:
        """Prometheus metrics: requests, latency, review queue size."""
        with contextlib.suppress(TransportError, ApiError):  # the queue gauge keeps its last value
            metrics.queue.set(services(request).stores.records.open_case_count())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
