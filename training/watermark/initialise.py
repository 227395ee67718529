"""Data-dependent initialisation of the watermark pair, before the first training step.

1. LSUV (Mishkin & Matas 2016): scale each convolution, in the order the data reaches it, so
   that its output has unit variance on real input.
2. The detector's message read-out is set to the ridge regression of the bits on its own mean
   latent, so every bit starts with the best linear path the random networks offer.

Why the watermark pair needs it: audio sits at -35 to -12 dB RMS, so with PyTorch's default
initialisation the networks' activations are dominated by their biases. The detector's latent
then barely moves with its input (a standard deviation of ~2e-4 across clips), a linear read-out
of the message needs weights in the thousands, and Adam at 1e-3 takes hundreds of steps to grow
each bit's path: the bits are learned one at a time, and not at all at a 12 dB budget within
400 steps. After this initialisation the same bits-only training starts at 12 dB with many bits
rising together.

Why the read-out: even then, the detector's 96-dimensional mean latent already separates the
bits (ridge probe 0.94 bit accuracy with the watermark 10 dB above the host), but the package's
read-out squeezes it through 32 random channels (0.6), and learning that projection by gradient
is what makes the bits come one at a time. Fitted at the start, all bits rise together.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

import torch
from audioseal.libs.moshi.modules.seanet import SEANetEncoderKeepDimension
from audioseal.models import AudioSealDetector
from torch import nn


def _convolutions(model: nn.Module) -> list[tuple[nn.Conv1d | nn.ConvTranspose1d, nn.Module]]:
    """(convolution, module whose forward hook sees its output), in registration order.

    The package's streaming wrappers call `inner_conv.forward` directly, which skips the inner
    convolution's own hooks, so those are observed on the wrapper."""
    named = dict(model.named_modules())
    found: list[tuple[nn.Conv1d | nn.ConvTranspose1d, nn.Module]] = []
    for name, module in named.items():
        if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
            observed = named[name.rsplit(".", 1)[0]] if name.endswith("inner_conv") else module
            found.append((module, observed))
    return found


def _keep_output(seen: dict[str, torch.Tensor], _module: nn.Module, _in: object, out: torch.Tensor) -> None:
    seen["out"] = out


@torch.no_grad()
def unit_variance_init(model: nn.Module, forward: Callable[[], object], rounds: int = 3) -> list[float]:
    """Rescale `model`'s convolutions in place; `forward` runs the model on a batch of real input.

    Returns each convolution's output standard deviation before its last rescaling (≈ 1)."""
    figures = []
    for conv, observed in _convolutions(model):
        seen: dict[str, torch.Tensor] = {}
        hook = observed.register_forward_hook(partial(_keep_output, seen))
        try:
            for _ in range(rounds):
                forward()
                std = float(seen["out"].std())
                scale = 1.0 / max(std, 1e-12)
                conv.weight.mul_(scale)
                if conv.bias is not None:
                    conv.bias.mul_(scale)
        finally:
            hook.remove()
        figures.append(std)
    return figures


@torch.no_grad()
def fit_bit_readout(
    detector: AudioSealDetector, received: torch.Tensor, messages: torch.Tensor, logit_scale: float = 3.0
) -> float:
    """Point the detector's message outputs at the ridge regression of `messages` (batch x nbits)
    on its mean latent for `received` (batch x 1 x samples). Returns the fit's bit accuracy.

    The package's read-out is latent -> transposed convolution to 32 channels -> 1x1 convolution,
    and the message is the time mean of the last. Channel j (< nbits) of the transposed
    convolution is given the regression's weights for bit j as its mean over the kernel (its
    variation along the kernel, which localises, is kept) and bit j reads channel j alone. The fit is
    exact for lengths that are a multiple of the hop (320 samples), as training segments are.
    """
    encoder = cast(SEANetEncoderKeepDimension, detector.detector[0])
    last = cast(nn.Conv1d, detector.detector[1])
    nbits = messages.shape[1]
    latent = encoder.model(received).mean(dim=-1)
    centre = latent.mean(dim=0)
    centred = latent - centre
    gram = centred.T @ centred
    ridge = 1e-2 * torch.trace(gram) / gram.shape[0]
    targets = messages.float() * 2 - 1
    weights = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0]), centred.T @ targets)
    transposed = encoder.reverse_convolution
    kernel = transposed.weight[:, :nbits, :]  # latent x channel x kernel position
    kernel -= kernel.mean(dim=-1, keepdim=True)
    kernel += weights[:, :, None]
    assert transposed.bias is not None and last.bias is not None  # the package builds both with biases
    transposed.bias[:nbits] = -(centre @ weights)
    last.weight[2:] = 0.0
    last.bias[2:] = 0.0
    last.weight[2 + torch.arange(nbits), torch.arange(nbits), 0] = logit_scale
    return float(((centred @ weights > 0) == messages.bool()).float().mean())
