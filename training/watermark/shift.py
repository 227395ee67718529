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

import argparse
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from audioseal.models import AudioSealDetector, AudioSealWM

from detectors.watermark import architecture
from detectors.watermark.budget import DEFAULT_SNR_DB, fit_budget
from detectors.watermark.weights import DETECTOR_WEIGHTS, save_checkpoint
from training.watermark.loop import Stage, run
from training.watermark.train import (
    CACHE,
    Batches,
    Recipe,
    _apply_masks,
    _edit,
    _masks,
    new_models,
    save_state,
    training_pools,
)

STAGE1_STATE = CACHE / "state.pt"
STATE = CACHE / "shift_state.pt"
LOG = CACHE / "shift_log.jsonl"
HOP = architecture.HOP


@dataclass(frozen=True)
class ShiftRecipe:
    seed: int = 20261122
    steps: int = 1000
    batch: int = 12
    lr: float = 2e-4
    lr_warmup_steps: int = 50
    detection_weight: float = 10.0
    bits_weight: float = 20.0
    snr_db: float = DEFAULT_SNR_DB
    edit_probability: float = 0.7
    checkpoint_every: int = 50
    validate_every: int = 100


def _shifted(x: torch.Tensor, offsets: list[int]) -> torch.Tensor:
    """Each item from its own offset, all cut to the same length (the segment less one frame)."""
    length = x.shape[-1] - HOP
    return torch.stack([x[i, ..., offset : offset + length] for i, offset in enumerate(offsets)])


def _detection_loss(output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output[:, :2, :], mask[:, 0, :].long())


def _bits_loss(output: torch.Tensor, mask: torch.Tensor, messages: torch.Tensor) -> torch.Tensor:
    present = mask.sum(dim=-1)
    has_mark = present[:, 0] > 0
    if not bool(has_mark.any()):
        return torch.zeros(())
    logits = (output[:, 2:, :] * mask).sum(dim=-1) / present.clamp(min=1.0)
    return F.binary_cross_entropy_with_logits(logits[has_mark], messages[has_mark].float())


def losses(
    generator: AudioSealWM,
    detector: AudioSealDetector,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rng: np.random.Generator,
    recipe: ShiftRecipe,
) -> tuple[torch.Tensor, dict[str, float]]:
    audio, other, messages = batch
    with torch.no_grad():
        marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), recipe.snr_db)
    stage1 = Recipe(batch=recipe.batch)
    mask, fills = _masks(audio.shape[0], rng, stage1)
    received, edit = _edit(_apply_masks(audio, marked, other, mask, fills), rng, recipe.edit_probability)
    offsets = [int(o) for o in rng.integers(1, HOP, audio.shape[0])]
    aligned = detector.detector(received)
    shifted = detector.detector(_shifted(received, offsets))
    shifted_mask = _shifted(mask, offsets)
    detection_aligned = _detection_loss(aligned, mask)
    detection_shifted = _detection_loss(shifted, shifted_mask)
    bits = _bits_loss(aligned, mask, messages)
    total = recipe.detection_weight * (detection_aligned + detection_shifted) + recipe.bits_weight * bits
    return total, {
        "loss": float(total),
        "detection": float(detection_aligned),
        "detection_shifted": float(detection_shifted),
        "bits": float(bits),
        f"edit_{edit}": 1.0,
    }


@torch.no_grad()
def validate(
    generator: AudioSealWM, detector: AudioSealDetector, batches: Batches, recipe: ShiftRecipe
) -> dict[str, float]:
    """Clean dev segments at the final budget, aligned and shifted by fixed random offsets."""
    rng = np.random.default_rng([recipe.seed, 999_999])
    audio, _, messages = batches.draw(rng)
    marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), recipe.snr_db)
    offsets = [int(o) for o in rng.integers(1, HOP, audio.shape[0])]

    def detected(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(detector.detector(x)[:, :2, :], dim=1)[:, 1].mean(dim=-1) > 0.5

    decoded = (detector.detector(marked)[:, 2:, :].mean(dim=-1) > 0).long()
    return {
        "val_detect_pos": float(detected(marked).float().mean()),
        "val_detect_neg": float(detected(audio).float().mean()),
        "val_detect_pos_shifted": float(detected(_shifted(marked, offsets)).float().mean()),
        "val_detect_neg_shifted": float(detected(_shifted(audio, offsets)).float().mean()),
        "val_bit_accuracy": float((decoded == messages).float().mean()),
        "val_payload_exact": float((decoded == messages).all(dim=1).float().mean()),
    }


def _learning_rate(recipe: ShiftRecipe, step: int) -> float:
    return recipe.lr * min(1.0, (step + 1) / recipe.lr_warmup_steps)


def _load(path: Path, generator: AudioSealWM, detector: AudioSealDetector) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    generator.load_state_dict(state["generator"])
    detector.load_state_dict(state["detector"])
    return state


def train(recipe: ShiftRecipe, threads: int) -> Path:
    torch.set_num_threads(threads)
    pool, dev_pool = training_pools()
    batches = Batches(pool, Recipe(batch=recipe.batch))
    dev_batches = Batches(dev_pool, Recipe(batch=48))
    torch.manual_seed(recipe.seed)
    generator, detector = new_models()
    generator.eval().requires_grad_(False)
    optimizer = torch.optim.Adam(detector.parameters(), lr=recipe.lr)
    if STATE.exists():
        state = _load(STATE, generator, detector)
        if {k: v for k, v in state["recipe"].items() if k != "steps"} != {
            k: v for k, v in asdict(recipe).items() if k != "steps"
        }:
            raise SystemExit(f"{STATE} was trained with another recipe; move it away to start over")
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    else:
        if not STAGE1_STATE.exists():
            raise SystemExit(f"stage 1 first: {STAGE1_STATE} is missing (python -m training.watermark.train)")
        stage1 = _load(STAGE1_STATE, generator, detector)
        print(f"starting from stage 1, step {stage1['step']}")
        step = 0
    stage = Stage(
        label="shift stage",
        seed=recipe.seed,
        steps=recipe.steps,
        validate_every=recipe.validate_every,
        checkpoint_every=recipe.checkpoint_every,
        log=LOG,
        learning_rate=lambda at: _learning_rate(recipe, at),
        losses=lambda rng, _: losses(generator, detector, batches.draw(rng), rng, recipe),
        validate=lambda _: validate(generator, detector, dev_batches, recipe),
        checkpoint=lambda at: save_state(STATE, at, asdict(recipe), generator, detector, optimizer),
        summary=lambda f: (
            f"det {f['detection']:.3f} shifted {f['detection_shifted']:.3f} bits {f['bits']:.3f}"
        ),
    )
    run(stage, step, optimizer, detector.parameters())
    return STATE


def export(state_path: Path) -> None:
    """Only the detector changes in this stage; the generator's weights stay stage 1's."""
    generator, detector = new_models()
    state = _load(state_path, generator, detector)
    save_checkpoint(detector, architecture.detector_config(), DETECTOR_WEIGHTS, state["step"], stage="shift")
    print(f"exported the shift stage's detector (step {state['step']}) to {DETECTOR_WEIGHTS}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=ShiftRecipe.steps)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--export", action="store_true", help="only export the last checkpoint")
    parser.add_argument("--no-export", action="store_true", help="train without exporting")
    args = parser.parse_args()
    if args.export:
        export(STATE)
        return
    state = train(replace(ShiftRecipe(), steps=args.steps), args.threads)
    if not args.no_export:
        export(state)


if __name__ == "__main__":
    main()
