"""Voice opt-out calibration: `python -m bench.voice`. The last line printed is one JSON object.

Speakers are espeak-ng voices (distinct variant and pitch, English). Each speaker registers a
voiceprint from three utterances; six more utterances with different words are its genuine
trials, and each of those is also tried against three other speakers' voiceprints (impostor
trials). Scores go through the pipeline's own function (detectors.voice.match_voiceprints), in the
precision the workers use (`CLEARANCE_VOICE_BFLOAT16`).
Reported: the equal-error rate and its threshold, and the thresholds at 1 % and 0.1 % false
accepts, from which the platform policy's takedown and review thresholds are set.
"""

from __future__ import annotations

import json

import numpy as np
from rich.console import Console
from rich.progress import Progress

from corpus.speech import Voice, say, sentence
from decisions.policy import PlatformPolicy
from detectors.voice import match_voiceprints, voiceprint
from model.settings import Settings

SPEAKERS = [
    Voice("en", variant, speed=160, pitch=pitch)
    for variant, pitch in [
        ("m1", 40),
        ("m2", 50),
        ("m3", 45),
        ("m4", 55),
        ("m5", 35),
        ("m7", 60),
        ("f1", 50),
        ("f2", 60),
        ("f3", 45),
        ("f4", 55),
        ("f5", 65),
        ("croak", 40),
        ("klatt", 50),
        ("klatt2", 45),
        ("klatt3", 55),
        ("whisper", 50),
    ]
]
REGISTER, TESTS, IMPOSTORS_PER_TEST = 3, 6, 3
console = Console(stderr=True)


def _utterance(voice: Voice, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    return say(" ".join(sentence(rng) for _ in range(2)), voice)


def equal_error(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the observed score at which false accepts and false rejects are closest."""
    best_gap, best = float("inf"), (1.0, 0.0)
    for threshold in np.unique(np.concatenate([genuine, impostor])):
        far = float(np.mean(impostor >= threshold))
        frr = float(np.mean(genuine < threshold))
        if abs(far - frr) < best_gap:
            best_gap, best = abs(far - frr), ((far + frr) / 2, float(threshold))
    return best


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * len(ordered)))
    return float(np.nextafter(ordered[allowed], 1.0)) if allowed < len(ordered) else float(ordered[-1])


def main() -> None:
    rng = np.random.default_rng(2026)
    bfloat16 = Settings().voice_bfloat16  # as the workers embed uploads
    prints, tests = [], []
    with Progress(console=console) as progress:
        task = progress.add_task("speakers", total=len(SPEAKERS))
        for voice in SPEAKERS:
            clips = [_utterance(voice, rng) for _ in range(REGISTER)]
            prints.append(voiceprint(voice.name + f"@{voice.pitch}", clips))
            tests.append([_utterance(voice, rng) for _ in range(TESTS)])
            progress.advance(task)
    genuine: list[float] = []
    impostor: list[float] = []
    with Progress(console=console) as progress:
        task = progress.add_task("trials", total=len(SPEAKERS) * TESTS)
        for index, utterances in enumerate(tests):
            others = [i for i in range(len(SPEAKERS)) if i != index]
            for samples, rate in utterances:
                candidates = [prints[index]] + [
                    prints[i] for i in rng.choice(others, IMPOSTORS_PER_TEST, replace=False)
                ]
                found = match_voiceprints(
                    samples, rate, candidates, threshold=1.0, review_threshold=-1.0, bfloat16=bfloat16
                )
                scores = {m.artist: m.similarity for m in found.matches}
                genuine.append(scores[prints[index].artist])
                impostor.extend(scores[p.artist] for p in candidates[1:])
                progress.advance(task)
    g, i = np.asarray(genuine), np.asarray(impostor)
    eer, eer_threshold = equal_error(g, i)
    report = {
        "speakers": len(SPEAKERS),
        "trials": int(g.size + i.size),
        "genuine_trials": int(g.size),
        "impostor_trials": int(i.size),
        "eer": round(eer, 4),
        "eer_threshold": round(eer_threshold, 4),
        "threshold_far_1pct": round(threshold_at_far(i, 0.01), 4),
        "threshold_far_0.1pct": round(threshold_at_far(i, 0.001), 4),
        "genuine_similarity": {
            "p5": round(float(np.percentile(g, 5)), 4),
            "median": round(float(np.median(g)), 4),
        },
        "impostor_similarity": {
            "median": round(float(np.median(i)), 4),
            "p99": round(float(np.percentile(i, 99)), 4),
            "max": round(float(i.max()), 4),
        },
    }
    platform = PlatformPolicy()
    for name, threshold in (
        ("takedown", platform.voice_takedown_similarity),
        ("review", platform.voice_review_similarity),
    ):
        report[f"policy_{name}"] = {
            "threshold": threshold,
            "false_accept_rate": round(float(np.mean(i >= threshold)), 4),
            "false_reject_rate": round(float(np.mean(g < threshold)), 4),
        }
    console.print_json(json.dumps(report))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
