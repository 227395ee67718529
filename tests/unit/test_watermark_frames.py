"""The collapsed per-frame read-out is the detector's own output, averaged per frame."""

from __future__ import annotations

import importlib.util
from typing import cast

import pytest
import torch
from audioseal.loader import AudioSeal
from audioseal.models import AudioSealDetector

from corpus import synth
from detectors.watermark.architecture import HOP, SAMPLE_RATE
from detectors.watermark.detect import to_mono_16k
from detectors.watermark.embed import embed
from detectors.watermark.frames import CollapsedFrameReader, FrameReader, frame_reader, linear_tail
from detectors.watermark.payload import Payload
from detectors.watermark.plain_encoder import plain_encoder
from detectors.watermark.runtime import WindowEncoder, window_encoder
from detectors.watermark.weights import DETECTOR_WEIGHTS, GENERATOR_WEIGHTS


@pytest.fixture(scope="module")
def detector() -> AudioSealDetector:
    return AudioSeal.load_detector(str(DETECTOR_WEIGHTS)).eval()


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    """A marked stretch and an unmarked one, so both probabilities near 1 and near 0 are compared."""
    rate = synth.SAMPLE_RATE
    song = synth.song(seed=77, seconds=8.0, rate=rate)
    marked = embed(song[: 3 * rate], rate, Payload(generator_id=1, model_version=1), str(GENERATOR_WEIGHTS))
    song[: 3 * rate] = marked
    return to_mono_16k(song, rate)


@pytest.mark.parametrize("length", [5 * SAMPLE_RATE, 2 * SAMPLE_RATE + 123])
def test_the_collapsed_read_out_equals_the_whole_forward_averaged_per_frame(
    detector: AudioSealDetector, audio: torch.Tensor, length: int
) -> None:
    plain = FrameReader(detector, HOP)
    collapsed = frame_reader(detector, HOP)
    assert isinstance(collapsed, CollapsedFrameReader)
    batch = torch.stack([audio[:length], audio[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + length]]).unsqueeze(1)
    with torch.inference_mode():
        expected, got = plain(batch), collapsed(batch)
    assert got.probability.shape == expected.probability.shape == (2, length // HOP)
    assert got.bit_logits.shape == expected.bit_logits.shape == (2, length // HOP, 16)
    assert expected.probability.max() > 0.9 and expected.probability.min() < 0.1
    torch.testing.assert_close(got.probability, expected.probability, atol=1e-5, rtol=0)
    torch.testing.assert_close(got.bit_logits, expected.bit_logits, atol=1e-4, rtol=1e-4)


def test_a_detector_of_another_shape_is_read_through_its_whole_forward(detector: AudioSealDetector) -> None:
    # a frame of another length than the transposed convolution's stride: no collapsing
    assert type(frame_reader(detector, HOP // 2)) is FrameReader


@pytest.mark.parametrize("length", [4 * SAMPLE_RATE + 2 * 3840, 3 * SAMPLE_RATE + 77])
def test_the_plain_encoder_computes_what_the_streaming_layers_do(
    detector: AudioSealDetector, audio: torch.Tensor, length: int
) -> None:
    tail = linear_tail(detector, HOP)
    assert tail is not None
    plain = plain_encoder(tail.encoder)
    assert plain is not None  # every layer of the shipped detector is rebuilt
    window = audio[:length].reshape(1, 1, -1)
    with torch.inference_mode():
        torch.testing.assert_close(plain(window), tail.encoder(window), atol=1e-5, rtol=1e-5)


def test_an_encoder_with_a_layer_not_rebuilt_is_read_as_it_is(detector: AudioSealDetector) -> None:
    tail = linear_tail(detector, HOP)
    assert tail is not None
    layers = list(cast(torch.nn.Sequential, tail.encoder))
    assert plain_encoder(torch.nn.Sequential(*layers, torch.nn.Tanh())) is None


def test_windows_read_through_onnx_runtime_give_what_pytorch_reads(
    detector: AudioSealDetector, audio: torch.Tensor
) -> None:
    window = 3 * SAMPLE_RATE
    fast = frame_reader(detector, HOP, window)
    assert isinstance(fast, CollapsedFrameReader) and isinstance(fast.encoder, WindowEncoder)
    plain = FrameReader(detector, HOP)
    # the window's own shape goes through ONNX Runtime; a shorter piece through PyTorch
    for piece in (
        audio[SAMPLE_RATE : SAMPLE_RATE + window],
        audio[2 * SAMPLE_RATE : 2 * SAMPLE_RATE + window - 7 * HOP],
    ):
        with torch.inference_mode():
            expected, got = plain(piece.reshape(1, 1, -1)), fast(piece.reshape(1, 1, -1))
        assert expected.probability.max() > 0.9 and expected.probability.min() < 0.1
        torch.testing.assert_close(got.probability, expected.probability, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.bit_logits, expected.bit_logits, atol=1e-4, rtol=1e-4)


def test_without_onnx_runtime_every_window_is_read_by_pytorch(
    detector: AudioSealDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    tail = linear_tail(detector, HOP)
    assert tail is not None
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a),
    )
    assert window_encoder(tail.encoder, 1, 3 * SAMPLE_RATE) is None
