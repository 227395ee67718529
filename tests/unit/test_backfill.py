"""Retroactive claims and replays, the pure parts: which records a change affects, the ids of a
reprocessing round, what of a round's decisions is published, events and job progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import chromaprint
import numpy as np
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ConflictError
from pydantic import ValidationError

import index.backfill
from decisions.decide import decide
from decisions.policy import Policies
from decisions.redecide import outcome_key, to_publish, verdict_unchanged
from decisions.review import review_decision
from detectors.matcher import as_items, terms
from index.backfill import (
    Change,
    composition_query,
    holder_query,
    needs_replay,
    not_in_round,
    person_query,
    reanalysis,
    recording_queries,
    replay_query,
    resubmission,
    shared_terms_query,
)
from index.jobs import BackfillJobs, backfill_state
from index.names import Indices
from index.writer import _analysis_fields, fingerprint_terms
from model.events import (
    Action,
    BackfillRequested,
    Decision,
    Reprocess,
    ReviewAction,
    TrackAnalyzed,
    analysis_id,
    backfill_requested,
    parse_event,
)
from model.settings import Settings
from streams.backfill import change_of, refusal, registry_wait, replay_job_id, request_backfill
from streams.publisher import PublishError
from tests.unit.test_decide import analysis, catalog, recording

ROUND = Reprocess(round_id="job-1", trigger="recording", subject="QZABC2600001")


def _verdict(decisions: list[Decision]) -> Decision:
    return next(d for d in decisions if d.verdict)


def _record(case: TrackAnalyzed, decisions: list[Decision] | None = None) -> dict[str, Any]:
    """A provenance record as the index agent writes it (the parts a backfill reads)."""
    record = {"track_id": case.track_id, **_analysis_fields(case)}
    if decisions:
        verdict = _verdict(decisions)
        record["decision"] = {
            "event_id": verdict.event_id,
            "submission_event_id": verdict.submission_event_id,
            "action": verdict.action.value,
            "reasons": [r.model_dump(mode="json") for r in verdict.reasons],
        }
    return record


def test_a_round_keeps_the_submission_and_derives_new_ids_from_the_round() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    again = case.submission.again(ROUND)
    assert again.event_id == case.submission.event_id and again.occurred_at == case.submission.occurred_at
    assert analysis_id(again) != analysis_id(case.submission)
    assert analysis_id(again) == analysis_id(case.submission.again(ROUND))  # a round repeated: same ids
    other = Reprocess(round_id="job-2", trigger="policy", subject="Umbra Records")
    assert analysis_id(case.submission.again(other)) != analysis_id(again)


def test_a_changed_verdict_has_an_id_of_its_round_and_royalties_stay_per_track_version() -> None:
    before = analysis([])
    after = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    rounded = after.model_copy(update={"submission": after.submission.again(ROUND)})
    first, claimed = decide(before, Policies()), decide(rounded, Policies())
    assert _verdict(first).event_id != _verdict(claimed).event_id
    assert _verdict(claimed).event_id == _verdict(decide(rounded, Policies())).event_id
    royalty_ids = {d.event_id for d in claimed if d.action is Action.ROYALTY and not d.verdict}
    assert royalty_ids == {d.event_id for d in decide(after, Policies()) if d.royalty is not None}


def test_an_unchanged_verdict_is_not_published_again_but_unpaid_royalties_are() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    first = decide(case, Policies())
    current = _record(case, first)["decision"]
    rounded = case.model_copy(update={"submission": case.submission.again(ROUND)})
    again = decide(rounded, Policies())
    assert verdict_unchanged(_verdict(again), current)
    published = to_publish(again, current)
    assert [d.action for d in published] == [Action.ROYALTY] and not published[0].verdict


def test_a_changed_verdict_is_published_whole() -> None:
    case = analysis([])
    current = _record(case, decide(case, Policies()))["decision"]
    claimed = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    again = decide(claimed.model_copy(update={"submission": claimed.submission.again(ROUND)}), Policies())
    assert not verdict_unchanged(_verdict(again), current)
    published = to_publish(again, current)
    assert [d.model_copy(update={"event_id": ""}) for d in published] == [
        d.model_copy(update={"event_id": ""}) for d in again
    ]
    assert [d.action for d in to_publish(again, None)] == [d.action for d in again]  # not decided yet


def test_rounds_racing_over_the_same_verdict_publish_the_same_ids_and_a_flip_back_new_ones() -> None:
    case = analysis([])
    unclaimed = decide(case, Policies())
    current = _record(case, unclaimed)["decision"]
    claimed = case.model_copy(
        update={"findings": analysis([catalog(recording("QZABC2600001", [(0, 40)]))]).findings}
    )
    other = Reprocess(round_id="job-2", trigger="recording", subject="QZABC2600001")
    first = to_publish(
        decide(claimed.model_copy(update={"submission": claimed.submission.again(ROUND)}), Policies()),
        current,
    )
    second = to_publish(
        decide(claimed.model_copy(update={"submission": claimed.submission.again(other)}), Policies()),
        current,
    )
    assert [d.event_id for d in first] == [d.event_id for d in second]  # the writer keeps one of each
    # claimed, then unclaimed again (A, B, A): the flip back is a new verdict, not the first one's id
    flip = to_publish(
        decide(case.model_copy(update={"submission": case.submission.again(other)}), Policies()),
        _record(claimed, first)["decision"],
    )
    assert _verdict(flip).event_id not in {_verdict(unclaimed).event_id, _verdict(first).event_id}


def _reviewed(case: TrackAnalyzed, action: str = "overturn") -> dict[str, Any]:
    """The record's decision after a reviewer acted on the pipeline's verdict for `case`."""
    verdict = _verdict(decide(case, Policies()))
    review = ReviewAction(
        track_id=case.track_id,
        action=action,  # type: ignore[arg-type]
        reason="fair use",
        reviewer="rev-ada",
        reviewed_decision_event_id=verdict.event_id,
        reviewed_action=verdict.action,
        reviewed_reasons=verdict.reasons,
        submission_event_id=verdict.submission_event_id,
        submitted_at=verdict.submitted_at,
    )
    return _current(review_decision(review))


def _current(verdict: Decision) -> dict[str, Any]:
    return {
        "event_id": verdict.event_id,
        "submission_event_id": verdict.submission_event_id,
        "action": verdict.action.value,
        "policy_version": verdict.policy_version,
        "reasons": [r.model_dump(mode="json") for r in verdict.reasons],
    }


def test_a_round_never_replaces_a_reviewers_verdict_with_the_pipelines() -> None:
    claimed = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    current = _reviewed(claimed)  # the reviewer overturned the claim: allow
    again = decide(claimed.model_copy(update={"submission": claimed.submission.again(ROUND)}), Policies())
    published = to_publish(again, current)
    assert not any(d.verdict for d in published)  # what the reviewer saw: only unpaid royalties
    assert [d.action for d in published] == [Action.ROYALTY]


def test_a_reviewed_track_whose_outcome_changed_goes_back_to_review() -> None:
    case = analysis([])
    current = _reviewed(case, "uphold")
    claimed = case.model_copy(
        update={"findings": analysis([catalog(recording("QZABC2600001", [(0, 40)]))]).findings}
    )
    rounded = claimed.model_copy(update={"submission": claimed.submission.again(ROUND)})
    again = decide(rounded, Policies())
    assert _verdict(again).action is not Action.NEEDS_REVIEW
    published = to_publish(again, current)
    verdicts = [d for d in published if d.verdict]
    assert len(verdicts) == 1 and verdicts[0].action is Action.NEEDS_REVIEW
    reopened = verdicts[0]
    assert reopened.policy_version == "review"  # outranks the reviewer's verdict on the record
    assert reopened.reasons[0].code == "review_new_claim"
    assert reopened.reasons[0].message.startswith("new claim since review")
    assert {r.code for r in _verdict(again).reasons} <= {r.code for r in reopened.reasons}
    assert to_publish(again, current)[0].event_id == reopened.event_id  # a round repeated: same id
    # once reopened, the same outcome again publishes no verdict
    assert not any(d.verdict for d in to_publish(again, _current(reopened)))


def test_the_outcome_ignores_reason_order_but_not_their_text() -> None:
    a = {"code": "catalog_monetize", "message": "x from A"}
    b = {"code": "catalog_block", "message": "y from B"}
    assert outcome_key("takedown", [a, b]) == outcome_key("takedown", [b, a])
    assert outcome_key("takedown", [a, b]) != outcome_key("takedown", [a, {**b, "message": "y from C"}])
    assert outcome_key("royalty", [a]) != outcome_key("takedown", [a])


def test_a_record_becomes_the_round_s_submission_or_analysis() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    record = _record(case)
    submitted = resubmission(record, ROUND)
    assert submitted is not None and submitted.reprocess == ROUND
    assert submitted.model_copy(update={"reprocess": None}) == case.submission
    analysed = reanalysis(record, ROUND)
    assert analysed is not None and analysed.findings == case.findings
    assert analysed.event_id == analysis_id(submitted)
    assert (
        resubmission({"submission": {"event_id": "e", "occurred_at": "2026-01-01T00:00:00Z"}}, ROUND) is None
    )
    assert reanalysis({**record, "findings": []}, ROUND) is None


def test_uploads_index_their_chromaprint_terms() -> None:
    items = as_items(np.arange(1, 200) * 2654435761)
    fingerprint = chromaprint.encode_fingerprint([int(i) for i in items.astype(np.int32)], 1).decode()
    assert fingerprint_terms(fingerprint) == terms(items)
    assert fingerprint_terms("") == [] and fingerprint_terms("not a fingerprint!") == []


def test_a_recording_is_looked_for_window_by_window_and_by_its_isrc() -> None:
    items = as_items(np.arange(1, 8 * 40) * 2654435761)  # 40 s of items: several 15 s windows
    fingerprint = chromaprint.encode_fingerprint([int(i) for i in items.astype(np.int32)], 1).decode()
    queries = recording_queries("QZABC2600001", fingerprint, 16)
    assert queries[0] == {"nested": {"path": "matches", "query": {"term": {"matches.isrc": "QZABC2600001"}}}}
    assert len(queries) >= 4
    for query in queries[1:]:
        assert query["bool"]["minimum_should_match"] == 16
    assert recording_queries("QZABC2600001", None, 16) == queries[:1]  # not in the catalog (any more)


def test_a_window_with_fewer_terms_than_asked_is_not_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    windows = [["h0001", "l0002"], [f"h{i:04d}" for i in range(20)]]  # a near-silent window, a full one
    monkeypatch.setattr(index.backfill, "decode_items", lambda fingerprint: np.zeros(1, dtype=np.uint32))
    monkeypatch.setattr(index.backfill, "query_windows", lambda items: [0, 1])
    monkeypatch.setattr(index.backfill, "terms", lambda window: windows[window])
    queries = recording_queries("QZABC2600001", "AQAA", 16)
    assert len(queries) == 2 and queries[1]["bool"]["minimum_should_match"] == 16


def test_a_window_with_fewer_terms_than_asked_needs_all_of_them() -> None:
    assert shared_terms_query(["h0001", "l0002"], 16)["bool"]["minimum_should_match"] == 2


def test_policy_composition_and_opt_out_queries_name_what_changed() -> None:
    assert "Umbra Records" in str(holder_query("Umbra Records"))
    assert "rights_holder" not in str(holder_query("_default"))  # the default policy: any match
    assert str(composition_query("T-123.456.789-0")).count("T-123.456.789-0") == 2
    query = str(person_query(["Nova Reyes", "N. Reyes"]))
    assert "Nova Reyes" in query and "N. Reyes" in query and "name_opt_out.requests.artist" in query


def test_a_round_leaves_out_what_it_already_sent() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    query = not_in_round(replay_query(since), "job-1")
    assert query["bool"]["must_not"] == [{"term": {"submission.reprocess.round_id": "job-1"}}]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([{"detector": "catalog_match", "version": "0.2.1", "status": "ok"}], False),
        ([{"detector": "catalog_match", "version": "0.2.0", "status": "ok"}], True),
        ([{"detector": "catalog_match", "version": "0.2.1", "status": "error"}], True),
        ([{"detector": "watermark", "version": "1", "status": "ok"}], True),  # never ran
    ],
)
def test_a_replay_for_one_detector_takes_stale_or_failed_findings(
    entries: list[dict[str, Any]], expected: bool
) -> None:
    assert needs_replay(entries, "catalog_match", "0.2.1") is expected


def test_a_change_of_policy_is_decided_again_from_the_stored_analysis_only() -> None:
    assert Change("policy", "Umbra Records").redecide_only
    assert not Change("recording", "QZABC2600001").redecide_only
    assert not Change("opt_out", "Nova Reyes").redecide_only


def test_backfill_requests_are_keyed_by_their_job_and_parse_back() -> None:
    request = backfill_requested("abc123", "opt_out", "Nova Reyes", ["Nova Reyes", "N. Reyes"])
    assert request.track_id == "backfill:abc123"
    assert request.event_id == backfill_requested("abc123", "opt_out", "Nova Reyes", []).event_id
    assert parse_event(request.to_bytes(), BackfillRequested) == request


def test_the_backfill_agent_runs_only_the_job_it_was_asked_for() -> None:
    request = backfill_requested("abc123", "opt_out", "Nova Reyes", ["Nova Reyes"])
    job = {"job_id": "abc123", "kind": "backfill", "trigger": "opt_out", "subject": "Nova Reyes"}
    assert refusal({**job, "state": "queued"}, request) is None
    assert refusal({**job, "state": "running"}, request) is None  # a redelivery
    assert refusal(None, request) == "no backfill job abc123"  # unknown, or a registration job
    assert refusal({**job, "state": "done"}, request) is not None
    assert refusal({**job, "state": "failed"}, request) is not None
    assert refusal({**job, "state": "queued", "subject": "Someone Else"}, request) is not None
    assert refusal({**job, "state": "queued", "trigger": "policy"}, request) is not None
    replay = backfill_requested("abc123", "replay", "Nova Reyes", [])
    assert refusal({**job, "trigger": "replay", "state": "running"}, replay) is not None


class _Jobs:
    def __init__(self, queued: str | None = None) -> None:
        self.failed: dict[str, str] = {}
        self.waiting = queued

    def queued(self, trigger: str, subject: str) -> str | None:
        return self.waiting

    def ensure(self, job_id: str, trigger: str, subject: str, rights_holder: str) -> None:
        pass

    def fail(self, job_id: str, reason: str) -> None:
        self.failed[job_id] = reason


class _BrokenPublisher:
    def publish(self, topic: str, event: object) -> None:
        raise PublishError("Kafka is down")

    def flush(self) -> None:
        pass


def test_a_backfill_request_that_cannot_be_published_fails_its_job() -> None:
    jobs = _Jobs()
    with pytest.raises(PublishError):
        request_backfill(jobs, _BrokenPublisher(), Settings(), "opt_out", "Nova Reyes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        request_backfill(jobs, _BrokenPublisher(), Settings(), "opt_out", "N" * 201)  # type: ignore[arg-type]
    assert len(jobs.failed) == 2 and all("could not be published" in r for r in jobs.failed.values())


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def publish(self, topic: str, event: object) -> None:
        self.sent.append(event)

    def flush(self) -> None:
        pass


def test_a_change_joins_the_queued_job_for_its_subject_instead_of_starting_another() -> None:
    publisher = _Publisher()
    request = request_backfill(_Jobs("job-q"), publisher, Settings(), "opt_out", "Nova Reyes")  # type: ignore[arg-type]
    assert request.job_id == "job-q" and publisher.sent == []
    request = request_backfill(_Jobs(), publisher, Settings(), "opt_out", "Nova Reyes")  # type: ignore[arg-type]
    assert request.job_id != "job-q" and publisher.sent == [request]


def test_an_opt_out_job_waits_only_until_the_registry_caches_expired() -> None:
    changed = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert registry_wait(changed, None, 60, changed) == 60
    assert registry_wait(changed, None, 60, changed + timedelta(seconds=45)) == 15
    assert registry_wait(changed, None, 60, changed + timedelta(minutes=5)) == 0
    later = {"updated_at": (changed + timedelta(seconds=30)).isoformat()}  # a change joined the job
    assert registry_wait(changed, later, 60, changed + timedelta(seconds=45)) == 45


def test_an_opt_out_job_covers_the_persons_names_as_registered_when_it_runs() -> None:
    request = backfill_requested("abc123", "opt_out", "Nova Reyes", ["Nova Reyes"])
    person = {"name": "Nova Reyes", "aliases": ["N. Reyes"]}
    assert change_of(request, person).names == ("Nova Reyes", "N. Reyes")
    assert change_of(request).names == ("Nova Reyes",)


def test_the_same_replay_is_the_same_job() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert replay_job_id(since, None) == replay_job_id(since, None)
    assert replay_job_id(since, "watermark") != replay_job_id(since, None)
    upgraded = replay_job_id(since, "watermark", {"watermark": "2", "voice": "1"})
    assert upgraded == replay_job_id(since, "watermark", {"voice": "1", "watermark": "2"})
    assert upgraded != replay_job_id(since, "watermark", {"watermark": "3", "voice": "1"})  # upgraded again


class _Es:
    """Just enough of Elasticsearch for a job item: create refuses an existing id."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def create(self, index: str, id: str, document: dict[str, Any]) -> None:
        if id in self.docs:
            raise ConflictError(
                "exists", ApiResponseMeta(409, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "h", 1)), {}
            )
        self.docs[id] = dict(document)

    def update(self, index: str, id: str, doc: dict[str, Any], retry_on_conflict: int = 0) -> None:
        self.docs[id].update(doc)


def test_a_redelivered_decision_never_turns_a_changed_track_unchanged() -> None:
    es = _Es()
    jobs = BackfillJobs(es, Indices("t"))  # type: ignore[arg-type]
    jobs.mark_decided("job-1", "trk-1", True)
    jobs.mark_decided("job-1", "trk-1", False)  # redelivered: the verdict is now the current one
    assert es.docs["job-1|trk-1"]["state"] == "changed"
    jobs.mark_decided("job-1", "trk-2", False)
    jobs.mark_decided("job-1", "trk-2", True)
    assert es.docs["job-1|trk-2"]["state"] == "changed"


@pytest.mark.parametrize(
    ("state", "republished", "decided", "expected"),
    [
        ("running", 5, 5, "running"),  # still finding tracks
        ("published", 5, 3, "published"),  # waiting for decisions
        ("published", 5, 5, "done"),
        ("published", 0, 0, "done"),  # nothing affected
        ("failed", 5, 5, "failed"),
    ],
)
def test_a_backfill_is_done_once_every_track_it_sent_is_decided(
    state: str, republished: int, decided: int, expected: str
) -> None:
    assert backfill_state(state, republished, decided) == expected
