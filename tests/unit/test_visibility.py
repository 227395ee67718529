"""What a rights holder reads of a medley of two holders' catalogs (api/visibility.py): the record
and decisions are the real ones (decide + the index writer's documents), then redacted."""

from __future__ import annotations

import json
from typing import Any

from api.visibility import decisions_for_holder, record_for_holder
from decisions.decide import decide
from decisions.policy import MatchRule, Policies, RightsHolderPolicy
from index.names import Indices
from index.writer import plan_actions
from model.events import TrackAnalyzed
from model.findings import Finding
from tests.unit.test_decide import FACTS, catalog, recording, submission, watermark

A, B = "Alder Records", "Birch Music"


def _policy(holder: str, version: int) -> RightsHolderPolicy:
    return RightsHolderPolicy(rights_holder=holder, version=version, rules=[MatchRule(action="monetize")])


def medley() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A record and its decisions: A's and B's masters monetized at different rates, a watermark
    on an upload that declared no AI use, and a detector that failed naming a server path."""
    findings = [
        FACTS,
        catalog(
            recording("QZAAA2600001", [(0, 40)], holder=A, title="Alder Song", artist="Ash", rate_bp=4321),
            recording("QZBBB2600002", [(40, 80)], holder=B, title="Birch Song", artist="Bea", rate_bp=2718),
        ),
        watermark(),
        Finding(
            detector="voice_opt_out",
            version="1",
            took_ms=1.0,
            status="error",
            error="DecodeError: ffmpeg could not read /srv/clearance/store/x",
        ),
    ]
    sub = submission(audio_uri="file:///srv/clearance/store/sha256/ab/abc")
    analysis = TrackAnalyzed(track_id=sub.track_id, submission=sub, findings=findings)
    policies = Policies(rights_holders={A: _policy(A, 2), B: _policy(B, 7)})
    decisions = decide(analysis, policies)
    record: dict[str, Any] = {}
    for action in plan_actions([analysis, *decisions], {}, Indices("t-")):
        if action["_index"] == "t-provenance":
            record.update(action["doc"])
    return record, [d.model_dump(mode="json") for d in decisions]


def test_the_unredacted_medley_holds_both_holders_data() -> None:
    record, decisions = medley()
    everything = json.dumps([record, decisions])
    for secret in ("QZBBB2600002", B, "2718", "/srv/clearance", "QZAAA2600001", A, "4321"):
        assert secret in everything  # so the test below can fail


def test_a_holder_sees_their_own_part_and_nothing_of_the_other_holder() -> None:
    record, decisions = medley()
    for me, other, my_isrc, other_isrc, my_rate, other_rate in (
        (A, B, "QZAAA2600001", "QZBBB2600002", 4321, 2718),
        (B, A, "QZBBB2600002", "QZAAA2600001", 2718, 4321),
    ):
        view = record_for_holder(record, me)
        history = decisions_for_holder(decisions, me)
        seen = json.dumps([view, history])
        for secret in (other_isrc, other, "/srv/clearance", "file:"):
            assert secret not in seen, (me, secret)
        assert other_rate not in _numbers([view, history]), (me, other_rate)
        assert "findings" not in view and "detectors" not in view and "audio_uri" not in view["submission"]
        # their own: the match, the reason with its evidence, the royalty, their policy version
        assert [m["isrc"] for m in view["matches"]] == [my_isrc]
        own_reasons = [r for r in view["decision"]["reasons"] if r["code"] == "catalog_monetize"]
        assert len(own_reasons) == 1 and own_reasons[0]["evidence"][0]["data"]["royalty_rate_bp"] == my_rate
        royalties = [d["royalty"] for d in history if d.get("royalty")]
        assert [r["rights_holder"] for r in royalties] == [me]
        assert f"{me}@" in view["decision"]["policy_version"]
        assert view["decision"]["policy_version"].startswith("platform@")
        # reasons about no recording stay, without the platform's evidence
        codes = {r["code"] for r in view["decision"]["reasons"]}
        assert {"ai_label", "ai_undeclared", "detector_error"} <= codes
        assert all(
            r["evidence"] == [] for r in view["decision"]["reasons"] if r["code"] != "catalog_monetize"
        )


def test_a_publisher_sees_its_songs_cover_and_nothing_of_the_label_or_other_publishers() -> None:
    """A's master sampled over a performance of C's song and of D's song: each sees its own."""
    from tests.unit.test_composition_decisions import covers, song

    c, d = "Cedar Songs", "Dune Publishing"
    findings = [
        FACTS,
        catalog(recording("QZAAA2600001", [(0, 40)], holder=A, title="Alder Song", rate_bp=4321)),
        covers(
            song([(0, 60)], holder=c, rate_bp=1234),
            song([(60, 90)], holder=d, rate_bp=987).model_copy(update={"work_id": "W-DUNE"}),
        ),
    ]
    sub = submission()
    analysis = TrackAnalyzed(track_id=sub.track_id, submission=sub, findings=findings)
    decisions = [x.model_dump(mode="json") for x in decide(analysis, Policies())]
    record: dict[str, Any] = {}
    for action in plan_actions([analysis], {}, Indices("t-")):
        if action["_index"] == "t-provenance":
            record.update(action["doc"])
    record["decision"] = next(x for x in decisions if x["verdict"])
    view = record_for_holder(record, c)
    seen = json.dumps([view, decisions_for_holder(decisions, c)])
    for secret in ("W-DUNE", d, "QZAAA2600001", A):
        assert secret not in seen, secret
    assert {987, 4321}.isdisjoint(_numbers([view, decisions_for_holder(decisions, c)]))
    assert [m["work_id"] for m in view["compositions"]] == ["W-PAPER"]
    assert view["matches"] == []
    royalties = [x["royalty"] for x in decisions_for_holder(decisions, c) if x.get("royalty")]
    assert [(r["rights_holder"], r["recordings"][0]["right"]) for r in royalties] == [(c, "composition")]
    label_view = json.dumps([record_for_holder(record, A), decisions_for_holder(decisions, A)])
    assert c not in label_view and "W-PAPER" not in label_view
    assert 1234 not in _numbers([record_for_holder(record, A), decisions_for_holder(decisions, A)])


def _numbers(value: Any) -> set[float]:
    """Every number in a JSON-like value: a rate is looked for as a number, not as digits, which
    any timestamp's microseconds may hold."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int | float):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_numbers(v) for v in value)) if value else set()
    return set()
