"""Composable index templates with explicit mappings, and their installation."""

from __future__ import annotations

from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from detectors.covers import TUNE_DIMS, VECTOR_DIMS
from index.names import Indices
from model.limits import KEYWORD_MAX_CHARS

# A longer keyword value is kept in the source but not indexed, so no string can make a whole
# document unindexable (Lucene refuses terms over 32,766 bytes).
_KEYWORD = {"type": "keyword", "ignore_above": KEYWORD_MAX_CHARS}
_DATE = {"type": "date"}
_TEXT_WITH_KEYWORD = {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}}
_OPAQUE = {"type": "object", "enabled": False}  # stored with the record, not searchable

_REASONS = {
    "properties": {
        "code": _KEYWORD,
        "message": {"type": "text"},
        "evidence": _OPAQUE,
    }
}
# a catalog recording's rights metadata, as registered and as quoted in matches
_RECORDING_METADATA = {
    "isrc": _KEYWORD,
    "title": _TEXT_WITH_KEYWORD,
    "artists": _TEXT_WITH_KEYWORD,
    "rights_holder": _KEYWORD,
    "catalog": _KEYWORD,
    "policy": _KEYWORD,
    "artist_opt_out": {"type": "boolean"},
    "royalty_rate_bp": {"type": "integer"},
    "work_id": _KEYWORD,
}
# a composition's rights metadata, as registered and as quoted in matches
_COMPOSITION_METADATA = {
    "work_id": _KEYWORD,
    "iswc": _KEYWORD,
    "title": _TEXT_WITH_KEYWORD,
    "writers": _TEXT_WITH_KEYWORD,
    "artists": _TEXT_WITH_KEYWORD,
    "rights_holder": _KEYWORD,
    "catalog": _KEYWORD,
    "policy": _KEYWORD,
    "opt_out": {"type": "boolean"},
    "royalty_rate_bp": {"type": "integer"},
}
# a platform generation's record (model/generation.py)
_GENERATION_RECORD = {
    "generation_id": _KEYWORD,
    "generator": _KEYWORD,
    "model_version": {"type": "integer"},
    "created_at": _DATE,
    "prompt": {"type": "text"},
    "prompt_sha256": _KEYWORD,
    "parents": {"properties": {"kind": _KEYWORD, "id": _KEYWORD, "title": {"type": "text"}}},
    "watermark_payload": {"type": "integer"},
    "digital_source_type": _KEYWORD,
    "audio_sha256": _KEYWORD,
    "duration_s": {"type": "float"},
}
# a reference's fingerprints and their retrieval terms (catalog recordings, generations)
_FINGERPRINTS: dict[str, Any] = {
    "duration_s": {"type": "float"},
    "item_count": {"type": "integer"},
    "fingerprint": {"type": "keyword", "index": False, "doc_values": False},
    "terms": {**_KEYWORD, "doc_values": False, "norms": False},
    "landmark_count": {"type": "integer"},
    "landmarks": {"type": "binary"},
    "landmark_terms": {**_KEYWORD, "doc_values": False, "norms": False},
    "peaks_version": _KEYWORD,
    "peak_count": {"type": "integer"},
    "peaks": {"type": "binary"},
    "triplet_terms": {**_KEYWORD, "doc_values": False, "norms": False},
    "registered_at": _DATE,
}


_LABEL = {"properties": {"digital_source_type": _KEYWORD, "summary": {"type": "text"}}}
_ROYALTY = {
    "properties": {
        "rights_holder": _KEYWORD,
        "isrc": _KEYWORD,  # schema 1 before royalty lines; kept so old documents still map
        "basis_points": {"type": "integer"},
        "recordings": {
            "properties": {
                "isrc": _KEYWORD,
                "work_id": _KEYWORD,
                "right": _KEYWORD,
                "title": _TEXT_WITH_KEYWORD,
                "royalty_rate_bp": {"type": "integer"},
                "counted_seconds": {"type": "float"},
                "basis_points": {"type": "integer"},
            }
        },
    }
}

_SUBMISSION = {
    "properties": {
        "event_id": _KEYWORD,
        "event_type": _KEYWORD,
        "schema_version": {"type": "integer"},
        "occurred_at": _DATE,
        "track_id": _KEYWORD,
        "source": _KEYWORD,
        "audio_uri": {**_KEYWORD, "index": False},
        "audio_sha256": _KEYWORD,
        "uploader_id": _KEYWORD,
        "title": _TEXT_WITH_KEYWORD,
        "artists": _TEXT_WITH_KEYWORD,
        "description": {"type": "text"},
        "prompt": {"type": "text"},
        "lyrics": {"type": "text"},
        "declared_ai_use": _KEYWORD,
        "parent_track_ids": _KEYWORD,
        "reprocess": {
            "properties": {
                "round_id": _KEYWORD,
                "trigger": _KEYWORD,
                "subject": _KEYWORD,
                "requested_at": _DATE,
            }
        },
    }
}

_CURRENT_DECISION = {
    "properties": {
        "event_id": _KEYWORD,
        "submission_event_id": _KEYWORD,
        "action": _KEYWORD,
        "policy_version": _KEYWORD,
        "decided_at": _DATE,
        "reasons": _REASONS,
        "label": _LABEL,
        "severity": {"type": "short"},
        "escalated": {"type": "boolean"},
    }
}


def provenance_mappings() -> dict[str, Any]:
    """One document per track: metadata, latest findings, current decision."""
    return {
        "dynamic": "strict",
        "properties": {
            "track_id": _KEYWORD,
            "status": _KEYWORD,
            "submission": _SUBMISSION,
            "analysis_event_id": _KEYWORD,
            "analyzed_at": _DATE,
            "facts": {
                "properties": {
                    "kind": _KEYWORD,
                    "duration_s": {"type": "float"},
                    "source_sample_rate": {"type": "integer"},
                    "source_channels": {"type": "short"},
                    "codec": _KEYWORD,
                    "container": _KEYWORD,
                    "loudness_lufs": {"type": "float"},
                    "peak_dbfs": {"type": "float"},
                    "silent": {"type": "boolean"},
                }
            },
            "fingerprint": {
                "properties": {
                    "kind": _KEYWORD,
                    "algorithm": {"type": "short"},
                    "item_count": {"type": "integer"},
                    "items_per_second": {"type": "float"},
                    "duration_s": {"type": "float"},
                    "fingerprint": {"type": "keyword", "index": False, "doc_values": False},
                }
            },
            # the upload's Chromaprint retrieval terms, as the catalog's: what finds the uploads
            # that use a master registered later (retroactive claims) without decoding them again
            "fingerprint_terms": {**_KEYWORD, "doc_values": False, "norms": False},
            "detectors": {
                "properties": {
                    "detector": _KEYWORD,
                    "version": _KEYWORD,
                    "took_ms": {"type": "float"},
                    "status": _KEYWORD,
                    "error": {"type": "text"},
                }
            },
            "findings": _OPAQUE,
            "content_credentials": {
                "properties": {
                    "kind": _KEYWORD,
                    "state": _KEYWORD,
                    "claim_generator": _KEYWORD,
                    "digital_source_type": _KEYWORD,
                    "ingredients": _OPAQUE,
                    "generation_id": _KEYWORD,
                    "signer": _KEYWORD,
                    "failures": _KEYWORD,
                    "error": {"type": "text"},
                }
            },
            "generation": {
                "properties": {
                    "kind": _KEYWORD,
                    "record": {"properties": _GENERATION_RECORD},
                    "recovered_by": _KEYWORD,
                    "segments": _OPAQUE,
                    "seconds_matched": {"type": "float"},
                    "modification": _KEYWORD,
                    "tempo_factor": {"type": "float"},
                    "pitch_shift_semitones": {"type": "float"},
                    "candidates_considered": {"type": "integer"},
                }
            },
            "matches": {
                "type": "nested",
                "properties": {
                    **_RECORDING_METADATA,
                    "seconds_matched": {"type": "float"},
                    "share_of_upload": {"type": "float"},
                    "longest_segment_s": {"type": "float"},
                    "score": {"type": "float"},
                    "modification": _KEYWORD,
                    "tempo_factor": {"type": "float"},
                    "pitch_shift_semitones": {"type": "float"},
                    "segments": _OPAQUE,
                },
            },
            "compositions": {
                "type": "nested",
                "properties": {
                    **_COMPOSITION_METADATA,
                    "seconds_matched": {"type": "float"},
                    "share_of_upload": {"type": "float"},
                    "transposition_semitones": {"type": "short"},
                    "tempo_factor": {"type": "float"},
                    "score": {"type": "float"},
                    "also_recording": {"type": "boolean"},
                    "segments": _OPAQUE,
                },
            },
            "watermark": {
                "properties": {
                    "kind": _KEYWORD,
                    "model": _KEYWORD,
                    "detected": {"type": "boolean"},
                    "probability": {"type": "float"},
                    "threshold": {"type": "float"},
                    "spans": {
                        "properties": {
                            "start_s": {"type": "float"},
                            "end_s": {"type": "float"},
                            "probability": {"type": "float"},
                        }
                    },
                    "watermarked_seconds": {"type": "float"},
                    "per_second": {"type": "float", "index": False},
                    "read_share": {"type": "float"},
                    "payload": {"type": "integer"},
                    "bit_confidence": {"type": "float", "index": False},
                    "generator_id": {"type": "integer"},
                    "generator_version": {"type": "short"},
                    "generator_name": _KEYWORD,
                    "generator_registered": {"type": "boolean"},
                    "grid_offset_samples": {"type": "float"},
                }
            },
            "harassment": {
                "properties": {
                    "kind": _KEYWORD,
                    "severity": _KEYWORD,
                    "hits": {
                        "properties": {
                            "kind": _KEYWORD,
                            "field": _KEYWORD,
                            "sentence": {"type": "text"},
                            "words": _KEYWORD,
                            "targets": _KEYWORD,
                            "score": {"type": "float"},
                        }
                    },
                }
            },
            "name_opt_out": {
                "properties": {
                    "kind": _KEYWORD,
                    "requests": {
                        "properties": {
                            "artist": _KEYWORD,
                            "field": _KEYWORD,
                            "written": _KEYWORD,
                            "similarity": {"type": "float"},
                            "cue": _KEYWORD,
                        }
                    },
                }
            },
            "voice_opt_out": {
                "properties": {
                    "kind": _KEYWORD,
                    "threshold": {"type": "float"},
                    "review_threshold": {"type": "float"},
                    "voiced_seconds": {"type": "float"},
                    "matches": {
                        "properties": {
                            "artist": _KEYWORD,
                            "similarity": {"type": "float"},
                            "start_s": {"type": "float"},
                            "end_s": {"type": "float"},
                        }
                    },
                }
            },
            "decision": _CURRENT_DECISION,
            "review": {
                "properties": {
                    "decision_event_id": _KEYWORD,
                    "status": _KEYWORD,
                    "action": _KEYWORD,
                    "reviewer": _KEYWORD,
                    "reviewer_key_id": _KEYWORD,
                    "at": _DATE,
                }
            },
            "label": _LABEL,
            "updated_at": _DATE,
        },
    }


def decisions_mappings() -> dict[str, Any]:
    """Append-only: every decision event, never overwritten."""
    return {
        "dynamic": "strict",
        "properties": {
            "event_id": _KEYWORD,
            "event_type": _KEYWORD,
            "schema_version": {"type": "integer"},
            "occurred_at": _DATE,
            "indexed_at": _DATE,
            "track_id": _KEYWORD,
            "action": _KEYWORD,
            "verdict": {"type": "boolean"},
            "submission_event_id": _KEYWORD,
            "submitted_at": _DATE,
            "policy_version": _KEYWORD,
            "reasons": _REASONS,
            "label": _LABEL,
            "royalty": _ROYALTY,
        },
    }


def catalog_mappings() -> dict[str, Any]:
    """One document per registered recording (id = ISRC), with its fingerprints and the retrieval
    terms of each (Chromaprint half-items, landmark hashes, triplet hashes)."""
    return {"dynamic": "strict", "properties": {**_RECORDING_METADATA, **_FINGERPRINTS}}


def compositions_mappings() -> dict[str, Any]:
    """One document per registered composition (id = work id): its rights metadata."""
    return {"dynamic": "strict", "properties": {**_COMPOSITION_METADATA, "registered_at": _DATE}}


def _unit_vector(dims: int) -> dict[str, Any]:
    return {"type": "dense_vector", "dims": dims, "index": True, "similarity": "dot_product"}


def composition_prints_mappings() -> dict[str, Any]:
    """One document per registered performance of a composition (id = work id|performance):
    its cover print, and a vector per section for nearest-neighbour retrieval."""
    return {
        "dynamic": "strict",
        "properties": {
            "work_id": _KEYWORD,
            "performance": _KEYWORD,
            "prints_version": _KEYWORD,
            "beat_count": {"type": "integer"},
            "print": {"type": "binary"},
            "lead": {"type": "binary"},  # the lead line, a pitch class per step (prints since 2026-12-06)
            "lead_version": _KEYWORD,
            "tune_version": _KEYWORD,  # of the sections' tune vectors (prints since 2026-12-06)
            "sections": {
                "type": "nested",
                "properties": {
                    "start_s": {"type": "float"},
                    "vector": _unit_vector(VECTOR_DIMS),  # the chroma's
                    "tune": _unit_vector(TUNE_DIMS),  # the chroma's and the lead line's
                },
            },
            "registered_at": _DATE,
        },
    }


def generated_mappings() -> dict[str, Any]:
    """One document per platform generation (id = generation id): its record and the same
    fingerprints as a catalog recording's. Triplet terms are scored with BM25's length
    normalisation: a long track holds most of the common triplet hashes and would otherwise
    outrank a short one that an edited copy really comes from."""
    triplets = {**_FINGERPRINTS["triplet_terms"], "norms": True}
    return {
        "dynamic": "strict",
        "properties": {**_GENERATION_RECORD, **_FINGERPRINTS, "triplet_terms": triplets},
    }


def policies_mappings() -> dict[str, Any]:
    """Every version of every rights holder's policy (id = holder@version); never overwritten."""
    return {
        "dynamic": "strict",
        "properties": {
            "rights_holder": _KEYWORD,
            "version": {"type": "integer"},
            "rules": _OPAQUE,
            "created_at": _DATE,
        },
    }


def people_mappings() -> dict[str, Any]:
    """Real people the checks protect (id = folded name): opt-outs, aliases, voiceprints."""
    return {
        "dynamic": "strict",
        "properties": {
            "name": _TEXT_WITH_KEYWORD,
            "aliases": _TEXT_WITH_KEYWORD,
            "opted_out": {"type": "boolean"},
            "registered_by": _KEYWORD,
            "voiceprint": {"type": "dense_vector", "dims": 256, "index": False},
            "voiceprint_clips": {"type": "integer"},
            "updated_at": _DATE,
        },
    }


_REGISTRATION = {
    "properties": {"opted_out": {"type": "boolean"}, "aliases": _KEYWORD, "registered_by": _KEYWORD}
}


def audit_mappings() -> dict[str, Any]:
    """Append-only trail of reviewers' actions and of opt-out changes: who, when, what, why."""
    return {
        "dynamic": "strict",
        "properties": {
            "event_id": _KEYWORD,
            "event_type": _KEYWORD,
            "schema_version": {"type": "integer"},
            "occurred_at": _DATE,
            "indexed_at": _DATE,
            "track_id": _KEYWORD,
            "action": _KEYWORD,
            "reason": {"type": "text"},
            "reviewer": _KEYWORD,
            "reviewer_key_id": _KEYWORD,
            "reviewed_decision_event_id": _KEYWORD,
            "reviewed_action": _KEYWORD,
            "reviewed_reasons": _REASONS,
            "submission_event_id": _KEYWORD,
            "submitted_at": _DATE,
            # changes to a person's opt-out: who, which person, before and after
            "person": _KEYWORD,
            "person_name": _KEYWORD,
            "actor": _KEYWORD,
            "actor_key_id": _KEYWORD,
            "rights_holder": _KEYWORD,
            "before": _REGISTRATION,
            "after": _REGISTRATION,
        },
    }


def keys_mappings() -> dict[str, Any]:
    """API keys: only a hash of the secret is stored."""
    return {
        "dynamic": "strict",
        "properties": {
            "name": _KEYWORD,
            "role": _KEYWORD,
            "rights_holder": _KEYWORD,
            "secret_sha256": {**_KEYWORD, "index": False},
            "created_at": _DATE,
            "revoked": {"type": "boolean"},
        },
    }


def jobs_mappings() -> dict[str, Any]:
    """Background jobs (registrations, backfills, and a backfill's decided tracks): whose, about
    what, in which state, why it failed."""
    return {
        "dynamic": "strict",
        "properties": {
            "job_id": _KEYWORD,
            "kind": _KEYWORD,
            "rights_holder": _KEYWORD,
            "subject": _KEYWORD,
            "trigger": _KEYWORD,  # backfills: what changed (recording, composition, policy, ...)
            "parent_job": _KEYWORD,  # a backfill's per-track entry: the job it belongs to
            "state": _KEYWORD,
            "reason": {"type": "text"},
            "result": _OPAQUE,
            "created_at": _DATE,
            "updated_at": _DATE,
        },
    }


# The reference indices (catalog, generated tracks) are searched by every upload with up to a
# thousand terms, each looked up in every segment, and written far less often: segments under the
# floor count as that size, so the many small ones a stream of registrations leaves are merged
# soon, and two a tier keep the whole index in a few (at 10,000 recordings, 49 segments after a
# bulk load made the quad search three times slower than one).
FEW_SEGMENTS = {"merge.policy.segments_per_tier": 2, "merge.policy.floor_segment": "256mb"}


def _template(
    pattern: str, mappings: dict[str, Any], replicas: int, merging: dict[str, Any]
) -> dict[str, Any]:
    return {
        "index_patterns": [pattern],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": replicas,
                "refresh_interval": "1s",
                **merging,
            },
            "mappings": mappings,
        },
    }


def ensure_indices(es: Elasticsearch, indices: Indices, replicas: int = 0) -> None:
    """Install (or update) the templates, create missing indices, and bring new fields to
    existing ones (a conflicting mapping change fails loudly here, not at write time)."""
    wanted = (
        (indices.provenance, provenance_mappings()),
        (indices.decisions, decisions_mappings()),
        (indices.catalog, catalog_mappings()),
        (indices.compositions, compositions_mappings()),
        (indices.composition_prints, composition_prints_mappings()),
        (indices.generated, generated_mappings()),
        (indices.policies, policies_mappings()),
        (indices.people, people_mappings()),
        (indices.audit, audit_mappings()),
        (indices.keys, keys_mappings()),
        (indices.jobs, jobs_mappings()),
    )
    searched_by_terms = {indices.catalog, indices.generated}
    for name, mappings in wanted:
        merging = FEW_SEGMENTS if name in searched_by_terms else {}
        es.indices.put_index_template(name=name, **_template(name, mappings, replicas, merging))
        if es.indices.exists(index=name):
            es.indices.put_mapping(index=name, **mappings)
            # a template only shapes new indices; the replica count and merging change in place
            es.indices.put_settings(index=name, settings={"number_of_replicas": replicas, **merging})
            continue
        try:
            es.indices.create(index=name)
        except BadRequestError as exc:
            if exc.error != "resource_already_exists_exception":  # another worker was first
                raise
