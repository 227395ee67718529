"""What every route needs: the services (the index stores, Kafka, settings) and the caller's key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.guard import STATE_KEY
from index.keys import ApiKey, Role
from index.stores import Stores
from model.settings import Settings
from streams.generation import Generations
from streams.publisher import Publisher
from streams.registration import RegistrationJobs


@dataclass
class Services:
    settings: Settings
    stores: Stores
    publisher: Publisher
    registrations: RegistrationJobs
    generations: Generations
    generating: threading.BoundedSemaphore  # generations marked and signed at once


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]

UNAUTHORIZED: dict[str, Any] = {"description": "no API key, or an unknown or revoked one"}
FORBIDDEN: dict[str, Any] = {"description": "the key's role may not do this"}
BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="or the API key here")


def caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    _header: Annotated[str | None, Security(API_KEY_HEADER)] = None,
) -> ApiKey:
    """The key the guard (api/guard.py) verified before the body was read; the two security
    parameters only document the schemes in OpenAPI."""
    key = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(key, ApiKey):  # a keyed route outside the guard's prefixes: fail closed
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is required", {"WWW-Authenticate": "Bearer"}
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
