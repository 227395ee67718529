"""Where a track comes from and what its uploader declares about AI: the literals every layer
shares (events, API bodies, the CLI, policies)."""

from __future__ import annotations

from typing import Literal, get_args

Source = Literal["upload", "generated"]
SOURCES: tuple[Source, ...] = get_args(Source)

DeclaredAiUse = Literal["none", "assisted", "generated"]
DECLARED_AI_USES: tuple[DeclaredAiUse, ...] = get_args(DeclaredAiUse)
