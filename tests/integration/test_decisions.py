"""Decisions through the real Kafka and Elasticsearch: opt-outs, policies changed at run time,
royalties paid once."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from cli.catalog import add_from_manifest
from corpus import synth
from decisions.policy import MatchRule
from index.history import DecisionStore
from index.names import Indices
from index.stores import Stores
from model.events import TrackMetadata, utcnow
from model.settings import Settings
from streams.ingest import submission_for
from tests.integration.test_catalog import write_manifest
from tests.integration.test_pipeline import decided_record, eventually, indexed_decisions, publish

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE
OPTED_OUT_SEED, MONETIZED_SEED = 301, 302


@pytest.fixture(scope="module")
def masters(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("masters")
    synth.write(folder / "quinn.flac", synth.song(seed=OPTED_OUT_SEED, seconds=60))
    synth.write(folder / "kite.flac", synth.song(seed=MONETIZED_SEED, seconds=60))
    manifest = write_manifest(
        folder,
        [
            {
                "file": "quinn.flac",
                "isrc": "QZDEC2600001",
                "title": "Northern Wire",
                "artists": ["Mara Quinn"],
                "rights_holder": "Quinn Music",
                "policy": "monetize",
                "royalty_rate_bp": 4000,
            },
            {
                "file": "kite.flac",
                "isrc": "QZDEC2600002",
                "title": "Paper Kite",
                "artists": ["Lio Marsh"],
                "rights_holder": "Kite Records",
                "policy": "monetize",
                "royalty_rate_bp": 3000,
            },
        ],
    )
    assert add_from_manifest(manifest, live_settings, stores.catalog) == 2
    # The opt-out is set in the registry, not in the catalog manifest: workers pick it up.
    stores.registry.register_person("Mara Quinn", opted_out=True)


def _remix(path: Path, master_seed: int, filler_seed: int) -> Path:
    """20 s of a master between two stretches of other music."""
    master = synth.song(seed=master_seed, seconds=60)[20 * RATE : 40 * RATE]
    filler = synth.song(seed=filler_seed, seconds=20)
    return synth.write(path, np.concatenate([filler[: 10 * RATE], master, filler[10 * RATE :]]))


def royalty_decisions(es: Elasticsearch, indices: Indices, track_id: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=indices.decisions)
    history = DecisionStore(es, indices).history(track_id)
    return [d for d in history if d["action"] == "royalty" and not d["verdict"]]


def _actions(decisions: list[dict[str, Any]]) -> set[str]:
    return {d["action"] for d in decisions}


def _codes(decision: dict[str, Any]) -> set[str]:
    return {r["code"] for r in decision["reasons"]}


def test_generated_remix_of_an_opted_out_master_that_names_her_is_taken_down_once_with_both_reasons(
    live_settings: Settings, es: Elasticsearch, masters: None, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    audio = _remix(tmp_path / "quinn-remix.mp3", OPTED_OUT_SEED, filler_seed=311)
    sub = submission_for(
        audio,
        TrackMetadata(
            source="generated",
            title="Wire Dreams",
            prompt="a dreamy remix in the style of MARA quinn",
            track_id="it-optout-remix",
        ),
        live_settings,
    )
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    record = eventually(decided_record(es, live_settings, sub), what="the remix's decision")

    assert record["decision"]["action"] == "takedown"
    assert {"opt_out_recording", "opt_out_name"} <= _codes(record["decision"])
    assert [m["isrc"] for m in record["matches"]] == ["QZDEC2600001"]
    assert record["name_opt_out"]["requests"][0]["artist"] == "Mara Quinn"
    assert record["name_opt_out"]["requests"][0]["field"] == "prompt"

    decisions = eventually(
        indexed_decisions(es, live_settings, sub.track_id, lambda ds: {"takedown", "label"} <= _actions(ds)),
        what="the takedown and the label in the decisions index",
    )
    verdicts = [d for d in decisions if d["verdict"]]
    assert len(verdicts) == 1 and verdicts[0]["action"] == "takedown"
    assert {"opt_out_recording", "opt_out_name"} <= _codes(verdicts[0])
    assert not [d for d in decisions if d["action"] == "royalty"]  # a takedown pays nobody
    label = next(d for d in decisions if d["action"] == "label")
    assert label["label"]["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"
    assert "Northern Wire" in label["label"]["summary"]


def test_monetized_remix_pays_once_and_a_policy_change_applies_without_redeploy(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    masters: None,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    indices = Indices(live_settings.index_prefix)
    audio = _remix(tmp_path / "kite-remix.mp3", MONETIZED_SEED, filler_seed=312)
    sub = submission_for(
        audio,
        TrackMetadata(title="Kite Flip", declared_ai_use="assisted", track_id="it-kite-remix"),
        live_settings,
    )
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    record = eventually(decided_record(es, live_settings, sub), what="the monetized remix's decision")
    assert record["decision"]["action"] == "royalty"
    assert "_default@1" in record["decision"]["policy_version"]

    # the royalty event is indexed on its own, possibly just after the provenance record
    royalties = eventually(lambda: royalty_decisions(es, indices, sub.track_id), what="the royalty decision")
    assert [r["royalty"]["rights_holder"] for r in royalties] == ["Kite Records"]
    seconds = royalties[0]["royalty"]["recordings"][0]["counted_seconds"]
    assert 17 <= seconds <= 21
    assert royalties[0]["royalty"]["basis_points"] == int(3000 * round(seconds * 10) / 400)

    # The same submission replayed: the same decisions, no second royalty.
    publish(live_settings, (sub.track_id, sub.to_bytes()))
    # A new submission of the same audio (another event) must not pay again either.
    again = sub.model_copy(update={"event_id": sub.event_id + "-again", "occurred_at": utcnow()})
    publish(live_settings, (again.track_id, again.to_bytes()))
    eventually(decided_record(es, live_settings, again), what="the re-submission's decision")
    assert len(royalty_decisions(es, indices, sub.track_id)) == 1

    # The label changes its policy: from now on remixes of its masters are blocked.
    policy = stores.registry.set_policy("Kite Records", [MatchRule(action="block", min_matched_seconds=10)])
    assert policy.version == 1 and policy.label == "Kite Records@1"
    time.sleep(live_settings.registry_cache_seconds + 1)  # the workers' cache expiry
    later = submission_for(
        _remix(tmp_path / "kite-remix-2.mp3", MONETIZED_SEED, filler_seed=313),
        TrackMetadata(title="Kite Flip 2", track_id="it-kite-remix-2"),
        live_settings,
    )
    publish(live_settings, (later.track_id, later.to_bytes()))
    record = eventually(decided_record(es, live_settings, later), what="the later remix's decision")
    assert record["decision"]["action"] == "takedown", "the policy change did not reach the worker"
    assert "Kite Records@1" in record["decision"]["policy_version"]
    assert _codes(record["decision"]) == {"catalog_block"}
