"""Train Clearance's AudioSeal generator + detector pair on the CPU, resumably.

    python -m training.watermark.train            # train (or resume) to --steps, then export
    python -m training.watermark.train --export   # write the weights from the last checkpoint

The recipe follows the AudioSeal paper at a compact scale: 1 s segments at 16 kHz, a per-sample
detection loss, a message loss on the watermarked samples, parts of each segment reverted to the
original, replaced by other audio or silenced so the detector learns *where* the mark is,
unwatermarked segments as negatives, and edits in the loop (gain, noise, filters, resampling,
echo, MP3 with a straight-through gradient). Loudness is constrained by the budget the embedder
applies (detectors/watermark/budget.py). Bits come first: after a data-dependent initialisation
(training/watermark/initialise.py) the watermark starts 10 dB louder than the host without edits,
and once bits and detection are learned the budget tightens to its final value while edits and a
multi-scale mel loss come in.

Every step draws its randomness from (seed, step), so a resumed run is the run it would have been.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from audioseal.builder import AudioSealDetectorConfig, AudioSealWMConfig, create_detector, create_generator
from audioseal.loader import AudioSeal
from audioseal.models import AudioSealDetector, AudioSealWM

from corpus import splits
from detectors.watermark import architecture
from detectors.watermark.budget import DEFAULT_SNR_DB, fit_budget
from detectors.watermark.weights import DETECTOR_WEIGHTS, GENERATOR_WEIGHTS, save_checkpoint
from model.settings import PROJECT_ROOT
from training.watermark.augment import EDITS
from training.watermark.initialise import fit_bit_readout, unit_variance_init
from training.watermark.loop import Stage, run, warm_then_cosine
from training.watermark.pool import Clip, PoolSpec, build_pool

CACHE = PROJECT_ROOT / "training" / ".cache" / "watermark"
SEGMENT = architecture.SAMPLE_RATE  # 1 s


@dataclass(frozen=True)
class Recipe:
    seed: int = 20261121
    steps: int = 8000
    batch: int = 12
    lr: float = 1e-3
    lr_warmup_steps: int = 200  # Adam's first steps would undo the fitted read-out
    # Bits first: the watermark starts 10 dB *louder* than the host, with no edits, so that all
    # 16 bits and detection are learned in a few hundred steps; the budget then tightens to its
    # final value while edits come in.
    warmup_steps: int = 1000
    ramp_steps: int = 4000
    start_snr_db: float = -10.0
    final_snr_db: float = DEFAULT_SNR_DB
    detection_weight: float = 10.0
    bits_weight: float = 20.0
    mel_weight: float = 0.5
    negative_share: float = 0.2
    masked_share: float = 0.5
    edit_probability: float = 0.7
    checkpoint_every: int = 100
    validate_every: int = 250


def _schedule(recipe: Recipe, step: int) -> float:
    """0 during warm-up, rising to 1 at the end of the ramp."""
    return min(1.0, max(0.0, (step - recipe.warmup_steps) / recipe.ramp_steps))


def _config(raw: dict[str, Any], kind: type[Any]) -> Any:
    return AudioSeal.parse_config(raw, config_type=kind)


def new_models() -> tuple[AudioSealWM, AudioSealDetector]:
    generator = create_generator(_config(architecture.generator_config(), AudioSealWMConfig))
    detector = create_detector(_config(architecture.detector_config(), AudioSealDetectorConfig))
    return generator, detector


class Batches:
    """Segments drawn from the pool with their labels, deterministically per step."""

    def __init__(self, pool: dict[str, list[Clip]], recipe: Recipe) -> None:
        self.music = [c for c in pool["music"] if c.shape[0] > SEGMENT]
        self.speech = [c for c in pool["speech"] if c.shape[0] > SEGMENT]
        self.recipe = recipe

    def _segment(self, rng: np.random.Generator) -> np.ndarray:
        clips = self.speech if rng.random() < 0.3 else self.music
        clip = clips[int(rng.integers(0, len(clips)))]
        for _ in range(8):  # avoid near-silent segments: nothing to watermark there
            start = int(rng.integers(0, clip.shape[0] - SEGMENT))
            piece = clip[start : start + SEGMENT]
            if np.sqrt(np.mean(piece**2)) > 1e-3:
                break
        level_db = float(rng.uniform(-35.0, -12.0))
        scaled = piece / (np.sqrt(np.mean(piece**2)) + 1e-8) * 10 ** (level_db / 20)
        return np.asarray(scaled, dtype=np.float32)

    def draw(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """audio (B x 1 x T), other audio for replaced spans (B x 1 x T), messages (B x 16)."""
        audio = np.stack([self._segment(rng) for _ in range(self.recipe.batch)])
        other = np.stack([self._segment(rng) for _ in range(self.recipe.batch)])
        messages = rng.integers(0, 2, (self.recipe.batch, architecture.NBITS))
        return (
            torch.from_numpy(audio).float().unsqueeze(1),
            torch.from_numpy(other).float().unsqueeze(1),
            torch.from_numpy(messages),
        )


def _masks(batch: int, rng: np.random.Generator, recipe: Recipe) -> tuple[torch.Tensor, list[str]]:
    """Per-sample 1 where the watermark stays, and how each item's removed span is filled."""
    mask = torch.ones(batch, 1, SEGMENT)
    fills = []
    for i in range(batch):
        roll = rng.random()
        if roll < recipe.negative_share:
            mask[i] = 0.0
            fills.append("original")
            continue
        fill = "none"
        if roll < recipe.negative_share + recipe.masked_share:
            fill = str(rng.choice(["original", "original", "other", "zeros"]))
            for _ in range(int(rng.integers(1, 3))):
                length = int(rng.uniform(0.1, 0.4) * SEGMENT)
                start = int(rng.integers(0, SEGMENT - length))
                mask[i, :, start : start + length] = 0.0
        fills.append(fill)
    return mask, fills


def _apply_masks(
    audio: torch.Tensor, marked: torch.Tensor, other: torch.Tensor, mask: torch.Tensor, fills: list[str]
) -> torch.Tensor:
    out = []
    for i, fill in enumerate(fills):
        replacement = {"other": other[i], "zeros": torch.zeros_like(audio[i])}.get(fill, audio[i])
        out.append(marked[i] * mask[i] + replacement * (1 - mask[i]))
    return torch.stack(out)


def _edit(x: torch.Tensor, rng: np.random.Generator, probability: float) -> tuple[torch.Tensor, str]:
    if rng.random() >= probability:
        return x, "none"
    name = str(rng.choice(list(EDITS)))
    return EDITS[name](x, rng), name


class MelLoss(torch.nn.Module):
    """Multi-scale log-mel L1 distance between the original and the watermarked audio."""

    def __init__(self) -> None:
        super().__init__()
        self.mels = torch.nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate=architecture.SAMPLE_RATE, n_fft=n, hop_length=n // 4, n_mels=64
            )
            for n in (256, 512, 1024, 2048)
        )

    def forward(self, reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(())
        for mel in self.mels:
            total = total + F.l1_loss(torch.log(mel(estimate) + 1e-5), torch.log(mel(reference) + 1e-5))
        return total / len(self.mels)


def losses(
    generator: AudioSealWM,
    detector: AudioSealDetector,
    mel_loss: MelLoss,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rng: np.random.Generator,
    recipe: Recipe,
    step: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    audio, other, messages = batch
    ramp = _schedule(recipe, step)
    snr_db = _budget_db(recipe, step)
    watermark = fit_budget(audio, generator.get_watermark(audio, message=messages), snr_db)
    marked = audio + watermark
    mask, fills = _masks(audio.shape[0], rng, recipe)
    received, edit = _edit(
        _apply_masks(audio, marked, other, mask, fills), rng, recipe.edit_probability * ramp
    )
    output = detector.detector(received)
    labels = mask[:, 0, :].long()
    detection = F.cross_entropy(output[:, :2, :], labels)
    present = mask.sum(dim=-1)  # B x 1
    has_mark = present[:, 0] > 0
    bit_logits = (output[:, 2:, :] * mask).sum(dim=-1) / present.clamp(min=1.0)
    bits = (
        F.binary_cross_entropy_with_logits(bit_logits[has_mark], messages[has_mark].float())
        if bool(has_mark.any())
        else torch.zeros(())
    )
    perceptual = mel_loss(audio, marked)
    total = (
        recipe.detection_weight * detection
        + recipe.bits_weight * bits
        + recipe.mel_weight * ramp * perceptual
    )
    figures: dict[str, float] = {}
    with torch.no_grad():
        snr = 10 * torch.log10(audio.pow(2).sum() / watermark.pow(2).sum().clamp(min=1e-12))
    figures |= {
        "loss": float(total),
        "detection": float(detection),
        "bits": float(bits),
        "mel": float(perceptual),
        "snr_db": float(snr),
        "budget_db": snr_db,
    }
    figures[f"edit_{edit}"] = 1.0
    return total, figures


def _budget_db(recipe: Recipe, step: int) -> float:
    return recipe.start_snr_db + _schedule(recipe, step) * (recipe.final_snr_db - recipe.start_snr_db)


@torch.no_grad()
def validate(
    generator: AudioSealWM, detector: AudioSealDetector, batches: Batches, recipe: Recipe, step: int
) -> dict[str, float]:
    """Clean detection and message figures on fixed dev segments at the final loudness budget,
    and the message figures at the budget the run has reached."""
    rng = np.random.default_rng([recipe.seed, 999_999])
    audio, _, messages = batches.draw(rng)
    raw = generator.get_watermark(audio, message=messages)
    watermark = fit_budget(audio, raw, recipe.final_snr_db)
    positives = detector.detector(audio + watermark)
    negatives = detector.detector(audio)
    p_pos = torch.softmax(positives[:, :2, :], dim=1)[:, 1].mean(dim=-1)
    p_neg = torch.softmax(negatives[:, :2, :], dim=1)[:, 1].mean(dim=-1)
    decoded = (positives[:, 2:, :].mean(dim=-1) > 0).long()
    now = detector.detector(audio + fit_budget(audio, raw, _budget_db(recipe, step)))
    decoded_now = (now[:, 2:, :].mean(dim=-1) > 0).long()
    return {
        "val_detect_pos": float((p_pos > 0.5).float().mean()),
        "val_detect_neg": float((p_neg > 0.5).float().mean()),
        "val_bit_accuracy": float((decoded == messages).float().mean()),
        "val_payload_exact": float((decoded == messages).all(dim=1).float().mean()),
        "val_bit_accuracy_at_budget": float((decoded_now == messages).float().mean()),
        "val_payload_exact_at_budget": float((decoded_now == messages).all(dim=1).float().mean()),
        "val_snr_db": float(10 * torch.log10(audio.pow(2).sum() / watermark.pow(2).sum())),
    }


def same_run(stored: dict[str, Any], recipe: Any) -> bool:
    """The checkpoint belongs to this recipe (a dataclass): same settings (only the length may grow)."""
    wanted = asdict(recipe)
    return set(stored) == set(wanted) and all(wanted[k] == v for k, v in stored.items() if k != "steps")


def _learning_rate(recipe: Recipe, step: int) -> float:
    return warm_then_cosine(recipe.lr, recipe.lr_warmup_steps, recipe.steps, step)


def initialise(generator: AudioSealWM, detector: AudioSealDetector, batches: Batches, recipe: Recipe) -> None:
    """Data-dependent start (training/watermark/initialise.py): the convolutions are scaled on 48
    training segments, the bit read-out is fitted on 768 (eight times the latent's width)."""
    rng = np.random.default_rng([recipe.seed, 888_888])
    drawn = [batches.draw(rng) for _ in range(768 // recipe.batch)]
    audio = torch.cat([a for a, _, _ in drawn])
    messages = torch.cat([m for _, _, m in drawn])
    few_audio, few_messages = audio[:48], messages[:48]
    unit_variance_init(generator, lambda: generator.get_watermark(few_audio, message=few_messages))
    with torch.no_grad():
        watermark = generator.get_watermark(audio, message=messages)
        marked = audio + fit_budget(audio, watermark, recipe.start_snr_db)
    unit_variance_init(detector, lambda: detector.detector(marked[:48]))
    fit = fit_bit_readout(detector, marked, messages)
    print(f"initialised: bit read-out fits {fit:.2f} of {len(messages)} training messages")


def training_pools() -> tuple[dict[str, list[Clip]], dict[str, list[Clip]]]:
    """The training and dev audio pools (built once, cached under CACHE/audio)."""
    pool = build_pool(
        PoolSpec(splits.WATERMARK_TRAIN, rendered_songs=160, synth_songs=40, utterances=400),
        CACHE / "audio",
        "training",
    )
    dev_pool = build_pool(
        PoolSpec(splits.WATERMARK_DEV, rendered_songs=16, synth_songs=4, utterances=40),
        CACHE / "audio",
        "dev",
    )
    return pool, dev_pool


def save_state(
    path: Path,
    step: int,
    recipe: dict[str, Any],
    generator: AudioSealWM,
    detector: AudioSealDetector,
    optimizer: torch.optim.Optimizer,
) -> None:
    """A resumable checkpoint, written atomically."""
    state = {
        "step": step,
        "recipe": recipe,
        "generator": generator.state_dict(),
        "detector": detector.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def export(state_path: Path) -> None:
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    generator, detector = new_models()
    generator.load_state_dict(state["generator"])
    detector.load_state_dict(state["detector"])
    save_checkpoint(generator, architecture.generator_config(), GENERATOR_WEIGHTS, state["step"])
    save_checkpoint(detector, architecture.detector_config(), DETECTOR_WEIGHTS, state["step"])
    print(f"exported step {state['step']} to {GENERATOR_WEIGHTS.parent}")


def train(recipe: Recipe, threads: int) -> Path:
    torch.set_num_threads(threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    state_path = CACHE / "state.pt"
    log_path = CACHE / "log.jsonl"
    pool, dev_pool = training_pools()
    batches, dev_batches = Batches(pool, recipe), Batches(dev_pool, replace(recipe, batch=48))
    torch.manual_seed(recipe.seed)
    generator, detector = new_models()
    mel_loss = MelLoss()
    optimizer = torch.optim.Adam([*generator.parameters(), *detector.parameters()], lr=recipe.lr)
    step = 0
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if not same_run(state["recipe"], recipe):
            raise SystemExit(f"{state_path} was trained with another recipe; move it away to start over")
        if state["recipe"]["steps"] != recipe.steps:
            # Extending a run: the per-step randomness is unchanged, the learning-rate schedule
            # stretches to the new end. The log records where that happened.
            with log_path.open("a") as extension:
                extension.write(json.dumps({"extended_at": state["step"], "steps": recipe.steps}) + "\n")
        generator.load_state_dict(state["generator"])
        detector.load_state_dict(state["detector"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    else:
        initialise(generator, detector, batches, recipe)
    stage = Stage(
        label="training",
        seed=recipe.seed,
        steps=recipe.steps,
        validate_every=recipe.validate_every,
        checkpoint_every=recipe.checkpoint_every,
        log=log_path,
        learning_rate=lambda at: _learning_rate(recipe, at),
        losses=lambda rng, at: losses(generator, detector, mel_loss, batches.draw(rng), rng, recipe, at),
        validate=lambda at: validate(generator, detector, dev_batches, recipe, at),
        checkpoint=lambda at: save_state(state_path, at, asdict(recipe), generator, detector, optimizer),
        summary=lambda f: f"det {f['detection']:.3f} bits {f['bits']:.3f} snr {f['snr_db']:.1f}",
    )
    run(stage, step, optimizer, [*generator.parameters(), *detector.parameters()])
    return state_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--export", action="store_true", help="only export the last checkpoint")
    args = parser.parse_args()
    if args.export:
        export(CACHE / "state.pt")
        return
    export(train(Recipe(steps=args.steps), args.threads))


if __name__ == "__main__":
    main()
