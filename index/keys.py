"""API keys in Elasticsearch. A key is `clr_<id>_<secret>`; only the SHA-256 of the secret is
stored (the secret is 32 random bytes, so a fast hash is enough: there is nothing to guess)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from elasticsearch import Elasticsearch, NotFoundError

from index.names import Indices
from model.events import utcnow

Role = Literal["reviewer", "senior_reviewer", "rights_holder", "ingest", "generator", "admin"]
ROLES: tuple[Role, ...] = ("reviewer", "senior_reviewer", "rights_holder", "ingest", "generator", "admin")
# what a role may do besides its own (admin may do everything)
INCLUDES: dict[Role, tuple[Role, ...]] = {"senior_reviewer": ("reviewer",)}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    rights_holder: str | None

    def has_role(self, *roles: Role) -> bool:
        """The key may act as one of `roles` (an admin as any)."""
        return self.role == "admin" or bool({self.role, *INCLUDES.get(self.role, ())} & set(roles))


# The shape `create` gives a key: 16 hex digits of id, a 43-character URL-safe secret. Anything
# else is refused before it reaches Elasticsearch (a huge id would make its request line fail).
_KEY_SHAPE = re.compile(r"clr_([0-9a-f]{16})_([A-Za-z0-9_-]{16,128})")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, es: Elasticsearch, indices: Indices) -> None:
        self._es, self._index = es, indices.keys

    def create(self, role: Role, name: str, rights_holder: str | None = None) -> tuple[str, ApiKey]:
        """Returns the key (shown once, never stored) and its record."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if (role == "rights_holder") != (rights_holder is not None):
            raise ValueError("a rights_holder key needs --rights-holder, and only such a key takes one")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        self._es.create(
            index=self._index,
            id=key_id,
            document={
                "name": name,
                "role": role,
                "rights_holder": rights_holder,
                "secret_sha256": _digest(secret),
                "created_at": utcnow().isoformat(),
                "revoked": False,
            },
            refresh="wait_for",
        )
        return f"clr_{key_id}_{secret}", ApiKey(key_id, name, role, rights_holder)

    def verify(self, presented: str) -> ApiKey | None:
        shape = _KEY_SHAPE.fullmatch(presented)
        if shape is None:
            return None
        key_id, secret = shape.groups()
        try:
            source = self._es.get(index=self._index, id=key_id)["_source"]
        except NotFoundError:
            return None
        if source.get("revoked") or not hmac.compare_digest(source["secret_sha256"], _digest(secret)):
            return None
        return ApiKey(key_id, source["name"], source["role"], source.get("rights_holder"))

    def revoke(self, key_id: str) -> bool:
        try:
            self._es.update(index=self._index, id=key_id, doc={"revoked": True}, refresh="wait_for")
        except NotFoundError:
            return False
        return True
