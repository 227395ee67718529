"""Stage 3: teach the detector to find the watermark in sped-up and slowed-down audio.

    python -m training.watermark.speed            # fine-tune (or resume) to --steps, then export
    python -m training.watermark.speed --export   # write the weights from the last checkpoint

"Sped up" re-uploads play a track 5-25 % faster, pitch and tempo together, and are the most
common way around content ID. After the shift stage, a speed change of 1 % took the detection
score of watermarked clips from 1.00 to about 0.2 (dev clips); a time stretch that keeps the
pitch did not hurt it. So this stage keeps the shift stage's two views and adds a third: the
received batch resampled to play 1-10 % faster or slower (as the watermark's frequencies move,
not its timing), at a random offset, trained on detection alone. The payload is not trained
there: its bits are carried in the phase of whole frames, which a speed change scrambles.

Not shipped: the second run found 96-100 % of dev segments played 3-5 % faster or slower but
flagged about 10 % of clean ones, and at a fixed false-positive rate lost more than it gained (see
the model card). It stays as the starting point for the next attempt.

It starts from the shift stage's last checkpoint and keeps its own (speed_state.pt); every
step's randomness comes from (seed, step), so a resumed run is the run it would have been.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional as AF
from audioseal.models import AudioSealDetector, AudioSealWM

from detectors.watermark import architecture
from detectors.watermark.budget import fit_budget
from training.watermark import shift
from training.watermark.detector_stage import (
    DetectorRecipe,
    DetectorStage,
    Received,
    detected,
    detection_loss,
)
from training.watermark.loop import Figures, warm_then_cosine
from training.watermark.train import CACHE, SEGMENT, Batches

HOP = architecture.HOP
STAGE = DetectorStage(
    label="speed stage",
    state=CACHE / "speed_state.pt",
    log=CACHE / "speed_log.jsonl",
    start_from=shift.STAGE.state,
    start_hint="the shift stage first (python -m training.watermark.shift)",
)
VALIDATION_PERCENTS = (-10, -5, -3, 3, 5, 10)


@dataclass(frozen=True)
class SpeedRecipe(DetectorRecipe):
    seed: int = 20261123
    steps: int = 1500
    lr: float = 1e-4
    max_speed_change_pct: int = 10
    # The first run (speed view weighted like the others, Adam 2e-4 constant) found sped-up
    # watermarks but flagged 10-44 % of clean dev segments on the way; this one weighs the speed
    # view at half and decays the rate, so that the clean decision stays where it was.
    speed_weight: float = 0.5


def _learning_rate(recipe: DetectorRecipe, step: int) -> float:
    return warm_then_cosine(recipe.lr, recipe.lr_warmup_steps, recipe.steps, step)


def sped(x: torch.Tensor, percent: int) -> torch.Tensor:
    """`x` (... x T) played `percent` % faster (slower when negative): resampled, so its
    frequencies move with its tempo."""
    resampled: torch.Tensor = AF.resample(x, orig_freq=160 * (100 + percent), new_freq=160 * 100)
    return resampled


def speed_view(
    audio: torch.Tensor, mask: torch.Tensor, percents: list[int], starts: list[int], length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item at its own speed, cut at its own start to a common length; its mask follows."""
    views, masks = [], []
    for i, (percent, start) in enumerate(zip(percents, starts, strict=True)):
        views.append(sped(audio[i], percent)[..., start : start + length])
        masks.append((sped(mask[i], percent)[..., start : start + length] > 0.5).float())
    return torch.stack(views), torch.stack(masks)


def _view_length(recipe: SpeedRecipe) -> int:
    """Whole frames that fit in a segment at the highest speed."""
    return SEGMENT * 100 // (100 + recipe.max_speed_change_pct) // HOP * HOP


def _draw_speeds(rng: np.random.Generator, batch: int, recipe: SpeedRecipe) -> tuple[list[int], list[int]]:
    limit = recipe.max_speed_change_pct
    choices = [p for p in range(-limit, limit + 1) if p != 0]
    percents = [int(rng.choice(choices)) for _ in range(batch)]
    length = _view_length(recipe)
    starts = [int(rng.integers(0, SEGMENT * 100 // (100 + p) - length + 1)) for p in percents]
    return percents, starts


def losses(
    recipe: SpeedRecipe, detector: AudioSealDetector, got: Received, rng: np.random.Generator
) -> tuple[torch.Tensor, Figures]:
    parts = shift.view_losses(detector, got, rng)
    percents, starts = _draw_speeds(rng, got.audio.shape[0], recipe)
    with torch.no_grad():
        audio, mask = speed_view(got.audio, got.mask, percents, starts, _view_length(recipe))
    parts["detection_speed"] = detection_loss(detector.detector(audio), mask)
    speed = recipe.speed_weight * parts["detection_speed"]
    detection = parts["detection"] + parts["detection_shifted"] + speed
    total = recipe.detection_weight * detection + recipe.bits_weight * parts["bits"]
    return total, {"loss": total.item(), **{k: v.item() for k, v in parts.items()}, f"edit_{got.edit}": 1.0}


@torch.no_grad()
def validate(
    recipe: SpeedRecipe, generator: AudioSealWM, detector: AudioSealDetector, batches: Batches
) -> Figures:
    """The shift stage's figures, and detection on dev segments at fixed speeds."""
    figures = shift.validate(recipe.seed, recipe.snr_db, generator, detector, batches)
    rng = np.random.default_rng([recipe.seed, 999_999])
    audio, _, messages = batches.draw(rng)
    marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), recipe.snr_db)
    for percent in VALIDATION_PERCENTS:
        for kind, clips in (("pos", marked), ("neg", audio)):
            share = detected(detector, sped(clips, percent)).float().mean()
            figures[f"val_detect_{kind}_speed{percent:+d}"] = float(share)
    return figures


def train(recipe: SpeedRecipe, threads: int) -> None:
    STAGE.fine_tune(
        recipe,
        threads,
        losses=lambda d, got, rng: losses(recipe, d, got, rng),
        validate=lambda g, d, b: validate(recipe, g, d, b),
        summary=lambda f: (
            f"det {f['detection']:.3f} shifted {f['detection_shifted']:.3f} "
            f"speed {f['detection_speed']:.3f} bits {f['bits']:.3f}"
        ),
        schedule=_learning_rate,
    )


def main() -> None:
    STAGE.command_line(__doc__ or "", SpeedRecipe(), train, "speed")


if __name__ == "__main__":
    main()
