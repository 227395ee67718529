"""Modified copies of a master through the real Kafka, Elasticsearch and worker: a sped-up remix
and a pitch-shifted copy are found as modified matches with their factors, the holder's policy
for each kind of modification is applied, and holders can search their catalog's modified uses.
Masters registered before the third fingerprint get it from `clearance catalog reprint`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pedalboard
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from scipy.signal import resample_poly

from api.app import create_app
from cli.catalog import add_from_manifest, reprint_from_manifest
from corpus import synth
from decisions.policy import MatchRule
from detectors import modified
from index.catalog import renew_modified_terms, with_older_modified_terms
from index.names import Indices
from index.stores import Stores
from model.events import TrackMetadata
from model.settings import Settings
from streams.ingest import submission_for
from tests.integration.test_catalog import write_manifest
from tests.integration.test_pipeline import decided_record, eventually, publish

pytestmark = pytest.mark.integration
RATE = synth.SAMPLE_RATE
MASTER_SEED, FILLER_SEED = 321, 322
HOLDER = "Harbor Records"


@pytest.fixture(scope="module")
def master(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("harbor")
    synth.write(folder / "glass-harbor.flac", synth.song(seed=MASTER_SEED, seconds=60))
    manifest = write_manifest(
        folder,
        [
            {
                "file": "glass-harbor.flac",
                "isrc": "QZMOD2600001",
                "title": "Glass Harbor",
                "artists": ["Nova Reyes"],
                "rights_holder": HOLDER,
                "policy": "track",
                "royalty_rate_bp": 2500,
            }
        ],
    )
    assert add_from_manifest(manifest, live_settings, stores.catalog) == 1
    stores.registry.set_policy(
        HOLDER,
        [
            MatchRule(action="monetize", min_matched_seconds=5, modifications=["sped_up", "slowed"]),
            MatchRule(action="block", min_matched_seconds=5, modifications=["pitch_shifted"]),
            MatchRule(action="recording"),
        ],
    )
    time.sleep(live_settings.registry_cache_seconds + 1)  # the workers' cache expiry


def _between_filler(path: Path, part: npt.NDArray[np.float32]) -> Path:
    filler = synth.song(seed=FILLER_SEED, seconds=16)
    return synth.write(
        path, np.concatenate([filler[: 8 * RATE], part, filler[8 * RATE :]]).astype(np.float32)
    )


def _master(start_s: float, seconds: float) -> npt.NDArray[np.float32]:
    return synth.song(seed=MASTER_SEED, seconds=60)[int(start_s * RATE) : int((start_s + seconds) * RATE)]


def _submit_and_wait(settings: Settings, es: Elasticsearch, audio: Path, track_id: str) -> dict[str, Any]:
    sub = submission_for(audio, TrackMetadata(title=track_id, track_id=track_id), settings)
    publish(settings, (sub.track_id, sub.to_bytes()))
    return eventually(decided_record(es, settings, sub), timeout_s=120, what=f"the decision on {track_id}")


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_sped_up_remix_is_a_modified_match_paid_under_the_holders_sped_up_rule(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    master: None,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    holder_key = stores.keys.create("rights_holder", "harbor", HOLDER)[0]
    other_key = stores.keys.create("rights_holder", "elsewhere", "Elsewhere Music")[0]
    # 20 s of the master played 1.25x as fast (16 s), between 16 s of other music
    sped_up = resample_poly(_master(20, 20), 1000, 1250).astype(np.float32)
    record = _submit_and_wait(
        live_settings, es, _between_filler(tmp_path / "nightcore.mp3", sped_up), "it-sped-up"
    )

    (match,) = record["matches"]
    assert match["isrc"] == "QZMOD2600001"
    assert match["modification"] == "sped_up"
    assert match["tempo_factor"] == pytest.approx(1.25, rel=0.015)
    assert match["pitch_shift_semitones"] == pytest.approx(3.86, abs=0.3)
    (segment,) = [s for s in match["segments"] if s["method"] == "modified"]
    assert segment["upload_start_s"] == pytest.approx(8, abs=1.0)
    assert segment["upload_end_s"] == pytest.approx(24, abs=1.0)
    assert segment["reference_start_s"] == pytest.approx(20 + (segment["upload_start_s"] - 8) * 1.25, abs=1.0)

    assert record["decision"]["action"] == "royalty"
    (reason,) = [r for r in record["decision"]["reasons"] if r["code"] == "catalog_monetize"]
    assert reason["message"].startswith("sped up 1.25x, +3.9 semitones: ")
    assert f"{HOLDER}@1" in record["decision"]["policy_version"]

    # the holder finds its catalog's modified uses through the API; another holder sees none
    es.indices.refresh(index=Indices(live_settings.index_prefix).provenance)
    with TestClient(create_app(live_settings)) as client:
        mine = client.get("/v1/records", params={"modification": "sped_up"}, headers=_bearer(holder_key))
        assert mine.status_code == 200, mine.text
        assert [r["track_id"] for r in mine.json()["items"]] == ["it-sped-up"]
        assert mine.json()["items"][0]["matches"][0]["tempo_factor"] == pytest.approx(1.25, rel=0.015)
        any_modified = client.get(
            "/v1/records", params={"modification": "modified"}, headers=_bearer(holder_key)
        )
        assert "it-sped-up" in [r["track_id"] for r in any_modified.json()["items"]]
        theirs = client.get("/v1/records", params={"modification": "sped_up"}, headers=_bearer(other_key))
        assert theirs.json()["total"] == 0
        bad = client.get("/v1/records", params={"modification": "remixed"}, headers=_bearer(holder_key))
        assert bad.status_code == 422


def test_a_pitch_shifted_copy_is_blocked_under_the_holders_pitch_rule(
    live_settings: Settings, es: Elasticsearch, master: None, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    shifted = pedalboard.PitchShift(semitones=-3)(_master(10, 14)[None, :], RATE)[0].astype(np.float32)
    record = _submit_and_wait(live_settings, es, synth.write(tmp_path / "key-down.wav", shifted), "it-pitch")

    (match,) = record["matches"]
    assert match["modification"] == "pitch_shifted"
    assert match["tempo_factor"] == pytest.approx(1.0, abs=0.015)
    assert match["pitch_shift_semitones"] == pytest.approx(-3.0, abs=0.3)
    assert record["decision"]["action"] == "takedown"
    assert {r["code"] for r in record["decision"]["reasons"]} == {"catalog_block"}


def test_reprint_gives_old_registrations_the_third_fingerprint_and_resumes(
    live_settings: Settings, es: Elasticsearch, stores: Stores, tmp_path: Path
) -> None:
    for n in (1, 2, 3):
        synth.write(tmp_path / f"old-{n}.flac", synth.song(seed=330 + n, seconds=20))
    rows: list[dict[str, object]] = [
        {
            "file": f"old-{n}.flac",
            "isrc": f"QZOLD260000{n}",
            "title": f"Old {n}",
            "artists": ["Ed"],
            "rights_holder": "Old Label",
        }
        for n in (1, 2, 3)
    ]
    manifest = write_manifest(tmp_path, rows)
    assert add_from_manifest(manifest, live_settings, stores.catalog) == 3
    indices = Indices(live_settings.index_prefix)
    for n in (1, 2, 3):
        isrc = f"QZOLD260000{n}"
        old = es.get(index=indices.catalog, id=isrc)["_source"]
        if n == 2:  # labelled with an older peak format (18 a second), which today's do not align with
            old["peaks_version"] = "0.3.0"
        else:  # as registered before the third fingerprint existed
            for field in ("peaks_version", "peak_count", "peaks", "triplet_terms"):
                del old[field]
        es.index(index=indices.catalog, id=isrc, document=old, refresh=True)
    assert stores.catalog.lookup().recordings(["QZOLD2600002"])[0].peaks is None
    # the third file is now another song: not the audio registered under that ISRC
    synth.write(tmp_path / "old-3.flac", synth.song(seed=339, seconds=20))

    class Interrupted(Exception):
        pass

    def stop_after_first(n: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        reprint_from_manifest(manifest, live_settings, stores.catalog, stop_after_first)
    es.indices.refresh(index=indices.catalog)
    first = es.get(index=indices.catalog, id="QZOLD2600001")["_source"]
    assert first["peaks_version"] == modified.VERSION and first["peak_count"] > 0
    assert first["rights_holder"] == "Old Label" and first["title"] == "Old 1"  # the rest untouched

    report = reprint_from_manifest(manifest, live_settings, stores.catalog)
    assert (report.updated, report.already_current) == (1, 1)
    assert report.not_the_registered_audio == ["QZOLD2600003"]
    es.indices.refresh(index=indices.catalog)
    assert "peaks" not in es.get(index=indices.catalog, id="QZOLD2600003")["_source"]
    assert es.get(index=indices.catalog, id="QZOLD2600002")["_source"]["peaks_version"] == modified.VERSION
    assert stores.catalog.lookup().recordings(["QZOLD2600002"])[0].peaks is not None


def test_renew_terms_makes_registrations_of_an_older_term_version_searchable_from_their_peaks(
    live_settings: Settings,
    es: Elasticsearch,
    stores: Stores,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Documents written under an earlier version whose peaks are packed as today's but whose
    retrieval terms were triplet hashes (as 0.2.0's were) keep their peaks; `clearance catalog
    renew-terms` gives them the current terms without their audio, resumably, and a sped-up
    excerpt then retrieves them."""
    earlier = "0.3.9"  # an upgrade that changes the terms and keeps the peaks
    monkeypatch.setattr(modified, "PEAK_FORMATS", frozenset({modified.VERSION, earlier}))
    songs = {f"QZTRM260000{n}": synth.song(seed=340 + n, seconds=30) for n in (1, 2)}
    for n, audio in enumerate(songs.values(), start=1):
        synth.write(tmp_path / f"terms-{n}.flac", audio)
    rows: list[dict[str, object]] = [
        {
            "file": f"terms-{n}.flac",
            "isrc": isrc,
            "title": f"Terms {n}",
            "artists": ["Ed"],
            "rights_holder": "T",
        }
        for n, isrc in enumerate(songs, start=1)
    ]
    assert add_from_manifest(write_manifest(tmp_path, rows), live_settings, stores.catalog) == 2
    indices = Indices(live_settings.index_prefix)
    registered = {isrc: es.get(index=indices.catalog, id=isrc)["_source"] for isrc in songs}
    for isrc, doc in registered.items():  # as the earlier version wrote them: these peaks, triplet terms
        triplet_hashes = np.unique(modified.triplets(modified.unpack(doc["peaks"]))[:, 0])
        old = {
            **doc,
            "peaks_version": earlier,
            "triplet_terms": [format(int(h), "x") for h in triplet_hashes],
        }
        es.index(index=indices.catalog, id=isrc, document=old, refresh=True)

    def candidates_for_sped_up_excerpt(isrc: str) -> list[str]:
        excerpt = songs[isrc][8 * RATE : 20 * RATE]
        sped_up = resample_poly(excerpt, 1000, 1250).astype(np.float32)
        windows = modified.query_terms(modified.upload_peaks(sped_up, RATE))
        per_window = stores.catalog.lookup().modified_candidates([w.terms for w in windows])
        return [isrc for ranked in per_window for isrc in ranked]

    assert "QZTRM2600001" not in candidates_for_sped_up_excerpt("QZTRM2600001")
    assert with_older_modified_terms(es, indices.catalog) == 2

    class Interrupted(Exception):
        pass

    def stop_after_first(n: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        renew_modified_terms(es, indices.catalog, stop_after_first)
    es.indices.refresh(index=indices.catalog)
    assert with_older_modified_terms(es, indices.catalog) == 1
    assert renew_modified_terms(es, indices.catalog) == 1
    assert renew_modified_terms(es, indices.catalog) == 0
    for isrc, doc in registered.items():
        renewed = es.get(index=indices.catalog, id=isrc)["_source"]
        assert renewed["triplet_terms"] == doc["triplet_terms"]  # as registration makes them
        assert renewed["peaks_version"] == modified.VERSION and renewed["title"] == doc["title"]
        assert isrc in candidates_for_sped_up_excerpt(isrc)
