"""Covers of registered compositions through the real Kafka, Elasticsearch and worker: a generated
cover (other instruments, three semitones up) of a song whose writer opted out is taken down
with the stretch it performs; an uploaded cover of a monetized song pays the song's publisher
and not the label of its master; publishers see their own compositions' covers, nobody else's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from cli.catalog import add_compositions, add_from_manifest
from corpus import synth
from detectors import covers
from index.compositions import (
    EsCompositionLookup,
    print_document,
    renew_section_vectors,
    with_older_section_vectors,
)
from index.names import Indices
from index.stores import Stores
from model.events import TrackMetadata
from model.settings import Settings
from streams.ingest import submission_for
from tests.integration.test_catalog import write_manifest
from tests.integration.test_decisions import royalty_decisions
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
OPTED_OUT_SEED, MONETIZED_SEED, OTHER_SEED = 4101, 4104, 4106  # three different progressions
SONG_SECONDS = 60


@pytest.fixture(scope="module")
def songs(live_settings: Settings, stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Three compositions, each registered from its master (a label's recording naming it)."""
    folder = tmp_path_factory.mktemp("songs")
    for seed in (OPTED_OUT_SEED, MONETIZED_SEED, OTHER_SEED):
        synth.write(folder / f"{seed}.flac", synth.song(seed=seed, seconds=SONG_SECONDS))
    compositions = write_manifest(
        folder,
        [
            {
                "work_id": "W-IT-GLASS",
                "iswc": "T-123.456.789-0",
                "title": "Glass Harbor",
                "writers": ["Nova Reyes"],
                "rights_holder": "Harbor Songs",
                "opt_out": True,
            },
            {
                "work_id": "W-IT-PAPER",
                "title": "Paper Lanterns",
                "writers": ["Ida Marsh", "Tom Vale"],
                "rights_holder": "Lantern Publishing",
                "policy": "monetize",
                "royalty_rate_bp": 1500,
            },
            {
                "work_id": "W-IT-OTHER",
                "title": "Other Weather",
                "writers": ["Ray Quill"],
                "rights_holder": "Lantern Publishing",
                "policy": "track",
            },
        ],
    )
    assert add_compositions(compositions, live_settings, stores.catalog, stores.compositions) == 3
    masters = write_manifest(
        folder,
        [
            {
                "file": f"{seed}.flac",
                "isrc": f"QZCOV26{seed:05d}",
                "title": title,
                "artists": ["Nova Reyes"],
                "rights_holder": "Lantern Records",
                "policy": "monetize",
                "royalty_rate_bp": 2000,
                "work_id": work_id,
            }
            for seed, title, work_id in (
                (OPTED_OUT_SEED, "Glass Harbor", "W-IT-GLASS"),
                (MONETIZED_SEED, "Paper Lanterns", "W-IT-PAPER"),
                (OTHER_SEED, "Other Weather", "W-IT-OTHER"),
            )
        ],
    )
    assert add_from_manifest(masters, live_settings, stores.catalog, compositions=stores.compositions) == 3
    time.sleep(live_settings.registry_cache_seconds + 1)


def _submit_and_wait(
    settings: Settings, es: Elasticsearch, audio: Path, meta: TrackMetadata
) -> tuple[str, dict[str, Any]]:
    sub = submission_for(audio, meta, settings)
    publish(settings, (sub.track_id, sub.to_bytes()))
    record = eventually(
        decided_record(es, settings, sub), timeout_s=180, what=f"the decision on {meta.track_id}"
    )
    return sub.track_id, record


def test_a_generated_cover_of_an_opted_out_song_is_taken_down_with_the_stretch_it_performs(
    live_settings: Settings, es: Elasticsearch, songs: None, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # new instruments, three semitones up; no sample of the master in it
    cover = synth.song(seed=OPTED_OUT_SEED, seconds=45, transpose=3, timbre_seed=11)
    audio = synth.write(tmp_path / "glass-harbor-cover.flac", cover)
    meta = TrackMetadata(track_id="it-cover-glass", source="generated", title="harbor vibes")
    _, record = _submit_and_wait(live_settings, es, audio, meta)

    assert record["matches"] == []  # no recording: a new performance
    (song,) = record["compositions"]
    assert song["work_id"] == "W-IT-GLASS"
    assert song["transposition_semitones"] == 3
    assert song["tempo_factor"] == pytest.approx(1.0, abs=0.03)
    (segment,) = song["segments"]
    assert segment["method"] == "composition"
    assert segment["upload_end_s"] - segment["upload_start_s"] >= 30  # most of the 45 s cover
    assert segment["lead_agreement"] > 0.5  # the master's lead line was stored and read back

    assert record["decision"]["action"] == "takedown"
    (reason,) = [r for r in record["decision"]["reasons"] if r["code"] == "opt_out_composition"]
    assert "'Glass Harbor' written by Nova Reyes" in reason["message"]
    assert f"{segment['upload_start_s']:.0f}-{segment['upload_end_s']:.0f} s" in reason["message"]
    assert "AI cover of 'Glass Harbor' (written by Nova Reyes)" in record["label"]["summary"]


def test_an_uploaded_cover_of_a_monetized_song_pays_its_publisher_and_not_the_label(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    songs: None,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    # a whole new performance: two semitones down, 10 % faster, other instruments
    cover = synth.song(seed=MONETIZED_SEED, seconds=50, transpose=-2, tempo_factor=1.1, timbre_seed=5)
    audio = synth.write(tmp_path / "paper-lanterns-cover.flac", cover)
    track_id, record = _submit_and_wait(
        live_settings, es, audio, TrackMetadata(track_id="it-cover-paper", title="lanterns (cover)")
    )

    assert record["matches"] == []
    (song,) = record["compositions"]
    assert song["work_id"] == "W-IT-PAPER"
    assert song["transposition_semitones"] == -2
    assert song["tempo_factor"] == pytest.approx(1.1, rel=0.03)
    assert record["decision"]["action"] == "royalty"

    indices = Indices(live_settings.index_prefix)
    (royalty,) = eventually(lambda: royalty_decisions(es, indices, track_id), what="the royalty decision")
    assert royalty["royalty"]["rights_holder"] == "Lantern Publishing"  # and nothing for Lantern Records
    (line,) = royalty["royalty"]["recordings"]
    assert line["right"] == "composition"
    assert line["work_id"] == "W-IT-PAPER"
    duration = record["facts"]["duration_s"]
    assert royalty["royalty"]["basis_points"] == int(
        1500 * round(line["counted_seconds"] * 10) / round(duration * 10)
    )
    assert royalty["royalty"]["basis_points"] > 0

    # the publisher finds the cover among its records; the label and others see nothing of it
    publisher = stores.keys.create("rights_holder", "lanterns", "Lantern Publishing")[0]
    label = stores.keys.create("rights_holder", "lantern-records", "Lantern Records")[0]
    es.indices.refresh(index=indices.provenance)
    with TestClient(create_app(live_settings)) as client:
        mine = client.get("/v1/records", headers={"Authorization": f"Bearer {publisher}"}).json()
        assert track_id in [r["track_id"] for r in mine["items"]]
        (seen,) = [r for r in mine["items"] if r["track_id"] == track_id]
        assert [c["work_id"] for c in seen["compositions"]] == ["W-IT-PAPER"]
        theirs = client.get("/v1/records", headers={"Authorization": f"Bearer {label}"}).json()
        assert track_id not in [r["track_id"] for r in theirs["items"]]


def test_publishers_register_their_own_compositions_and_no_one_elses(
    live_settings: Settings, stores: Stores, songs: None
) -> None:
    mine = stores.keys.create("rights_holder", "kite-songs", "Kite Songs")[0]
    theirs = stores.keys.create("rights_holder", "lanterns-2", "Lantern Publishing")[0]
    body = {"title": "Kite Weather", "writers": ["Ada Pike"], "policy": "monetize", "royalty_rate_bp": 900}
    with TestClient(create_app(live_settings)) as client:
        created = client.put(
            "/v1/compositions/W-IT-KITE", json=body, headers={"Authorization": f"Bearer {mine}"}
        )
        assert created.status_code == 200, created.text
        assert created.json()["rights_holder"] == "Kite Songs"
        assert stores.compositions.get("W-IT-KITE") is not None
        # another publisher can neither take it over nor read it
        taken = client.put(
            "/v1/compositions/W-IT-KITE", json=body, headers={"Authorization": f"Bearer {theirs}"}
        )
        assert taken.status_code == 409
        assert (
            client.get(
                "/v1/compositions/W-IT-KITE", headers={"Authorization": f"Bearer {theirs}"}
            ).status_code
            == 404
        )
        assert (
            client.get(
                "/v1/compositions/W-IT-PAPER", headers={"Authorization": f"Bearer {theirs}"}
            ).status_code
            == 200
        )
        # a bad work id or body is a 422 with a message, not a 500
        bad = client.put("/v1/compositions/..%2Fx", json=body, headers={"Authorization": f"Bearer {mine}"})
        assert bad.status_code in (404, 422)
        unknown_field = client.put(
            "/v1/compositions/W-IT-KITE2",
            json={**body, "rights_holder": "Lantern Publishing"},
            headers={"Authorization": f"Bearer {mine}"},
        )
        assert unknown_field.status_code == 422


def test_a_failed_composition_search_is_an_error_not_an_upload_like_no_song(
    live_settings: Settings, es: Elasticsearch
) -> None:
    missing = EsCompositionLookup(es, Indices(f"{live_settings.index_prefix}no-such-"))
    vector = np.full(covers.VECTOR_DIMS, 1.0 / np.sqrt(covers.VECTOR_DIMS), dtype=np.float32)
    with pytest.raises(RuntimeError, match="a composition search failed"):
        missing.candidates(covers.SectionQuery(tunes=[], chroma=[vector]))


def test_performances_are_shortlisted_by_tune_and_those_registered_before_by_chroma(
    songs: None, stores: Stores, es: Elasticsearch
) -> None:
    """A print registered before tune vectors (no `tune_version`, sections without `tune`) is
    still searched, by its chroma; `clearance catalog renew-terms` gives it tune vectors from its
    stored print and lead line, without its audio. One whose lead line is of another version
    cannot be renewed so: it is counted, left as it is, and still searched by chroma."""
    rate = 22050
    prints = stores.indices.composition_prints

    def registered_before_tunes(work_id: str, seed: int, lead_version: str) -> str:
        document = print_document(work_id, "reference", covers.cover_print(synth.song(seed, 60, rate), rate))
        del document["tune_version"]
        for section in document["sections"]:
            del section["tune"]
        key = covers.performance_key(work_id, "reference")
        es.index(index=prints, id=key, document={**document, "lead_version": lead_version}, refresh=True)
        return key

    legacy = registered_before_tunes("W-IT-LEGACY", 4118, covers.LEAD_VERSION)
    older_lead = registered_before_tunes("W-IT-OLDER-LEAD", 4103, "0.0.1")
    try:
        lookup = stores.compositions.lookup()

        def shortlist(seed: int) -> list[str]:
            return lookup.candidates(_query_of(seed))

        paper = covers.performance_key("W-IT-PAPER", f"QZCOV26{MONETIZED_SEED:05d}")
        assert es.get(index=prints, id=paper)["_source"]["tune_version"] == covers.TUNE_VERSION
        assert shortlist(MONETIZED_SEED)[0] == paper
        assert legacy in shortlist(4118) and older_lead in shortlist(4103)

        tunes_of_4118 = covers.SectionQuery(tunes=_query_of(4118).tunes, chroma=[])
        assert legacy not in lookup.candidates(tunes_of_4118)
        assert with_older_section_vectors(es, stores.indices) == (1, 1)
        assert renew_section_vectors(es, stores.indices) == 1
        assert with_older_section_vectors(es, stores.indices) == (0, 1)
        renewed = es.get(index=prints, id=legacy)["_source"]
        assert renewed["tune_version"] == covers.TUNE_VERSION
        assert all(len(section["tune"]) == covers.TUNE_DIMS for section in renewed["sections"])
        assert "tune_version" not in es.get(index=prints, id=older_lead)["_source"]
        assert lookup.candidates(tunes_of_4118)[0] == legacy
        assert older_lead in shortlist(4103)
    finally:
        for key in (legacy, older_lead):
            es.delete(index=prints, id=key, refresh=True)


class _CountedReads:
    """The real client, noting which documents `mget` reads (what the cache must save)."""

    def __init__(self, es: Elasticsearch) -> None:
        self._es = es
        self.read: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._es, name)

    def mget(self, **request: Any) -> Any:
        self.read.extend(request.get("ids") or [])
        return self._es.mget(**request)


def test_a_print_is_read_once_until_it_is_registered_again(
    songs: None, stores: Stores, es: Elasticsearch
) -> None:
    counted = _CountedReads(es)
    lookup = EsCompositionLookup(cast(Elasticsearch, counted), stores.indices)
    paper = covers.performance_key("W-IT-PAPER", f"QZCOV26{MONETIZED_SEED:05d}")
    glass = covers.performance_key("W-IT-GLASS", f"QZCOV26{OPTED_OUT_SEED:05d}")
    assert paper in lookup.candidates(_query_of(MONETIZED_SEED))
    first = lookup.performances([paper])
    assert [p.metadata.work_id for p in first] == ["W-IT-PAPER"] and paper in counted.read

    counted.read.clear()
    assert paper in lookup.candidates(_query_of(MONETIZED_SEED))
    assert glass in lookup.candidates(_query_of(OPTED_OUT_SEED))
    again = lookup.performances([glass, paper])
    assert [p.metadata.work_id for p in again] == ["W-IT-GLASS", "W-IT-PAPER"]  # in the order asked
    assert again[1].print is first[0].print
    assert paper not in counted.read and glass in counted.read

    prints = stores.indices.composition_prints
    es.index(index=prints, id=paper, document=es.get(index=prints, id=paper)["_source"], refresh=True)
    counted.read.clear()
    assert paper in lookup.candidates(_query_of(MONETIZED_SEED))
    assert [p.metadata.work_id for p in lookup.performances([paper])] == ["W-IT-PAPER"]
    assert paper in counted.read  # registered again: read again, never served stale


def _query_of(seed: int) -> covers.SectionQuery:
    """The sections a 30 s cover of a synthetic song (two semitones up, other timbres) is searched by."""
    cover = covers.cover_print(synth.song(seed, 30, 22050, transpose=2, timbre_seed=3), 22050)
    return covers.section_query(covers.tempo_variants(cover))
