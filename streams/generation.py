"""The platform generator's side of provenance: each track it makes is watermarked with the
generator's payload, written in the requested format, registered as a generation record with its
fingerprints in the catalog of generated tracks, and given a signed Content Credential naming
that record, its parents, the watermark payload and the fingerprint."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import soundfile

from detectors.audio import DecodeError, decode, decode_all_channels
from detectors.catalog import ReferencePrints, reference_prints
from detectors.credentials import SigningMaterial, manifest_definition, mime_for_suffix, sign_file
from detectors.watermark.embed import embed
from detectors.watermark.payload import GENERATORS, Payload, generator_id
from index.generated import GeneratedStore
from model.generation import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationIn,
    GenerationRecord,
    prompt_fields,
)
from model.settings import Settings
from streams.store import sha256_of

_ENCODER_ARGS = {
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    ".m4a": ["-c:a", "aac", "-b:a", "192k"],
}


class UnknownGenerator(ValueError):
    """The request names a generator that is not registered (no watermark payload for it)."""


class Generations:
    def __init__(self, settings: Settings, store: GeneratedStore) -> None:
        self._settings, self._store = settings, store

    def signing_material(self) -> SigningMaterial:
        chain, key = self._settings.signer_chain_path, self._settings.signer_key_path
        if not chain.is_file() or not key.is_file():
            raise FileNotFoundError(
                f"no signing chain at {chain} and key at {key}: run `clearance credentials dev-chain` "
                "(development) or set CLEARANCE_C2PA_SIGNER_CHAIN and CLEARANCE_C2PA_SIGNER_KEY"
            )
        return SigningMaterial.from_files(chain, key)

    def make(self, source: Path, target: Path, request: GenerationIn) -> GenerationRecord:
        """Watermark `source` (the generator's raw output) into `target` (.wav, .flac, .mp3 or
        .m4a), register it and sign its Content Credential in. Raises UnknownGenerator,
        DecodeError, FileNotFoundError (no signing material) or ValueError (a format C2PA does
        not cover)."""
        mime_for_suffix(target)
        payload = _payload(request)
        material = self.signing_material()
        samples, rate = decode_all_channels(source, self._settings.max_audio_seconds)
        marked = embed(samples, rate, payload, self._settings.watermark_generator)
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "marked.wav"
            soundfile.write(wav, marked, rate, subtype="FLOAT")
            unsigned = Path(tmp) / f"unsigned{target.suffix.lower()}"
            _encode(wav, unsigned)
            prints = self.prints(unsigned)
            record = self._record(request, payload.value, prints, sha256_of(unsigned))
            target.parent.mkdir(parents=True, exist_ok=True)
            sign_file(unsigned, target, manifest_definition(record, prints.chromaprint.fingerprint), material)
        record = record.model_copy(update={"audio_sha256": sha256_of(target)})
        self._store.register(record, prints)
        return record

    def register(self, path: Path, request: GenerationIn, watermark_payload: int | None) -> GenerationRecord:
        """Register audio the generator marked and signed itself (the API's route)."""
        prints = self.prints(path)
        record = self._record(request, watermark_payload, prints, sha256_of(path))
        self._store.register(record, prints)
        return record

    def prints(self, path: Path) -> ReferencePrints:
        audio = decode(
            path,
            sample_rate=self._settings.analysis_sample_rate,
            max_seconds=self._settings.max_audio_seconds,
            min_seconds=self._settings.min_audio_seconds,
        )
        return reference_prints(audio)

    def _record(
        self, request: GenerationIn, payload: int | None, prints: ReferencePrints, audio_sha256: str
    ) -> GenerationRecord:
        return GenerationRecord(
            generation_id=request.generation_id or f"gen-{audio_sha256[:16]}",
            generator=request.generator,
            model_version=request.model_version,
            created_at=datetime.now(UTC),
            **prompt_fields(request.prompt, self._settings.generation_keep_prompts),
            parents=request.parents,
            watermark_payload=payload,
            digital_source_type=(
                COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if request.parents else TRAINED_ALGORITHMIC_MEDIA
            ),
            audio_sha256=audio_sha256,
            duration_s=prints.chromaprint.duration_s,
        )


def _payload(request: GenerationIn) -> Payload:
    try:
        number = generator_id(request.generator)
    except ValueError as exc:
        raise UnknownGenerator(str(exc)) from exc
    if number not in GENERATORS:
        raise UnknownGenerator(f"generator {request.generator!r} is not registered")
    return Payload(number, request.model_version)


def _encode(wav: Path, target: Path) -> None:
    encoder = _ENCODER_ARGS[target.suffix.lower()]
    try:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), *encoder, str(target)],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise DecodeError(f"could not write {target.suffix}: {exc}") from exc
