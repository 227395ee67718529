"""The compact AudioSeal configuration Clearance trains, written the way the package's own loader
reads it (the `xp.cfg` of a checkpoint). A checkpoint made from these loads with
`AudioSeal.load_generator(path)` / `AudioSeal.load_detector(path)`, like the official ones."""

from __future__ import annotations

from typing import Any

NBITS = 16
SAMPLE_RATE = 16_000
HOP = 8 * 5 * 4 * 2  # SEANet ratios: one hidden frame per 20 ms


def _seanet(n_filters: int, dimension: int) -> dict[str, Any]:
    return {
        "channels": 1,
        "dimension": dimension,
        "n_filters": n_filters,
        "n_residual_layers": 1,
        "ratios": [8, 5, 4, 2],
        # ReLU instead of the official ELU: ELU's expm1 is most of a CPU forward pass.
        "activation": "ReLU",
        "activation_params": {},
        "norm": "none",
        "norm_params": {},
        "kernel_size": 7,
        "last_kernel_size": 7,
        "residual_kernel_size": 3,
        "dilation_base": 2,
        "causal": False,
        "pad_mode": "constant",
        "true_skip": True,
        "compress": 2,
        "lstm": 2,
        "disable_norm_outer_blocks": 0,
    }


def generator_config() -> dict[str, Any]:
    return {
        "name": "clearance_wm_16bits",
        "nbits": NBITS,
        "seanet": _seanet(n_filters=16, dimension=128),
        "decoder": {"final_activation": None, "final_activation_params": None, "trim_right_ratio": 1.0},
    }


def detector_config() -> dict[str, Any]:
    # Smaller than the generator: detection runs on every track, embedding only on generated ones.
    return {
        "name": "clearance_detector_16bits",
        "nbits": NBITS,
        "seanet": _seanet(n_filters=12, dimension=96),
        "detector": {"output_dim": 32},
    }
