"""What this machine's CPU computes natively, for the detectors that pick a precision by it."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def bfloat16_native() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX-512 BF16, AMX): elsewhere
    PyTorch emulates them, slower than float32."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a PyTorch without these probes: assume not
        return False
