"""Stage 2: teach the detector to find the watermark wherever the audio starts.

    python -m training.watermark.shift            # fine-tune (or resume) to --steps, then export
    python -m training.watermark.shift --export   # write the weights from the last checkpoint

Stage 1 (training/watermark/train.py) leaves a detector that sees the watermark only on the
320-sample frame grid it was embedded on: cut one sample off the start and the score falls from
1.00 to near 0. An upload that trims the start, or pastes a generated clip anywhere but on that
grid, would pass unnoticed. Training the *bits* off the grid failed (they are carried in the
phase of the frames), so this stage keeps the generator frozen and fine-tunes the detector on
two views of every batch: the aligned view keeps both losses, so the payload still reads where
the grid is found again (detectors/watermark/detect.py searches for it), and a view shifted by
a random 1-319 samples, after the same edits, trains detection alone.

It starts from stage 1's last checkpoint (training/.cache/watermark/state.pt) and keeps its own
(shift_state.pt); every step's randomness comes from (seed, step), so a resumed run is the run
it would have been.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from audioseal.models import AudioSealDetector, AudioSealWM

from detectors.watermark import architecture
from detectors.watermark.budget import fit_budget
from training.watermark.detector_stage import (
    DetectorRecipe,
    DetectorStage,
    Received,
    bits_loss,
    detected,
    detection_loss,
)
from training.watermark.loop import Figures
from training.watermark.train import CACHE, Batches

HOP = architecture.HOP
STAGE = DetectorStage(
    label="shift stage",
    state=CACHE / "shift_state.pt",
    log=CACHE / "shift_log.jsonl",
    start_from=CACHE / "state.pt",
    start_hint="stage 1 first (python -m training.watermark.train)",
)


@dataclass(frozen=True)
class ShiftRecipe(DetectorRecipe):
    seed: int = 20261122


def shifted(x: torch.Tensor, offsets: list[int]) -> torch.Tensor:
    """Each item from its own offset, all cut to the same length (the segment less one frame)."""
    length = x.shape[-1] - HOP
    return torch.stack([x[i, ..., offset : offset + length] for i, offset in enumerate(offsets)])


def view_losses(
    detector: AudioSealDetector, got: Received, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """The aligned view's detection and bits losses; a view shifted by 1-319 samples, detection."""
    offsets = [int(o) for o in rng.integers(1, HOP, got.audio.shape[0])]
    aligned = detector.detector(got.audio)
    off_grid = detector.detector(shifted(got.audio, offsets))
    return {
        "detection": detection_loss(aligned, got.mask),
        "detection_shifted": detection_loss(off_grid, shifted(got.mask, offsets)),
        "bits": bits_loss(aligned, got.mask, got.messages),
    }


def losses(
    recipe: ShiftRecipe,
    detector: AudioSealDetector,
    got: Received,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, Figures]:
    parts = view_losses(detector, got, rng)
    total = (
        recipe.detection_weight * (parts["detection"] + parts["detection_shifted"])
        + recipe.bits_weight * parts["bits"]
    )
    return total, {"loss": total.item(), **{k: v.item() for k, v in parts.items()}, f"edit_{got.edit}": 1.0}


@torch.no_grad()
def validate(
    seed: int, snr_db: float, generator: AudioSealWM, detector: AudioSealDetector, batches: Batches
) -> Figures:
    """Clean dev segments at the final budget, aligned and shifted by fixed random offsets."""
    rng = np.random.default_rng([seed, 999_999])
    audio, _, messages = batches.draw(rng)
    marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), snr_db)
    offsets = [int(o) for o in rng.integers(1, HOP, audio.shape[0])]
    decoded = (detector.detector(marked)[:, 2:, :].mean(dim=-1) > 0).long()
    return {
        "val_detect_pos": float(detected(detector, marked).float().mean()),
        "val_detect_neg": float(detected(detector, audio).float().mean()),
        "val_detect_pos_shifted": float(detected(detector, shifted(marked, offsets)).float().mean()),
        "val_detect_neg_shifted": float(detected(detector, shifted(audio, offsets)).float().mean()),
        "val_bit_accuracy": float((decoded == messages).float().mean()),
        "val_payload_exact": float((decoded == messages).all(dim=1).float().mean()),
    }


def train(recipe: ShiftRecipe, threads: int) -> None:
    STAGE.fine_tune(
        recipe,
        threads,
        losses=lambda d, got, rng: losses(recipe, d, got, rng),
        validate=lambda g, d, b: validate(recipe.seed, recipe.snr_db, g, d, b),
        summary=lambda f: (
            f"det {f['detection']:.3f} shifted {f['detection_shifted']:.3f} bits {f['bits']:.3f}"
        ),
    )


def main() -> None:
    STAGE.command_line(__doc__ or "", ShiftRecipe(), train, "shift")


if __name__ == "__main__":
    main()
