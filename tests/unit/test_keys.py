"""A presented API key that is not of the shape Clearance issues is refused without asking
Elasticsearch: a key id of thousands of characters made the lookup's request line too long for
Elasticsearch, and the error reached the client as a 500 (found by bench.hostile)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from index.keys import KeyStore
from index.names import Indices


class Unreachable:
    """An Elasticsearch client that must not be called."""

    def get(self, **kwargs: Any) -> Any:
        raise AssertionError(f"Elasticsearch was asked for {str(kwargs)[:80]}")


class OneKey:
    """Holds one key: id 0123456789abcdef, secret 'x' * 43 (its SHA-256)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get(self, index: str, id: str) -> dict[str, Any]:
        self.asked.append(id)
        return {
            "_source": {
                "name": "ingest",
                "role": "ingest",
                "secret_sha256": hashlib.sha256(b"x" * 43).hexdigest(),
            }
        }


@pytest.mark.parametrize(
    "presented",
    [
        "clr_" + "t" * 5000 + "_secret-secret-secret",
        "clr_0123456789abcdef_" + "s" * 5000,
        "clr_0123456789ABCDEF_" + "x" * 43,
        "clr_../../_search_" + "x" * 43,
        "clr_0123456789abcdef",
        "bearer clr_0123456789abcdef_" + "x" * 43,
        "",
    ],
)
def test_a_key_of_the_wrong_shape_is_refused_without_a_lookup(presented: str) -> None:
    store = KeyStore(Unreachable(), Indices("t-"))  # type: ignore[arg-type]
    assert store.verify(presented) is None


def test_a_key_of_the_right_shape_is_looked_up_and_checked() -> None:
    es = OneKey()
    store = KeyStore(es, Indices("t-"))  # type: ignore[arg-type]
    key = store.verify("clr_0123456789abcdef_" + "x" * 43)
    assert key is not None and key.key_id == "0123456789abcdef" and es.asked == ["0123456789abcdef"]
    assert store.verify("clr_0123456789abcdef_" + "y" * 43) is None
