"""The people registry against the real Elasticsearch: first come, first served, enforced by the
write itself."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.registry import PersonNotYours
from index.stores import Stores

pytestmark = pytest.mark.integration


def test_of_holders_racing_to_register_a_person_exactly_one_owns_the_registration(stores: Stores) -> None:
    holders = [f"Racing Label {n}" for n in range(6)]
    start = threading.Barrier(len(holders))

    def register(holder: str) -> str | None:
        start.wait()
        try:
            stores.registry.change_opt_out("Quill Racer", opted_out=True, aliases=None, holder=holder)
        except PersonNotYours:
            return None
        return holder

    with ThreadPoolExecutor(len(holders)) as pool:
        winners = [h for h in pool.map(register, holders) if h is not None]
    assert len(winners) == 1, winners
    person = stores.registry.get_person("Quill Racer")
    assert person is not None and person["registered_by"] == winners[0] and person["opted_out"] is True
