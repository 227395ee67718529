"""Where Clearance's trained AudioSeal weights live, and the checkpoint format the package's loader
reads: {"xp.cfg": the model config, "model": the state dict}."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

WEIGHTS_DIR = Path(__file__).parent / "weights"
GENERATOR_WEIGHTS = WEIGHTS_DIR / "clearance_wm_16bits.pth"
DETECTOR_WEIGHTS = WEIGHTS_DIR / "clearance_detector_16bits.pth"


def _loader_key(name: str) -> str:
    """The loader renames `.conv.weight` to `.conv.inner_conv.weight` (checkpoints predate the
    scriptable modules), so weights are saved under the names it expects to rename."""
    return name.replace(".inner_conv.", ".")


def save_checkpoint(
    model: torch.nn.Module, config: dict[str, Any], path: Path, step: int, stage: str = "main"
) -> None:
    """Half-precision weights (the loader copies them into float32 parameters) keep both files
    well under the repository's 20 MB budget. `stage` and `step` say which training made them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {_loader_key(name): tensor.detach().half() for name, tensor in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save({"xp.cfg": config, "model": state, "stage": stage, "step": step}, tmp)
    tmp.replace(path)


def model_version(source: str) -> str:
    """A checkpoint's name and content hash (a model card's name when it is not a local file), so
    findings say exactly which weights judged them."""
    path = Path(source)
    if not path.is_file():
        return source
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}@{digest}"
