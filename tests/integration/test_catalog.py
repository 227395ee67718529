"""Catalog registration in the real Elasticsearch, and matching through the real pipeline."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from cli.catalog import ManifestError, add_from_manifest
from corpus import synth
from detectors import landmarks
from index.catalog import EsCatalogLookup, OwnershipConflict
from index.names import Indices
from index.stores import Stores
from index.templates import ensure_indices
from model.events import TrackMetadata
from model.findings import RecordingMetadata
from model.settings import Settings
from streams.ingest import submission_for
from streams.registration import Registration
from tests.integration.conftest import drop_indices
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE


def write_manifest(folder: Path, rows: list[dict[str, object]]) -> Path:
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return manifest


@pytest.fixture(scope="module")
def catalog(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("catalog")
    synth.write(folder / "block.flac", synth.song(seed=201, seconds=150))
    synth.write(folder / "monetize.flac", synth.song(seed=202, seconds=60))
    manifest = write_manifest(
        folder,
        [
            {
                "file": "block.flac",
                "isrc": "QZTST2600001",
                "title": "Locked",
                "artists": ["Ria"],
                "rights_holder": "Label A",
                "policy": "block",
            },
            {
                "file": "monetize.flac",
                "isrc": "QZTST2600002",
                "title": "Open",
                "artists": ["Sol"],
                "rights_holder": "Label B",
                "catalog": "indie",
                "policy": "monetize",
                "royalty_rate": "0.15",
            },
        ],
    )
    assert add_from_manifest(manifest, live_settings, stores.catalog) == 2
    return {"block": "QZTST2600001", "monetize": "QZTST2600002", "manifest": str(manifest)}


def test_registration_fingerprints_the_whole_recording_and_re_adding_updates(
    live_settings: Settings, es: Elasticsearch, stores: Stores, catalog: dict[str, str]
) -> None:
    indices = Indices(live_settings.index_prefix)
    locked = stores.catalog.get(catalog["block"])
    assert locked is not None and locked["duration_s"] == pytest.approx(150, abs=0.1)
    assert locked["item_count"] > 8 * 140  # past chromaprint's usual 120 s
    stored = es.get(index=indices.catalog, id=catalog["block"], source_includes=["landmarks"])["_source"]
    last_landmark_s = landmarks.unpack(stored["landmarks"])[-1, 1] / landmarks.FRAMES_PER_SECOND
    assert last_landmark_s > 140 and locked["landmark_count"] > 10 * 150
    assert stores.catalog.get(catalog["monetize"])["royalty_rate_bp"] == 1500  # type: ignore[index]

    assert add_from_manifest(Path(catalog["manifest"]), live_settings, stores.catalog) == 2
    es.indices.refresh(index=indices.catalog)
    assert es.count(index=indices.catalog, query={"term": {"isrc": catalog["block"]}})["count"] == 1


def test_bad_manifest_rows_are_named(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path: Path
) -> None:
    synth.write(tmp_path / "a.wav", synth.song(seed=1, seconds=5))
    manifest = write_manifest(
        tmp_path,
        [{"file": "a.wav", "isrc": "not-an-isrc", "title": "x", "artists": ["y"], "rights_holder": "z"}],
    )
    with pytest.raises(ManifestError, match=r"row 1.*isrc"):
        add_from_manifest(manifest, live_settings, stores.catalog)


def test_removing_a_recording(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path: Path
) -> None:
    synth.write(tmp_path / "gone.wav", synth.song(seed=203, seconds=20))
    manifest = write_manifest(
        tmp_path,
        [
            {
                "file": "gone.wav",
                "isrc": "QZTST2600099",
                "title": "Gone",
                "artists": ["N"],
                "rights_holder": "Label C",
            }
        ],
    )
    add_from_manifest(manifest, live_settings, stores.catalog)
    assert stores.catalog.remove("QZTST2600099") and stores.catalog.get("QZTST2600099") is None
    assert not stores.catalog.remove("QZTST2600099")


def test_lookup_finds_the_master_of_an_excerpt(
    live_settings: Settings, es: Elasticsearch, catalog: dict[str, str], tmp_path: Path
) -> None:
    from detectors.audio import decode
    from detectors.catalog import CatalogMatcher, decode_items
    from detectors.fingerprint import chromaprint_fingerprint

    excerpt = synth.write(tmp_path / "x.mp3", synth.song(seed=201, seconds=150)[130 * RATE : 140 * RATE])
    items = decode_items(chromaprint_fingerprint(decode(excerpt, 22050, 60)).fingerprint)
    result = CatalogMatcher(EsCatalogLookup(es, Indices(live_settings.index_prefix))).match(items)
    assert [m.isrc for m in result.matches] == [catalog["block"]]
    assert result.matches[0].segments[0].reference_start_s == pytest.approx(130, abs=0.5)


def decided_upload(
    samples: np.ndarray, title: str, track_id: str, settings: Settings, es: Elasticsearch, folder: Path
) -> dict[str, Any]:
    """Submit audio (as an MP3) to the running pipeline and wait for its provenance record."""
    audio = synth.write(folder / f"{track_id}.mp3", samples.astype(np.float32))
    sub = submission_for(audio, TrackMetadata(title=title, track_id=track_id), settings)
    publish(settings, (sub.track_id, sub.to_bytes()))
    record: dict[str, Any] = eventually(decided_record(es, settings, sub), what=f"the decision on {title}")
    return record


@pytest.mark.usefixtures("worker")
def test_an_upload_built_from_two_masters_is_matched_and_decided(
    live_settings: Settings, es: Elasticsearch, catalog: dict[str, str], tmp_path: Path
) -> None:
    filler = synth.song(seed=204, seconds=20)
    medley = np.concatenate(
        [
            filler[: 8 * RATE],
            synth.song(seed=202, seconds=60)[10 * RATE : 25 * RATE],
            synth.song(seed=201, seconds=150)[100 * RATE : 112 * RATE],
            filler[8 * RATE :],
        ]
    )
    record = decided_upload(medley, "Two Songs", "it-two-masters", live_settings, es, tmp_path)

    by_isrc = {m["isrc"]: m for m in record["matches"]}
    assert set(by_isrc) == {catalog["block"], catalog["monetize"]}
    assert by_isrc[catalog["monetize"]]["segments"][0]["upload_start_s"] == pytest.approx(8, abs=1.0)
    assert by_isrc[catalog["block"]]["segments"][0]["upload_start_s"] == pytest.approx(23, abs=1.0)
    assert by_isrc[catalog["block"]]["rights_holder"] == "Label A"
    assert record["decision"]["action"] == "takedown"
    assert {r["code"] for r in record["decision"]["reasons"]} == {"catalog_block", "catalog_monetize"}


@pytest.mark.usefixtures("worker")
def test_a_master_mixed_under_another_song_is_found_by_its_landmarks(
    live_settings: Settings, es: Elasticsearch, catalog: dict[str, str], tmp_path: Path
) -> None:
    master = synth.song(seed=202, seconds=60)[20 * RATE : 35 * RATE]
    other = synth.song(seed=205, seconds=15)
    other *= np.sqrt(np.mean(master**2) / np.mean(other**2))  # equal loudness
    mix = (master + other) / np.max(np.abs(master + other)) * 0.9
    record = decided_upload(mix, "Under The Mix", "it-mixed-master", live_settings, es, tmp_path)

    (match,) = record["matches"]
    assert match["isrc"] == catalog["monetize"]
    assert {s["method"] for s in match["segments"]} == {"landmarks"}
    segment = match["segments"][0]
    assert segment["reference_start_s"] - segment["upload_start_s"] == pytest.approx(20, abs=0.2)
    assert match["seconds_matched"] >= 10


def test_two_holders_racing_for_an_isrc_exactly_one_wins_and_owners_may_replace_their_own(
    live_settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    """Ownership is enforced by the write: create-if-absent, or a replace conditional on the
    revision found to be the same holder's."""
    prints = Registration(live_settings, stores.catalog).fingerprint(
        synth.write(tmp_path / "m.flac", synth.song(seed=231, seconds=12))
    )
    for round_ in range(5):
        isrc = f"QZRCE260{round_:04d}"
        metas = [
            RecordingMetadata(isrc=isrc, title=holder, artists=["X"], rights_holder=holder)
            for holder in ("Race One", "Race Two", "Race One", "Race Two")
        ]
        start = threading.Barrier(len(metas))

        def register(meta: RecordingMetadata, start: threading.Barrier = start) -> str | None:
            start.wait()
            try:
                stores.catalog.register_owned(meta, prints)
            except OwnershipConflict:
                return None
            return meta.rights_holder

        with ThreadPoolExecutor(len(metas)) as pool:
            winners = {w for w in pool.map(register, metas) if w is not None}
        owner = (stores.catalog.get(isrc) or {}).get("rights_holder")
        assert winners == {owner}, (round_, winners, owner)
        loser = "Race Two" if owner == "Race One" else "Race One"
        with pytest.raises(OwnershipConflict, match="another rights holder"):
            stores.catalog.register_owned(metas[0].model_copy(update={"rights_holder": loser}), prints)
        assert not stores.catalog.remove_owned(isrc, loser)
        assert stores.catalog.remove_owned(isrc, str(owner))


def test_a_failed_catalog_search_is_an_error_not_an_empty_catalog(
    live_settings: Settings, es: Elasticsearch, catalog: dict[str, str]
) -> None:
    indices = Indices(live_settings.index_prefix)
    working = EsCatalogLookup(es, indices)
    failing = EsCatalogLookup(es, indices, extra_catalogs=(f"{live_settings.index_prefix}no-such-catalog",))
    upload = synth.song(seed=201, seconds=150)[20 * RATE : 40 * RATE]
    windows = [w.terms for w in landmarks.query_terms(landmarks.landmarks(upload, RATE))]
    assert catalog["block"] in {isrc for ranked in working.landmark_candidates(windows) for isrc in ranked}
    with pytest.raises(RuntimeError, match="a catalog search failed"):
        failing.landmark_candidates(windows)


def test_a_window_holding_a_single_term_brings_no_candidates(
    live_settings: Settings, es: Elasticsearch, catalog: dict[str, str]
) -> None:
    """A candidate must share at least two of a window's terms: a window of one term (a
    near-silent stretch) is not searched, so it cannot rank every recording holding that term."""
    lookup = EsCatalogLookup(es, Indices(live_settings.index_prefix))
    upload = synth.song(seed=201, seconds=150)[20 * RATE : 40 * RATE]
    (first, *_) = [w.terms for w in landmarks.query_terms(landmarks.landmarks(upload, RATE))]
    assert catalog["block"] in lookup.landmark_candidates([first])[0]
    assert lookup.landmark_candidates([[term] for term in first]) == [[] for _ in first]


def test_reference_indices_are_kept_in_few_segments_even_when_made_before(es: Elasticsearch) -> None:
    """Every upload searches the catalog and the generated tracks with up to a thousand terms,
    each looked up once per segment: their merge policy keeps them in few segments, and an index
    made before the policy gets it when the services start."""
    prefix = f"segments-{uuid.uuid4().hex[:8]}-"
    indices = Indices(prefix)
    es.indices.create(index=indices.catalog)  # as an older release made it
    try:
        ensure_indices(es, indices)
        for name in (indices.catalog, indices.generated):
            policy = es.indices.get_settings(index=name)[name]["settings"]["index"]["merge"]["policy"]
            assert policy == {"segments_per_tier": "2", "floor_segment": "256mb"}
        other = es.indices.get_settings(index=indices.decisions)[indices.decisions]["settings"]["index"]
        assert "merge" not in other  # indices written all day keep Elasticsearch's defaults
    finally:
        drop_indices(es, prefix)
