"""The project's harassment classifier (trained by `python -m training.harassment`), in two stages
so that a track with many lines stays fast:

1. a lexical model: logistic regression over the words and word pairs of the unit (folded,
   names replaced), a few microseconds a unit; units it finds plainly harmless stop here;
2. a semantic model: a small neural network (one hidden layer) over the unit's MiniLM encoding
   (the sentence embedding, and the largest value of each dimension over its tokens, so one
   violent word in a long line still shows) and the offensive-language score, for the rest; the
   two models' probabilities are averaged.

Classes are `none`, `abuse`, `threat`. The weights are plain JSON in the repository.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.names import fold

CLASSES = ("none", "abuse", "threat")
WEIGHTS = Path(__file__).with_name("harassment_classifier.json")
NEUTRAL_NAME = "Alex"  # what the classifiers read in place of every named person
SEMANTIC_UNITS = 6  # per track: what keeps a long lyric within the time budget

ENCODING = 768  # what `Encode` returns for a text: MiniLM's sentence embedding, then its token max-pool
Encode = Callable[[list[str]], npt.NDArray[np.float32]]
Offensive = Callable[[list[str]], npt.NDArray[np.float64]]


def terms(text: str) -> list[str]:
    """The lexical model's features: folded words, adjacent word pairs, and emoji (a knife or a
    skull says as much as a word)."""
    words = fold(text).split()
    emoji = [c for c in text if unicodedata.category(c) == "So"]
    return [*words, *(f"{a} {b}" for a, b in pairwise(words)), *emoji]


@dataclass(frozen=True)
class LexicalModel:
    weights: dict[str, npt.NDArray[np.float32]]  # term -> one weight per class
    bias: npt.NDArray[np.float32]

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.tile(self.bias, (len(texts), 1))
        zero = np.zeros(len(CLASSES), np.float32)
        for row, text in enumerate(texts):
            for term in set(terms(text)):
                out[row] += self.weights.get(term, zero)
        return out


@dataclass(frozen=True)
class SemanticModel:
    """One hidden layer (ReLU) over the standardised features: the encoding, then the offensive
    score."""

    center: npt.NDArray[np.float32]  # per feature, subtracted
    scale: npt.NDArray[np.float32]  # per feature, divided by
    hidden_weights: npt.NDArray[np.float32]  # hidden x features
    hidden_bias: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]  # classes x hidden
    bias: npt.NDArray[np.float32]

    def logits(
        self, encodings: npt.NDArray[np.float32], offensive: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float32]:
        features = (np.hstack([encodings, offensive[:, None].astype(np.float32)]) - self.center) / self.scale
        hidden = np.maximum(features @ self.hidden_weights.T + self.hidden_bias, 0.0)
        out: npt.NDArray[np.float32] = hidden @ self.weights.T + self.bias
        return out

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> SemanticModel:
        keys = ("center", "scale", "hidden_weights", "hidden_bias", "weights", "bias")
        return cls(*(np.asarray(data[key], np.float32) for key in keys))


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: npt.NDArray[np.float32] = exp / exp.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class HarassmentClassifier:
    """`screen_at`: the lexical probability of harm (abuse or threat) below which a unit is not
    looked at again; `harm_at`: the combined probability of harm from which a unit is harmful;
    a harmful unit is a threat when threat holds `threat_share_at` of that probability or more,
    else abuse; `threat_at`: the probability of threat from which a unit is a threat anyway."""

    lexical: LexicalModel
    semantic: SemanticModel
    screen_at: float
    harm_at: float
    threat_at: float
    threat_share_at: float

    def judge(self, p: npt.NDArray[np.float32]) -> str | None:
        """Threat, abuse or None, for one row of `probabilities`."""
        threat, abuse = float(p[CLASSES.index("threat")]), float(p[CLASSES.index("abuse")])
        harmful = threat + abuse >= self.harm_at
        if threat >= self.threat_at or (harmful and threat / (threat + abuse) >= self.threat_share_at):
            return "threat"
        return "abuse" if harmful else None

    def probabilities(
        self, texts: list[str], encode: Encode, offensive: Offensive
    ) -> npt.NDArray[np.float32]:
        """One row per text, in CLASSES order. The semantic model reads at most SEMANTIC_UNITS
        distinct texts, those the lexical model finds likeliest to harm (a chorus repeated ten
        times is read once): it is what costs time."""
        lexical = softmax(self.lexical.logits(texts)) if texts else np.zeros((0, len(CLASSES)), np.float32)
        harm = 1.0 - lexical[:, CLASSES.index("none")]
        distinct: dict[str, float] = {}
        for text, h in zip(texts, harm, strict=True):
            if h >= self.screen_at:
                distinct[text] = float(h)
        closer = sorted(distinct, key=lambda t: -distinct[t])[:SEMANTIC_UNITS]
        combined = lexical.copy()
        if closer:
            semantic = softmax(self.semantic.logits(encode(closer), offensive(closer)))
            row_of = {text: row for row, text in enumerate(closer)}
            for i, text in enumerate(texts):
                if text in row_of:
                    combined[i] = (lexical[i] + semantic[row_of[text]]) / 2
        return combined

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> HarassmentClassifier | None:
        if not path.exists():
            return None
        return cls.from_document(json.loads(path.read_text()))

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> HarassmentClassifier:
        if tuple(data["classes"]) != CLASSES:
            raise ValueError(f"the classifier's classes {data['classes']} are not {CLASSES}")
        lexical = data["lexical"]
        return cls(
            LexicalModel(
                {t: np.asarray(w, np.float32) for t, w in lexical["weights"].items()},
                np.asarray(lexical["bias"], np.float32),
            ),
            SemanticModel.from_document(data["semantic"]),
            float(data["screen_at"]),
            float(data["harm_at"]),
            float(data["threat_at"]),
            float(data["threat_share_at"]),
        )
