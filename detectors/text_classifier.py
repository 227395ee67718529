"""The project's harassment classifier (trained by `python -m training.harassment`), in two stages
so that a track with many lines stays fast:

1. a lexical model: logistic regression over the words and word pairs of the unit (folded,
   names replaced), a few microseconds a unit; units it finds plainly harmless stop here;
2. a semantic model: MiniLM fine-tuned for the task (low-rank adapters on its layers, merged into
   the shipped encoder's weights when it is loaded, so reading costs what the plain encoder
   costs) and a linear head over the mean and the largest value of each dimension over the
   unit's tokens (one violent word in a long line still shows), for the rest; the two models'
   probabilities are blended with the weight training chose.

Classes are `none`, `abuse`, `threat`. The weights are JSON in the repository (the adapters'
matrices as base64 float32).
"""

from __future__ import annotations

import base64
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

# what `Encode` returns for a text: the mean of the tuned encoder's token states, then their max
ENCODING = 768
MAX_TOKENS = 128  # what the encoder reads of a unit, in training and detection alike
Encode = Callable[[list[str]], npt.NDArray[np.float32]]


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


def array_document(values: npt.NDArray[Any]) -> dict[str, Any]:
    """A float32 array as JSON: its shape and its bytes (little-endian) in base64."""
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"shape": list(data.shape), "float32": base64.b64encode(data.tobytes()).decode("ascii")}


def array_from_document(data: dict[str, Any]) -> npt.NDArray[np.float32]:
    raw = np.frombuffer(base64.b64decode(data["float32"]), dtype="<f4")
    return raw.reshape(tuple(int(n) for n in data["shape"])).astype(np.float32)


@dataclass(frozen=True)
class Adapter:
    """Low-rank changes to the encoder: for each of its linear layers named here (by module path),
    the weight becomes W + scale * B @ A."""

    scale: float
    layers: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]  # path -> (A, B)

    def document(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "layers": {
                path: {"a": array_document(a), "b": array_document(b)} for path, (a, b) in self.layers.items()
            },
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> Adapter:
        layers = {
            str(path): (array_from_document(ab["a"]), array_from_document(ab["b"]))
            for path, ab in data["layers"].items()
        }
        return cls(float(data["scale"]), layers)


@dataclass(frozen=True)
class TunedHead:
    """The linear layer over the tuned encoding (ENCODING features) that scores the classes."""

    weights: npt.NDArray[np.float32]  # classes x ENCODING
    bias: npt.NDArray[np.float32]

    def logits(self, encodings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = encodings @ self.weights.T + self.bias
        return out

    def document(self) -> dict[str, Any]:
        return {"weights": array_document(self.weights), "bias": array_document(self.bias)}

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> TunedHead:
        return cls(array_from_document(data["weights"]), array_from_document(data["bias"]))


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
    else abuse; `threat_at`: the probability of threat from which a unit is a threat anyway;
    `lexical_weight`: the lexical model's share of the blend for the units the semantic model
    reads. The encoder that `Encode` runs must carry `adapter` (see
    `detectors.harassment.text_models`)."""

    lexical: LexicalModel
    adapter: Adapter
    semantic: TunedHead
    lexical_weight: float
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

    def probabilities(self, texts: list[str], encode: Encode) -> npt.NDArray[np.float32]:
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
            semantic = softmax(self.semantic.logits(encode(closer)))
            row_of = {text: row for row, text in enumerate(closer)}
            w = self.lexical_weight
            for i, text in enumerate(texts):
                if text in row_of:
                    combined[i] = w * lexical[i] + (1.0 - w) * semantic[row_of[text]]
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
            Adapter.from_document(data["semantic"]["adapter"]),
            TunedHead.from_document(data["semantic"]["head"]),
            float(data["lexical_weight"]),
            float(data["screen_at"]),
            float(data["harm_at"]),
            float(data["threat_at"]),
            float(data["threat_share_at"]),
        )
