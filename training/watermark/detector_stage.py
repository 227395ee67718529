"""Fine-tuning the detector alone, on top of an earlier stage, with the generator frozen (so every
watermark already embedded stays as it is and the generator's weights are unchanged).

The stages after the first (shift.py, speed.py) differ only in which views of a batch the
detector learns from; this module holds the rest: the received batch (watermarked at the final
loudness budget, parts removed, an edit), the losses on a view, resuming, and export.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from audioseal.models import AudioSealDetector, AudioSealWM

from detectors.watermark import architecture
from detectors.watermark.budget import DEFAULT_SNR_DB, fit_budget
from detectors.watermark.weights import DETECTOR_WEIGHTS, save_checkpoint
from training.watermark.loop import Figures, Stage, run
from training.watermark.train import (
    Batches,
    Recipe,
    _apply_masks,
    _edit,
    _masks,
    new_models,
    same_run,
    save_state,
    training_pools,
)

HOP = architecture.HOP
R = TypeVar("R", bound="DetectorRecipe")
ViewLosses = Callable[[AudioSealDetector, "Received", np.random.Generator], tuple[torch.Tensor, Figures]]
Validation = Callable[[AudioSealWM, AudioSealDetector, Batches], Figures]


@dataclass(frozen=True)
class DetectorRecipe:
    seed: int
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


@dataclass(frozen=True)
class Received:
    """A batch as the detector receives it: `audio` (B x 1 x T) after masks and an edit; `mask`
    is 1 where the watermark stays."""

    audio: torch.Tensor
    mask: torch.Tensor
    messages: torch.Tensor
    edit: str


def received(
    generator: AudioSealWM,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rng: np.random.Generator,
    recipe: DetectorRecipe,
) -> Received:
    audio, other, messages = batch
    with torch.no_grad():
        marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), recipe.snr_db)
    mask, fills = _masks(audio.shape[0], rng, Recipe(batch=recipe.batch))
    edited, edit = _edit(_apply_masks(audio, marked, other, mask, fills), rng, recipe.edit_probability)
    return Received(edited, mask, messages, edit)


def detection_loss(output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output[:, :2, :], mask[:, 0, :].long())


def bits_loss(output: torch.Tensor, mask: torch.Tensor, messages: torch.Tensor) -> torch.Tensor:
    present = mask.sum(dim=-1)
    has_mark = present[:, 0] > 0
    if not bool(has_mark.any()):
        return torch.zeros(())
    logits = (output[:, 2:, :] * mask).sum(dim=-1) / present.clamp(min=1.0)
    return F.binary_cross_entropy_with_logits(logits[has_mark], messages[has_mark].float())


def detected(detector: AudioSealDetector, audio: torch.Tensor) -> torch.Tensor:
    """Per item: is its mean detection probability over 0.5."""
    return torch.softmax(detector.detector(audio)[:, :2, :], dim=1)[:, 1].mean(dim=-1) > 0.5


def learning_rate(recipe: DetectorRecipe, step: int) -> float:
    """Linear warm-up, then constant."""
    return recipe.lr * min(1.0, (step + 1) / recipe.lr_warmup_steps)


def load(path: Path, generator: AudioSealWM, detector: AudioSealDetector) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    generator.load_state_dict(state["generator"])
    detector.load_state_dict(state["detector"])
    return state


@dataclass(frozen=True)
class DetectorStage:
    """Where a stage keeps its state and log, and which stage's state it starts from."""

    label: str
    state: Path
    log: Path
    start_from: Path
    start_hint: str  # how to make `start_from` when it is missing

    def fine_tune(
        self,
        recipe: DetectorRecipe,
        threads: int,
        losses: ViewLosses,
        validate: Validation,
        summary: Callable[[Figures], str],
        schedule: Callable[[DetectorRecipe, int], float] = learning_rate,
    ) -> Path:
        """Train (or resume) to `recipe.steps`; a checkpoint of another recipe is refused."""
        torch.set_num_threads(threads)
        pool, dev_pool = training_pools()
        batches = Batches(pool, Recipe(batch=recipe.batch))
        dev_batches = Batches(dev_pool, Recipe(batch=48))
        torch.manual_seed(recipe.seed)
        generator, detector = new_models()
        generator.eval().requires_grad_(False)
        optimizer = torch.optim.Adam(detector.parameters(), lr=recipe.lr)
        if self.state.exists():
            state = load(self.state, generator, detector)
            if not same_run(state["recipe"], recipe):
                raise SystemExit(f"{self.state} was trained with another recipe; move it away to start over")
            optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
        else:
            if not self.start_from.exists():
                raise SystemExit(f"{self.start_from} is missing: {self.start_hint}")
            earlier = load(self.start_from, generator, detector)
            print(f"starting from {self.start_from.name}, step {earlier['step']}")
            step = 0
        stage = Stage(
            label=self.label,
            seed=recipe.seed,
            steps=recipe.steps,
            validate_every=recipe.validate_every,
            checkpoint_every=recipe.checkpoint_every,
            log=self.log,
            learning_rate=lambda at: schedule(recipe, at),
            losses=lambda rng, _: losses(detector, received(generator, batches.draw(rng), rng, recipe), rng),
            validate=lambda _: validate(generator, detector, dev_batches),
            checkpoint=lambda at: save_state(self.state, at, asdict(recipe), generator, detector, optimizer),
            summary=summary,
        )
        run(stage, step, optimizer, detector.parameters())
        return self.state

    def command_line(
        self, description: str, recipe: R, train: Callable[[R, int], None], stage_name: str
    ) -> None:
        """Train (or resume) to --steps, then export; or only export (--export)."""
        parser = argparse.ArgumentParser(
            description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--steps", type=int, default=recipe.steps)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--export", action="store_true", help="only export the last checkpoint")
        parser.add_argument("--no-export", action="store_true", help="train without exporting")
        args = parser.parse_args()
        if not args.export:
            train(replace(recipe, steps=args.steps), args.threads)
        if args.export or not args.no_export:
            self.export(stage_name)

    def export(self, stage_name: str) -> None:
        """Only the detector changes in these stages; the generator's weights stay stage 1's."""
        generator, detector = new_models()
        state = load(self.state, generator, detector)
        save_checkpoint(
            detector, architecture.detector_config(), DETECTOR_WEIGHTS, state["step"], stage=stage_name
        )
        print(f"exported the {self.label}'s detector (step {state['step']}) to {DETECTOR_WEIGHTS}")
