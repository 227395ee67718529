"""Opt-outs by name: a title, description, prompt or credit that asks for an opted-out artist's
voice or style ("in the style of …", "… voice", "feat. …", "sing it like …", "… type beat"),
however the name is written (see `detectors.names`: misspelt, leetspeak, partial, look-alike
letters).

Naming an artist is not always asking for them. Within the clause that names the artist:
- a denial ("not affiliated with …", "do NOT imitate …", "nothing like …", "my own voice") or a
  topic ("a song about …", "reacting to …", "thanking …") makes it a mention;
- a request word (voice, vocals, style, sounds like, AI, cover, model, clone, feat, vibes, type
  beat, …) makes it a request;
- otherwise a prompt naming the artist is a request (the generator is being asked for them), a
  title or description is a mention. Credits always count.
"""

from __future__ import annotations

import re

from detectors.names import NameHit, NameIndex
from detectors.text import TrackText
from model.findings import NameRequest, NameRequests
from model.limits import LIST_ITEMS, NAME_CHARS, clip
from model.names import fold

NAME = "name_opt_out"
VERSION = "2"
NEAR_WORDS = 8  # how far from the name a request word or a denial may be, in words

_CUES = re.compile(
    r"\b(?:in the style of|style of|styled|style|sounds? (?:exactly |just )?like|sound ?alike|soundalike|"
    r"sing (?:it |this )?like|rap (?:it |this )?like|like|voice|voices|vocals?|vox|sung by|sings?|singing|"
    r"sang|rapping|rapped|feat|ft|featuring|cover|remix|version|type beat|vibes?|ai|model|"
    r"clone|cloned|cloning|deepfake|imitat\w*|impersonat\w*|dupe|timbre|tone|delivery|flow|accent|phrasing|rasp|swap\w*|"
    r"as if|what if|made by|by|with|voz|estilo|voix|como)\b"
)
_DENIALS = re.compile(
    r"\b(?:not|nt|never|no|nothing like|without|instead of|isn t|aren t|don t|dont|do not|doesn t|"
    r"won t|avoid|original voice|own voice|my voice|own vocals|my vocals|generic|any voice|"
    r"not affiliated|unaffiliated|opts? out|opted out)\b"
)
_TOPICS = re.compile(
    r"\b(?:about|thanking|thank you|thanks|tribute to|reacting to|reaction to|react to|met|saw|"
    r"concert|gig|tickets?|interview|podcast|explainer|review of|news)\b"
)
# clauses end at punctuation; a full stop only where a sentence ends ("ft. vexx" and
# "L.i.l V.e.x.x" stay whole); brackets do not end one ("Blue Mondays - X (AI Soundalike)")
_CLAUSE_END = re.compile(r"[,;!?|\n]|\.(?=\s+[A-Z]|\s*$)")
# a name part that is also an ordinary word, in lower case, counts right beside a request:
# "marrow's voice", "voice of marrow"
_ADJACENT_REQUEST = re.compile(
    r"^(?:s )?(?:voice|vocals?|style|flow|type beat)\b|\b(?:voice|vocals|style) of$"
)


def name_requests(text: TrackText, opted_out: NameIndex) -> NameRequests:
    requests = []
    for field_name, value in text.fields(with_credits=True):
        if field_name == "lyrics":
            continue  # lyrics may mention anyone; asking for an artist happens in the metadata
        for clause in _CLAUSE_END.split(value):
            for hit in _named(clause, opted_out):
                cue = "credited" if field_name == "credits" else _request_cue(field_name, clause, hit)
                if cue is None:
                    continue
                requests.append(
                    NameRequest(
                        artist=clip(hit.person.name, NAME_CHARS),
                        field=field_name,
                        written=clip(hit.matched, NAME_CHARS),  # the span may hold anything between words
                        similarity=round(hit.similarity / 100, 3),
                        cue=clip(cue, NAME_CHARS),
                    )
                )
    return NameRequests(requests=requests[:LIST_ITEMS])


def _named(clause: str, opted_out: NameIndex) -> list[NameHit]:
    """Opted-out artists named in the clause, and lower-case ordinary-word parts of their names
    right beside a request word."""
    hits = opted_out.find(clause)
    for hit in opted_out.find(clause, any_case=True):
        if any(h.start < hit.end and hit.start < h.end for h in hits):
            continue
        before, after = fold(clause[: hit.start]), fold(clause[hit.end :])
        if _ADJACENT_REQUEST.search(after) or _ADJACENT_REQUEST.search(before):
            hits.append(hit)
    return hits


def _request_cue(field_name: str, clause: str, hit: NameHit) -> str | None:
    """What makes this mention a request ("voice", "style of", "prompt"); None for a mention."""
    before = " ".join(fold(clause[: hit.start]).split()[-NEAR_WORDS:])
    after = " ".join(fold(clause[hit.end :]).split()[:NEAR_WORDS])
    if _DENIALS.search(before) or _TOPICS.search(before):
        return None
    cue_after = _CUES.search(after)
    # a denial after the name counts up to the request word ("nothing like vexx" counts, "vexx
    # ai vocals, he would never" does not)
    if _DENIALS.search(after[: cue_after.start()] if cue_after else after):
        return None
    cues = _CUES.findall(before) + ([cue_after.group()] if cue_after else [])
    if cues:
        return str(cues[-1] if not cue_after else cue_after.group())
    return "prompt" if field_name == "prompt" else None
