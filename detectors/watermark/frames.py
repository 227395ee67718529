"""The detector's output averaged over each 320-sample frame, computed without the per-sample
output it is averaged from.

An AudioSeal detector is a SEANet encoder (one hidden vector per frame), a transposed
convolution whose kernel equals its stride (each hidden vector becomes the 320 samples of its
own frame, with no overlap), and a 1x1 convolution to 2 detection + 16 message logits. Both
after the encoder are linear, so:

- a frame's mean message logits are one small matrix applied to its hidden vector;
- a sample's detection probability is softmax over two logits, the logistic of their
  difference, which is again linear in the hidden vector: one 320-column matrix gives all of a
  frame's samples at once.

This is the same arithmetic in another order: it never builds the 32-channel per-sample tensor,
which was a third of a forward pass on a CPU. A detector of another shape (the transposed
convolution overlapping frames, a wider head) is read the plain way, through its whole forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from audioseal.models import AudioSealDetector
from torch import nn

from detectors.watermark.plain_encoder import plain_encoder
from detectors.watermark.runtime import window_encoder


@dataclass(frozen=True)
class FrameOutput:
    """Per frame: detection probability (batch x frames) and message logits (batch x frames x bits)."""

    probability: torch.Tensor
    bit_logits: torch.Tensor


class FrameReader:
    """Reads a detector frame by frame. Input: batch x 1 x samples, starting on a frame boundary."""

    def __init__(self, model: AudioSealDetector, hop: int) -> None:
        self.model = model
        self.hop = hop

    def __call__(self, audio: torch.Tensor) -> FrameOutput:
        output = self.model.detector(audio)
        frames = output.shape[-1] // self.hop
        per_frame = output[..., : frames * self.hop].unflatten(-1, (frames, self.hop))
        return FrameOutput(
            probability=torch.softmax(per_frame[:, :2], dim=1)[:, 1].mean(dim=-1),
            bit_logits=per_frame[:, 2:].mean(dim=-1).transpose(1, 2),
        )


@dataclass(frozen=True)
class LinearTail:
    """What follows the encoder: the frame-to-samples spread, then the 1x1 head."""

    encoder: nn.Module
    spread: torch.Tensor  # hidden x channels x hop
    spread_bias: torch.Tensor  # channels
    head: torch.Tensor  # outputs x channels
    head_bias: torch.Tensor  # outputs


def linear_tail(model: AudioSealDetector, hop: int) -> LinearTail | None:
    """The detector's layers when it has the shape the collapsed read-out assumes, else None."""
    layers = list(model.detector) if isinstance(model.detector, nn.Sequential) else []
    if len(layers) != 2:
        return None
    outer, head = layers
    encoder = getattr(outer, "model", None)
    spread = getattr(outer, "reverse_convolution", None)
    if not (
        isinstance(encoder, nn.Module)
        and isinstance(spread, nn.ConvTranspose1d)
        and isinstance(head, nn.Conv1d)
    ):
        return None
    fits = (
        spread.kernel_size == (hop,)
        and spread.stride == (hop,)
        and spread.padding == (0,)
        and spread.output_padding == (0,)
        and spread.groups == 1
        and head.kernel_size == (1,)
        and head.groups == 1
        and head.out_channels >= 3
    )
    if not fits or spread.bias is None or head.bias is None:
        return None
    return LinearTail(encoder, spread.weight, spread.bias, head.weight[:, :, 0], head.bias)


class CollapsedFrameReader(FrameReader):
    """The encoder, then the linear layers after it folded into per-frame matrices."""

    def __init__(
        self, model: AudioSealDetector, hop: int, tail: LinearTail, window: int | None = None
    ) -> None:
        super().__init__(model, hop)
        # plain tensors even when first built during inference, so later use may be graded too
        with torch.inference_mode(False), torch.no_grad():
            encoder = plain_encoder(tail.encoder) or tail.encoder
            fast = window_encoder(encoder, 1, window) if window is not None else None
            self.encoder: Callable[[torch.Tensor], torch.Tensor] = fast or encoder
            per_sample = torch.einsum("oc,dcj->doj", tail.head, tail.spread)  # hidden x outputs x hop
            bias = tail.head @ tail.spread_bias + tail.head_bias  # outputs
            self.bits = per_sample[:, 2:].mean(dim=-1)  # hidden x bits
            self.bits_bias = bias[2:]
            self.margin = per_sample[:, 1] - per_sample[:, 0]  # hidden x hop
            self.margin_bias = bias[1] - bias[0]

    def __call__(self, audio: torch.Tensor) -> FrameOutput:
        # whole frames only, as the plain read-out keeps: a partial last frame is dropped
        hidden = self.encoder(audio).transpose(1, 2)[:, : audio.shape[-1] // self.hop]
        margins = hidden @ self.margin + self.margin_bias  # batch x frames x hop
        return FrameOutput(
            probability=torch.sigmoid(margins).mean(dim=-1),
            bit_logits=hidden @ self.bits + self.bits_bias,
        )


@lru_cache(maxsize=8)  # three readers a model: the detection windows', the screen's, the grid search's
def frame_reader(model: AudioSealDetector, hop: int, window: int | None = None) -> FrameReader:
    """The fastest reader of this detector; `window`: the length (samples) of the single-audio
    windows it will read most, which then go through ONNX Runtime (runtime.py)."""
    tail = linear_tail(model, hop)
    return FrameReader(model, hop) if tail is None else CollapsedFrameReader(model, hop, tail, window)
