"""Opt-outs by name: a title, description, prompt or credit that asks for an opted-out artist
("in the style of …", "… voice", "feat. …"), however it is cased or misspelt."""

from __future__ import annotations

import re

from detectors.names import NameIndex
from detectors.text import TrackText
from model.findings import NameRequest, NameRequests
from model.limits import LIST_ITEMS, NAME_CHARS, clip
from model.names import fold

NAME = "name_opt_out"
VERSION = "1"
_CUES = re.compile(
    r"\b(?:in the style of|style of|sounds? like|sound alike|soundalike|like|voice|vocals|sung by|"
    r"singing|feat|ft|featuring|cover|remix|version|as|by|with|type beat|vibes?)\b"
)


def _cue_near(text: str, start: int, end: int) -> str | None:
    """A request word within about 30 characters of the name, if any."""
    before = fold(text[max(0, start - 30) : start])
    after = fold(text[end : end + 30])
    found = _CUES.findall(before) + _CUES.findall(after)
    return found[-1] if found else None


def name_requests(text: TrackText, opted_out: NameIndex) -> NameRequests:
    requests = []
    for field_name, value in text.fields(with_credits=True):
        if field_name == "lyrics":
            continue  # lyrics may mention anyone; asking for an artist happens in the metadata
        for hit in opted_out.find(value):
            requests.append(
                NameRequest(
                    artist=clip(hit.person.name, NAME_CHARS),
                    field=field_name,
                    written=clip(hit.matched, NAME_CHARS),  # the span may hold anything between words
                    similarity=round(hit.similarity / 100, 3),
                    cue=_cue_near(value, hit.start, hit.end) if field_name != "credits" else "credited",
                )
            )
    return NameRequests(requests=requests[:LIST_ITEMS])
