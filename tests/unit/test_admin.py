"""Topic growth at worker start when several workers start at once on a cluster whose brokers'
metadata may lag the controller's."""

from __future__ import annotations

from typing import Any

from kafka.errors import InvalidPartitionsError

from streams.admin import _grow_partitions


class Admin:
    """Answers as a broker of a live cluster answers describe_topics and create_partitions."""

    def __init__(self, described: list[dict[str, Any]], refuse: bool = False) -> None:
        self.described, self.refuse = described, refuse
        self.grown: dict[str, int] = {}

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        return [d for d in self.described if d["name"] in names]

    def create_partitions(self, grow: dict[str, Any]) -> None:
        if self.refuse:
            raise InvalidPartitionsError("Topic already has 12 partitions.")
        self.grown.update({name: p.total_count for name, p in grow.items()})


def test_a_topic_the_broker_does_not_know_yet_is_not_grown_but_a_smaller_one_is() -> None:
    admin = Admin(
        [
            {"name": "tracks", "error_code": 3, "partitions": []},  # created a moment ago elsewhere
            {"name": "decisions", "error_code": 0, "partitions": [{"partition": i} for i in range(6)]},
        ]
    )
    _grow_partitions(admin, ["tracks", "decisions"], 12)  # type: ignore[arg-type]
    assert admin.grown == {"decisions": 12}


def test_a_topic_another_worker_grew_meanwhile_does_not_stop_this_one() -> None:
    admin = Admin([{"name": "tracks", "partitions": [{"partition": i} for i in range(6)]}], refuse=True)
    _grow_partitions(admin, ["tracks"], 12)  # type: ignore[arg-type]
