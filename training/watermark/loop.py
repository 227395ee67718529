"""The training step loop both stages run: per-step randomness from (seed, step), so a resumed
run is the run it would have been; a JSON line of figures per step; validation and a resumable
checkpoint at fixed intervals; a progress bar."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

Figures = dict[str, float]


def warm_then_cosine(lr: float, warmup_steps: int, steps: int, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth at `steps`."""
    warm = min(1.0, (step + 1) / warmup_steps)
    return warm * lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / steps))))


@dataclass(frozen=True)
class Stage:
    """What differs between the stages: their losses, schedule, validation and checkpoint."""

    label: str
    seed: int
    steps: int
    validate_every: int
    checkpoint_every: int
    log: Path
    learning_rate: Callable[[int], float]
    losses: Callable[[np.random.Generator, int], tuple[torch.Tensor, Figures]]
    validate: Callable[[int], Figures]
    checkpoint: Callable[[int], None]
    summary: Callable[[Figures], str]


def run(stage: Stage, step: int, optimizer: torch.optim.Optimizer, trained: Iterable[torch.Tensor]) -> None:
    """Train from `step` to `stage.steps`, clipping the gradient of `trained` at norm 5."""
    parameters = list(trained)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[figures]}"))
    with Progress(*columns, TimeRemainingColumn()) as progress, stage.log.open("a") as log:
        task = progress.add_task(stage.label, total=stage.steps, completed=step, figures="")
        while step < stage.steps:
            started = time.perf_counter()
            rng = np.random.default_rng([stage.seed, step])
            torch.manual_seed(stage.seed * 100_003 + step)
            for group in optimizer.param_groups:
                group["lr"] = stage.learning_rate(step)
            total, figures = stage.losses(rng, step)
            optimizer.zero_grad()
            total.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(parameters, 5.0)
            optimizer.step()
            step += 1
            figures.update(step=step, seconds=time.perf_counter() - started)
            if step % stage.validate_every == 0 or step == stage.steps:
                figures.update(stage.validate(step))
            log.write(json.dumps(figures) + "\n")
            log.flush()
            if step % stage.checkpoint_every == 0 or step == stage.steps:
                stage.checkpoint(step)
            progress.update(task, advance=1, figures=stage.summary(figures))
