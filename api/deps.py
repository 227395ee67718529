"""What every route needs: the services (the index stores, Kafka, settings) and the caller's key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status

from index.keys import ApiKey, Role
from index.stores import Stores
from model.settings import Settings
from streams.publisher import Publisher

KEY_CACHE_SECONDS = 10.0


@dataclass
class Services:
    settings: Settings
    stores: Stores
    publisher: Publisher
    key_cache: dict[str, tuple[float, ApiKey | None]]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]

UNAUTHORIZED: dict[str, Any] = {"description": "no API key, or an unknown or revoked one"}
FORBIDDEN: dict[str, Any] = {"description": "the key's role may not do this"}


def _presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def caller(
    svc: ServicesDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="or the API key here")] = None,
) -> ApiKey:
    presented = _presented_key(authorization, x_api_key)
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is required", {"WWW-Authenticate": "Bearer"}
        )
    cached = svc.key_cache.get(presented)
    if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        key = cached[1]
    else:
        key = svc.stores.keys.verify(presented)
        svc.key_cache[presented] = (time.monotonic(), key)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key", {"WWW-Authenticate": "Bearer"}
        )
    return key


def require(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    """A dependency admitting the given roles, and roles that include them (a senior_reviewer
    does what a reviewer does; admin is always admitted)."""

    def check(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
        if not key.has_role(*roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {key.role} may not do this; needs {' or '.join(roles)}"
            )
        return key

    return check


def holder_scope(key: ApiKey) -> str | None:
    """The rights holder a key is confined to (None: sees everything)."""
    return key.rights_holder if key.role == "rights_holder" else None
