"""Train the harassment classifier: `python -m training.harassment`.

Reads the training part of corpus/harassment (`corpus.texts.TRAIN_AUTHORS`; the test part is
never read here) and keeps the lines in which the detector finds someone to aim at (the classifier
only ever sees such units), and those whose writer names someone the detector does not read, the
naming words replaced as the detector replaces a name: what is said of a person is learnt whether
or not today's name finder reads the name, so a change to the finder barely moves what the models
learn from (such lines train the models but do not choose the thresholds). It fits the two stages
of `detectors.text_classifier`: a lexical logistic regression over words and word pairs, and
MiniLM fine-tuned with low-rank adapters (`training.harassment.tuning`; names replaced by one
neutral name in both, so they learn what is said rather than of whom). The lexical
regularisation, the screening threshold, the blend of the two models and the decision thresholds
are chosen on out-of-fold predictions, folds grouped by *writer*: the checks meet writers they
never saw, and a writer's own other lines predict its lines better than a new writer's would, so
thresholds chosen within writers promise a precision that new text does not get. The thresholds
are chosen for the whole check as the detector runs it, unit by unit with the rules first, at
TARGET_PRECISION for threats and for harassment of either kind. Writes
detectors/harassment_classifier.json. Seeded, but not bit for bit: the lines, folds and settings
come out the same, while the tuned weights follow torch's floating-point order on the machine (a
fresh machine on 2026-12-08 gave weights a few per cent apart and out-of-fold figures within 0.001
of the shipped training's). It takes 45-80 minutes on two cores (six fine-tunings: one per
fold, then the final one). Each fold's tuned model is kept in
training/.cache/harassment beside its readings, so a change in what is judged of the lines (not in
the lines) costs readings, not tunings; readings are made as the detector makes them (the adapter
merged into the encoder).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
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
from detectors.text_classifier import (
    CLASSES,
    NEUTRAL_NAME,
    WEIGHTS,
    Adapter,
    HarassmentClassifier,
    TunedHead,
    softmax,
    terms,
)
from training.harassment import tuning
from training.harassment.scores import rates

TARGET_PRECISION = 0.95  # what the checks must hold on unseen text
C_VALUES = (0.25, 1.0, 4.0, 16.0)
SCREEN_KEEPS = 0.99  # of the harmful lines, the share the lexical stage must pass on
FOLDS = 5  # out-of-fold predictions, folds grouped by writer
LEXICAL_WEIGHTS = (0.0, 0.1, 0.25, 0.5)  # the lexical model's share of the blend, tried
# thresholds tried: the tuned model is sure of itself, so the top of the range is finer
GRID = (*(round(float(t), 2) for t in np.arange(0.40, 0.96, 0.05)), 0.96, 0.97, 0.98, 0.99, 0.995)
THREAT, ABUSE = CLASSES.index("threat"), CLASSES.index("abuse")
CACHE = Path(__file__).resolve().parents[2] / "training" / ".cache" / "harassment"
_OFFENSIVE: dict[str, float] = {}


def registry(authors: tuple[str, ...]) -> NameIndex:
    everyone = [Person(p.name, opted_out=p.opted_out) for p in texts.people(authors)]
    return NameIndex(everyone)


@dataclass(frozen=True)
class Aimed:
    """A line with someone to aim at: its aimed units as the classifier reads them (joined, what
    the models learn from), per unit what the rules say (threat; abuse, given the unit's
    offensive score), and whether the name finder reads the target (if not, the line is one unit
    named as its writer named it, and the rules are not asked)."""

    line: texts.Line
    text: str
    units: list[str]
    rule_threat: list[bool]
    rule_abuse: list[bool]
    read_by_finder: bool = True


def aimed_lines(
    lines: list[texts.Line], names: NameIndex, models: harassment.TextModels | None
) -> list[Aimed]:
    """The lines the classifier learns from; without `models` the rules' abuse is not asked (the
    texts alone, for `lines_digest`)."""
    kept = []
    for line in lines:
        units = harassment.units(TrackText.one_field(line.field, line.text), names)
        aimed = [u for u in units if u.targets]
        if not aimed:
            named = named_by_writer(line)
            if named is not None:
                kept.append(Aimed(line, named, [named], [False], [False], read_by_finder=False))
            continue
        readable = [harassment.neutral(u.text, u.names) for u in aimed]
        said = [u.text for u in aimed]
        offensive = _offensive(models, said) if models is not None else np.zeros(len(aimed))
        kept.append(
            Aimed(
                line,
                " ".join(readable),
                readable,
                [bool(harassment.rule_threat(u)) for u in aimed],
                [bool(harassment.rule_abuse(u, float(o))) for u, o in zip(aimed, offensive, strict=True)],
            )
        )
    return kept


def lines_digest(kept: list[Aimed]) -> str:
    """What the classifier was fitted on, as one digest: a shipped classifier whose digest the
    current corpus and name finder do not give was trained on other lines and is not reproduced."""
    fitted_on = [[a.text, a.line.label, a.read_by_finder] for a in kept]
    return hashlib.sha256(json.dumps(fitted_on).encode()).hexdigest()


def training_lines(authors: tuple[str, ...], models: harassment.TextModels | None) -> list[Aimed]:
    return aimed_lines(texts.lines(authors), registry(authors), models)


def named_by_writer(line: texts.Line) -> str | None:
    """The line with the words its writer named the target by replaced by the neutral name, or
    None when the writer named nobody in it."""
    if not line.target or line.target.lower() not in line.text.lower():
        return None
    return re.sub(re.escape(line.target), NEUTRAL_NAME, line.text, flags=re.IGNORECASE)


def _offensive(models: harassment.TextModels, texts_: list[str]) -> npt.NDArray[np.float64]:
    missing = sorted({t for t in texts_ if t not in _OFFENSIVE})
    _OFFENSIVE.update(zip(missing, models.offensive_probability(missing).tolist(), strict=True))
    return np.asarray([_OFFENSIVE[t] for t in texts_])


def label_of(line: texts.Line) -> int:
    return CLASSES.index(line.label) if line.label in CLASSES else 0


def lexical_model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced")


def _cached(kind: str, made_from: list[Any], make: Callable[[], Any], say: Callable[[str], None]) -> Any:
    """`make()`, kept in training/.cache/harassment by a digest of what it is made from and the
    tuning settings, so an interrupted training resumes where it stopped."""
    key = json.dumps([made_from, tuning.settings()]).encode()
    cached = CACHE / f"{kind}-{hashlib.sha256(key).hexdigest()[:20]}.json"
    if cached.exists():
        say("  (from the cache)")
        return json.loads(cached.read_text())
    made = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(made))
    return made


def _held_out_semantic(
    train_texts: list[str], train_labels: npt.NDArray[np.int64], held: list[str], say: Callable[[str], None]
) -> npt.NDArray[np.float64]:
    """The tuned model's probabilities for `held`, fitted on the train lines. The fold's model is
    kept too, so that judging other texts of the same lines costs a reading, not a tuning."""
    made_from = [train_texts, train_labels.tolist()]
    document = _cached("fold", made_from, lambda: tuning.tune(train_texts, train_labels, say).document(), say)

    def make() -> list[list[float]]:
        found: list[list[float]] = semantic_probabilities(document, held).tolist()
        return found

    return np.asarray(_cached("held-out", [*made_from, held], make, say), np.float64)


def semantic_probabilities(
    document: dict[str, Any], texts_: list[str], batch: int = 64
) -> npt.NDArray[np.float64]:
    """The semantic stage of `document` (as `tuning.Tuned.document` writes it) on `texts_`, read
    as the detector reads it (the adapter merged into the encoder)."""
    encode = harassment.tuned_encoder(Adapter.from_document(document["adapter"]))
    head = TunedHead.from_document(document["head"])
    rows = [softmax(head.logits(encode(texts_[i : i + batch]))) for i in range(0, len(texts_), batch)]
    return np.concatenate(rows).astype(np.float64) if rows else np.zeros((0, len(CLASSES)))


def folds(kept: list[Aimed]) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Train and held-out line indices, grouped by writer."""
    writers = [a.line.author for a in kept]
    return list(GroupKFold(n_splits=FOLDS).split(np.zeros(len(kept)), groups=writers))


def best_c(
    words: Any, y: npt.NDArray[np.int64], split: list[tuple[Any, Any]], say: Callable[[str], None]
) -> float:
    """The lexical regularisation whose out-of-fold log loss is lowest."""
    scored = []
    for c in C_VALUES:
        p = np.zeros((len(y), len(CLASSES)))
        for train, held in split:
            p[held] = lexical_model(c).fit(words[train], y[train]).predict_proba(words[held])
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1.0))))
        say(f"lexical C={c}: out-of-fold log loss {loss:.3f}")
        scored.append((loss, c))
    return min(scored)[1]


def screen(lexical: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """The lexical harm below which SCREEN_KEEPS of the harmful lines still lie above."""
    harm = 1.0 - lexical[:, 0]
    return float(np.quantile(harm[y != 0], 1.0 - SCREEN_KEEPS))


@dataclass(frozen=True)
class UnitScores:
    """Out-of-fold predictions, one row per aimed unit of every kept line."""

    line: npt.NDArray[np.int64]  # the kept line each unit belongs to
    lexical: npt.NDArray[np.float64]
    semantic: npt.NDArray[np.float64]
    rule_threat: npt.NDArray[np.bool_]
    rule_abuse: npt.NDArray[np.bool_]


def severities(
    scores: UnitScores, combined: npt.NDArray[np.float64], lines: int, at: tuple[float, ...]
) -> Any:
    """Each line's finding (0 none, 1 abuse, 2 threat) as the detector would make it with the
    thresholds `at` (harm_at, threat_at, threat_share_at): rules first, then the classifier."""
    harm_at, threat_at, share_at = at
    threat, abuse = combined[:, THREAT], combined[:, ABUSE]
    harmful = threat + abuse >= harm_at
    said_threat = (threat >= threat_at) | (harmful & (threat >= share_at * (threat + abuse)))
    unit = np.where(scores.rule_threat | said_threat, 2, np.where(scores.rule_abuse | harmful, 1, 0))
    found = np.zeros(lines, np.int64)
    np.maximum.at(found, scores.line, unit)
    return found


def thresholds(
    scores: UnitScores,
    combined: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    judged: npt.NDArray[np.bool_],
) -> tuple[tuple[float, float, float], dict[str, float]]:
    """The thresholds at which threats and harassment of either kind are flagged with
    TARGET_PRECISION or better on the `judged` lines, and the most of both found (threat recall
    plus harassment recall)."""
    best: tuple[float, tuple[float, float, float], dict[str, float]] | None = None
    for at in itertools.product(GRID, GRID, GRID):
        found = severities(scores, combined, len(y), at)[judged]
        label = y[judged]
        threat_p = float(((found == 2) & (label == 2)).sum() / max(1, (found == 2).sum()))
        harm_p = float(((found > 0) & (label > 0)).sum() / max(1, (found > 0).sum()))
        if threat_p < TARGET_PRECISION or harm_p < TARGET_PRECISION:
            continue
        threat_r = float(((found == 2) & (label == 2)).sum() / max(1, (label == 2).sum()))
        harm_r = float(((found > 0) & (label > 0)).sum() / max(1, (label > 0).sum()))
        if best is None or threat_r + harm_r > best[0]:
            figures = {"threat_precision": threat_p, "threat_recall": threat_r, "harm_precision": harm_p}
            best = (threat_r + harm_r, at, {**figures, "harm_recall": harm_r})
    if best is None:
        return (1.0, 1.0, 1.0), {}
    return best[1], {k: round(v, 3) for k, v in best[2].items()}


@dataclass(frozen=True)
class Blend:
    """One lexical weight tried: the units' combined probabilities, the thresholds chosen on
    them and the out-of-fold figures at those thresholds."""

    lexical_weight: float
    combined: npt.NDArray[np.float64]
    at: tuple[float, float, float]  # harm_at, threat_at, threat_share_at
    figures: dict[str, float]

    @property
    def gained(self) -> float:
        return self.figures.get("threat_recall", 0.0) + self.figures.get("harm_recall", 0.0)


@dataclass(frozen=True)
class OutOfFold:
    """What the settings are chosen on: every kept line read by models that never saw its
    writer, and the blends tried (the chosen one is `best`)."""

    lines: list[texts.Line]  # every line of the writers, kept or not
    kept: list[Aimed]
    y: npt.NDArray[np.int64]
    words: Any  # the lines' lexical features
    vectoriser: CountVectorizer
    c: float
    scores: UnitScores
    screen_at: float
    screened: npt.NDArray[np.bool_]  # per unit: the semantic model reads it
    judged: npt.NDArray[np.bool_]  # per line: it chooses the thresholds
    blends: list[Blend]

    @property
    def best(self) -> Blend:
        return max(self.blends, key=lambda b: (b.gained, -b.lexical_weight))


def out_of_fold(authors: tuple[str, ...], say: Callable[[str], None]) -> OutOfFold:
    """The folds (each fold's tuned model from the cache when it was made before) and the
    settings chosen on their predictions."""
    models = harassment.load_text_models(with_classifier=False)
    lines = texts.lines(authors)
    kept = training_lines(authors, models)
    by_label = dict(Counter(a.line.label for a in kept))
    read = sum(a.read_by_finder for a in kept)
    say(f"{len(kept)} of {len(lines)} training lines aim at someone ({read} read by the finder): {by_label}")
    y = np.asarray([label_of(a.line) for a in kept])
    vectoriser = CountVectorizer(analyzer=terms, binary=True, min_df=2)
    words = vectoriser.fit_transform([a.text for a in kept])
    split = folds(kept)
    c = best_c(words, y, split, say)
    unit_of = np.asarray([i for i, a in enumerate(kept) for _ in a.units])
    unit_texts = [t for a in kept for t in a.units]
    unit_words = vectoriser.transform(unit_texts)
    scores = UnitScores(
        unit_of,
        np.zeros((len(unit_of), len(CLASSES))),
        np.zeros((len(unit_of), len(CLASSES))),
        np.asarray([r for a in kept for r in a.rule_threat]),
        np.asarray([r for a in kept for r in a.rule_abuse]),
    )
    line_lexical = np.zeros((len(y), len(CLASSES)))
    line_texts = [a.text for a in kept]
    for fold, (train, held) in enumerate(split):
        lexical = lexical_model(c).fit(words[train], y[train])
        line_lexical[held] = lexical.predict_proba(words[held])
        units = np.isin(unit_of, held)
        scores.lexical[units] = lexical.predict_proba(unit_words[units])
        held_texts = [t for t, u in zip(unit_texts, units, strict=True) if u]
        say(f"fold {fold + 1}/{len(split)}: tuning MiniLM on {len(train)} lines")
        scores.semantic[units] = _held_out_semantic([line_texts[i] for i in train], y[train], held_texts, say)
    screen_at = screen(line_lexical, y)
    screened = (1.0 - scores.lexical[:, 0]) >= screen_at
    # the seed set was written beside the rules; lines the finder does not aim the detector never judges
    judged = np.asarray([a.line.author != "seed" and a.read_by_finder for a in kept])
    blends = []
    for weight in LEXICAL_WEIGHTS:
        combined = blended(scores, screened, weight)
        at, figures = thresholds(scores, combined, y, judged)
        say(f"lexical weight {weight}: out of fold, by writer: {figures}")
        blends.append(Blend(weight, combined, at, figures))
    return OutOfFold(lines, kept, y, words, vectoriser, c, scores, screen_at, screened, judged, blends)


def blended(scores: UnitScores, screened: npt.NDArray[np.bool_], weight: float) -> npt.NDArray[np.float64]:
    """Per unit, the probabilities the detector acts on: the lexical model's alone where it
    screened the unit out, else its blend with the semantic model's."""
    blend = weight * scores.lexical + (1.0 - weight) * scores.semantic
    combined: npt.NDArray[np.float64] = np.where(screened[:, None], blend, scores.lexical)
    return combined


def fit(authors: tuple[str, ...], quiet: bool = False) -> dict[str, Any]:
    """The classifier trained on `authors`, as the JSON document the detector loads."""
    say = (lambda _: None) if quiet else print
    oof = out_of_fold(authors, say)
    kept, y, words, c = oof.kept, oof.y, oof.words, oof.c
    chosen = oof.best
    lexical_weight, (harm_at, threat_at, share_at), figures = chosen.lexical_weight, chosen.at, chosen.figures
    line_texts = [a.text for a in kept]
    read = sum(a.read_by_finder for a in kept)
    lexical_final = lexical_model(c).fit(words, y)
    say(f"tuning MiniLM on all {len(kept)} lines")
    semantic = _cached(
        "final", [line_texts, y.tolist()], lambda: tuning.tune(line_texts, y, say).document(), say
    )
    vocabulary = oof.vectoriser.get_feature_names_out()
    return {
        "classes": list(CLASSES),
        "trained_on": {
            "authors": list(authors),
            "lines": len(kept),
            "read_by_finder": read,
            "lines_digest": lines_digest(kept),
        },
        "screen_at": round(oof.screen_at, 4),
        "lexical_weight": lexical_weight,
        "harm_at": harm_at,
        "threat_at": threat_at,
        "threat_share_at": share_at,
        "out_of_fold": {**figures, "screened_out": round(float(1.0 - oof.screened.mean()), 3)},
        "lexical": {
            "C": c,
            "weights": {
                str(term): np.round(lexical_final.coef_[:, i], 4).tolist()
                for i, term in enumerate(vocabulary)
                if np.any(np.abs(lexical_final.coef_[:, i]) >= 1e-3)
            },
            "bias": np.round(lexical_final.intercept_, 4).tolist(),
        },
        "semantic": semantic,
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
        models = harassment.text_models(classifier)
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
