"""Content Credentials (C2PA) in audio files: read and validate any manifest an upload carries,
and write the signed manifest of a platform generation (c2pa-python, the CAI's Rust SDK).

Validation has three outcomes that matter: a manifest whose signature and bindings hold and whose
signer chains to a trust anchor (trusted), one that holds but whose signer is unknown here
(untrusted: any generator can sign its own files), and one whose file or claim changed after
signing (tampered). Only a trusted manifest's claims are taken as facts."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import c2pa

from model.findings import ContentCredentials, ManifestIngredient
from model.generation import IPTC_SOURCE_TYPE_URL, GenerationRecord
from model.limits import ID_CHARS, LIST_ITEMS, MESSAGE_CHARS, NAME_CHARS, TITLE_CHARS, clip

NAME = "content_credentials"
VERSION = "0.1.0"
GENERATION_ASSERTION = "org.clearance.generation"
WATERMARK_BINDING_ALG = "org.clearance.audioseal.16bit"
FINGERPRINT_BINDING_ALG = "org.clearance.chromaprint"
_MIME_BY_SUFFIX = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".m4a": "audio/mp4"}


def sniff_mime(head: bytes) -> str | None:
    """The C2PA-capable audio format of a file from its first bytes; None for any other."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None


def mime_for_suffix(path: Path) -> str:
    mime = _MIME_BY_SUFFIX.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"Content Credentials are written into {', '.join(_MIME_BY_SUFFIX)} files only")
    return mime


@lru_cache(maxsize=4)
def _context(trust_anchors_pem: str | None) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


def read_credentials(path: Path, trust_anchors_pem: str | None) -> ContentCredentials:
    """The manifest in `path` and its validation; `absent` for files without one (or of a format
    C2PA does not define for audio)."""
    with path.open("rb") as stream:
        mime = sniff_mime(stream.read(16))
        if mime is None:
            return ContentCredentials(state="absent")
        stream.seek(0)
        try:
            reader = c2pa.Reader.try_create(mime, stream, context=_context(trust_anchors_pem))
            if reader is None:
                return ContentCredentials(state="absent")
            with reader:
                store = json.loads(reader.json())
        except (c2pa.C2paError, ValueError) as exc:
            return ContentCredentials(state="unreadable", error=clip(str(exc), MESSAGE_CHARS))
    if not isinstance(store, dict):
        return ContentCredentials(state="unreadable", error="the manifest store is not a JSON object")
    return credentials_from_store(store)


def credentials_from_store(store: dict[str, Any]) -> ContentCredentials:
    """The finding for a manifest store as c2pa's Reader reports it (JSON)."""
    statuses = store.get("validation_status")
    failures = [
        clip(s["code"], ID_CHARS)
        for s in (statuses if isinstance(statuses, list) else [])
        if isinstance(s, dict) and isinstance(s.get("code"), str)
    ][:LIST_ITEMS]
    manifests = store.get("manifests")
    active = store.get("active_manifest")
    manifest = manifests.get(active) if isinstance(manifests, dict) and isinstance(active, str) else None
    if not isinstance(manifest, dict):
        manifest = {}
    return ContentCredentials(
        state=_state(str(store.get("validation_state", "")), failures),
        claim_generator=_claim_generator(manifest),
        digital_source_type=_digital_source_type(manifest),
        ingredients=_ingredients(manifest),
        generation_id=_generation_id(manifest),
        signer=_signer(manifest),
        failures=failures,
    )


def _state(validation_state: str, failures: list[str]) -> str:
    if validation_state == "Trusted":
        return "trusted"
    if validation_state == "Valid":
        return "untrusted"
    if any(not code.startswith("signingCredential.") for code in failures):
        return "tampered"
    return "untrusted"  # only the signer's certificate failed (unknown, expired, revoked)


def _text(value: object, limit: int = NAME_CHARS) -> str | None:
    return clip(value, limit) if isinstance(value, str) and value else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        if isinstance(name, str):
            return _text(f"{name} {version}" if isinstance(version, str | int) else name)
    return _text(manifest.get("claim_generator"))


def _assertions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found = manifest.get("assertions")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def _data(assertion: dict[str, Any]) -> dict[str, Any]:
    """An assertion's data; a signed manifest's JSON is still the signer's to shape."""
    data = assertion.get("data")
    return data if isinstance(data, dict) else {}


def _digital_source_type(manifest: dict[str, Any]) -> str | None:
    """The source type the manifest's `c2pa.created` (or any) action declares, as its IPTC term."""
    declared: list[str] = []
    for assertion in _assertions(manifest):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        actions = _data(assertion).get("actions")
        for action in actions if isinstance(actions, list) else []:
            if isinstance(action, dict) and isinstance(action.get("digitalSourceType"), str):
                term = action["digitalSourceType"].rstrip("/").rsplit("/", 1)[-1]
                declared.insert(0 if action.get("action") == "c2pa.created" else len(declared), term)
    return _text(declared[0]) if declared else None


def _ingredients(manifest: dict[str, Any]) -> list[ManifestIngredient]:
    found = manifest.get("ingredients")
    return [
        ManifestIngredient(
            title=_text(i.get("title"), TITLE_CHARS) or "",
            relationship=_text(i.get("relationship"), ID_CHARS) or "",
            identifier=_text(i.get("instance_id")) or "",
        )
        for i in (found if isinstance(found, list) else [])[:LIST_ITEMS]
        if isinstance(i, dict)
    ]


def _generation_id(manifest: dict[str, Any]) -> str | None:
    for assertion in _assertions(manifest):
        if assertion.get("label") == GENERATION_ASSERTION:
            return _text(_data(assertion).get("generation_id"), ID_CHARS)
    return None


def _signer(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("signature_info")
    if not isinstance(info, dict):
        return None
    parts = [info.get("issuer"), info.get("common_name")]
    return _text(" / ".join(p for p in parts if isinstance(p, str))) or None


# Writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningMaterial:
    """The signer's certificate chain (leaf first, PEM) and its private key (PEM)."""

    chain_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(cls, chain: Path, key: Path) -> SigningMaterial:
        return cls(chain.read_bytes(), key.read_bytes())


def manifest_definition(record: GenerationRecord, fingerprint: str) -> dict[str, Any]:
    """The manifest of a platform generation: `c2pa.created` with its digital source type, the
    parents as ingredients, the generation record's id, and soft bindings naming the watermark
    payload and the Chromaprint fingerprint (what finds the record again once this is stripped)."""
    version = str(record.model_version)
    assertions: list[dict[str, Any]] = [
        {
            "label": "c2pa.actions.v2",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": IPTC_SOURCE_TYPE_URL + record.digital_source_type,
                        "softwareAgent": {"name": record.generator, "version": version},
                        "when": record.created_at.isoformat(),
                    }
                ]
            },
        },
        {
            "label": GENERATION_ASSERTION,
            "data": {
                "generation_id": record.generation_id,
                "generator": record.generator,
                "model_version": record.model_version,
                "prompt_sha256": record.prompt_sha256,
            },
        },
        {"label": "c2pa.soft-binding", "data": _binding(FINGERPRINT_BINDING_ALG, fingerprint)},
    ]
    if record.watermark_payload is not None:
        payload = base64.b64encode(record.watermark_payload.to_bytes(2, "big")).decode()
        assertions.append({"label": "c2pa.soft-binding", "data": _binding(WATERMARK_BINDING_ALG, payload)})
    return {
        "claim_generator_info": [{"name": record.generator, "version": version}],
        "title": record.generation_id,
        "assertions": assertions,
        "ingredients": [
            {
                "title": parent.title or parent.id,
                "relationship": "componentOf",
                "instance_id": f"{'isrc' if parent.kind == 'recording' else 'work'}:{parent.id}",
                "format": "audio/wav",
            }
            for parent in record.parents
        ],
    }


def _binding(alg: str, value: str) -> dict[str, Any]:
    return {"alg": alg, "blocks": [{"scope": {}, "value": value}]}


def sign_file(source: Path, target: Path, manifest: dict[str, Any], material: SigningMaterial) -> None:
    """Write `source` to `target` (same format) with `manifest` signed into it."""
    mime = mime_for_suffix(target)
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, material.chain_pem, material.key_pem, None)
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(manifest) as builder,
        source.open("rb") as src,
        target.open("w+b") as dst,
    ):
        builder.sign(signer, mime, src, dst)
