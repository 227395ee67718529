"""Size limits on every event and on every field in one: a crafted message must be refused with a
reason, never stop an agent, and no string may outgrow the Elasticsearch field it lands in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Faust's producer refuses messages over 1,000,000 bytes (producer_max_request_size): an event
# larger than that could not be passed on, so none is accepted.
MAX_EVENT_BYTES = 1_000_000
# JSON nesting; the project's own events nest about ten deep.
MAX_EVENT_DEPTH = 32

# Elasticsearch refuses a whole document when one keyword term exceeds 32,766 bytes; 8,191
# characters of at most 4 UTF-8 bytes each stay under it (the mappings' ignore_above).
KEYWORD_MAX_CHARS = 8191

ID_CHARS = 64
NAME_CHARS = 200
TITLE_CHARS = 500
MESSAGE_CHARS = 2000
SENTENCE_CHARS = 1000
TEXT_CHARS = 10_000
LYRICS_CHARS = 50_000
REASON_CHARS = 20_000
URI_CHARS = 4096
LIST_ITEMS = 50

# a detector's name or version, an event id, a code
Label = Annotated[str, Field(max_length=ID_CHARS)]
# a person's or holder's name, an uploader, a flagged word: what lands in keyword fields
Name = Annotated[str, Field(max_length=NAME_CHARS)]
Title = Annotated[str, Field(max_length=TITLE_CHARS)]
WorkId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
