"""The data-dependent start of watermark training: convolutions scaled to unit variance on real
input, and the detector's message outputs set to a linear read-out of its own latent."""

from __future__ import annotations

import torch
from torch import nn

from detectors.watermark.budget import fit_budget
from training.watermark.initialise import _convolutions, fit_bit_readout, unit_variance_init
from training.watermark.train import new_models


def _batch(items: int = 48, samples: int = 6400) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    audio = torch.randn(items, 1, samples, generator=generator) * 0.05  # about -26 dBFS
    messages = torch.randint(0, 2, (items, 16), generator=generator)
    return audio, messages


def _output_stds(model: nn.Module, forward: object) -> list[float]:
    stds: list[float] = []
    hooks = [
        observed.register_forward_hook(lambda _m, _i, out: stds.append(float(out.std())))
        for _conv, observed in _convolutions(model)
    ]
    with torch.no_grad():
        forward()  # type: ignore[operator]
    for hook in hooks:
        hook.remove()
    return stds


def test_every_convolution_of_the_detector_ends_at_unit_variance_on_real_input() -> None:
    torch.manual_seed(0)
    _, detector = new_models()
    audio, _ = _batch()
    before = _output_stds(detector, lambda: detector.detector(audio))
    assert min(before) < 0.1  # quiet audio through default weights: activations nearly constant

    unit_variance_init(detector, lambda: detector.detector(audio))

    after = _output_stds(detector, lambda: detector.detector(audio))
    assert len(after) == len(before) > 10
    assert all(0.9 < std < 1.1 for std in after)


def test_the_fitted_readout_is_what_the_detector_decodes() -> None:
    torch.manual_seed(0)
    generator, detector = new_models()
    audio, messages = _batch()
    with torch.no_grad():
        marked = audio + fit_budget(audio, generator.get_watermark(audio, message=messages), -10.0)
    unit_variance_init(detector, lambda: detector.detector(marked))

    fit = fit_bit_readout(detector, marked, messages)

    with torch.no_grad():
        _, probabilities = detector(marked)  # the package's own decoding: sigmoid of the time mean
    decoded = (probabilities > 0.5).long()
    accuracy = float((decoded == messages).float().mean())
    assert fit > 0.9
    assert abs(accuracy - fit) < 0.01
