"""CLI side of the people registry and rights-holder policies: files in, registry calls out."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from decisions.policy import MatchRule, RightsHolderPolicy
from detectors.audio import DecodeError, decode_all_channels
from detectors.voice import voiceprint
from index.registry import RegistryStore
from model.events import describe_validation_error

_RULES = TypeAdapter(list[MatchRule])


class RegistryInputError(ValueError):
    """A rules file or reference audio the registry cannot use; the text says why."""


def parse_rules(text: str) -> list[MatchRule]:
    try:
        rules = _RULES.validate_json(text)
    except ValidationError as exc:
        raise RegistryInputError(f"invalid rules: {describe_validation_error(exc)}") from exc
    if not rules:
        raise RegistryInputError("a policy needs at least one rule")
    return rules


def policy_from_file(registry: RegistryStore, holder: str, rules_file: Path) -> RightsHolderPolicy:
    return registry.set_policy(holder, parse_rules(rules_file.read_text()))


def register_voice(registry: RegistryStore, name: str, files: list[Path]) -> int:
    """Voiceprint from reference recordings; returns how many clips it was made from."""
    clips = []
    for path in files:
        try:
            samples, rate = decode_all_channels(path, max_seconds=600)
        except DecodeError as exc:
            raise RegistryInputError(f"{path}: {exc}") from exc
        clips.append((samples, rate))
    try:
        print_ = voiceprint(name, clips)
    except ValueError as exc:
        raise RegistryInputError(str(exc)) from exc
    registry.set_voiceprint(name, print_, len(clips))
    return len(clips)


def policy_json(policy: RightsHolderPolicy) -> str:
    return json.dumps(policy.model_dump(mode="json"), indent=2)
