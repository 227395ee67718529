"""Edits a watermark must survive, applied inside the training loop. All are differentiable
except MP3, which passes its gradient straight through (the encoder's output in the forward
pass, the identity in the backward pass), as the AudioSeal paper does for codecs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchaudio.functional as AF

from corpus import codecs
from detectors.watermark.architecture import SAMPLE_RATE

Edit = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]


def rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean(dim=-1, keepdim=True).add(1e-10).sqrt()


def gain(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    return x * 10 ** (float(rng.uniform(-20.0, 6.0)) / 20)


def white_noise(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    snr_db = float(rng.uniform(18.0, 40.0))
    noise = torch.randn_like(x)
    return x + noise * rms(x) * 10 ** (-snr_db / 20)


def pink_noise(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    snr_db = float(rng.uniform(20.0, 40.0))
    spectrum = torch.fft.rfft(torch.randn_like(x))
    freqs = torch.arange(spectrum.shape[-1], dtype=x.dtype).clamp(min=1.0)
    noise = torch.fft.irfft(spectrum / freqs.sqrt(), n=x.shape[-1])
    return torch.as_tensor(x + noise / rms(noise) * rms(x) * 10 ** (-snr_db / 20))


def lowpass(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    cutoff = float(rng.uniform(3000.0, 6000.0))
    return torch.as_tensor(AF.lowpass_biquad(AF.lowpass_biquad(x, SAMPLE_RATE, cutoff), SAMPLE_RATE, cutoff))


def highpass(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    cutoff = float(rng.uniform(200.0, 900.0))
    return torch.as_tensor(
        AF.highpass_biquad(AF.highpass_biquad(x, SAMPLE_RATE, cutoff), SAMPLE_RATE, cutoff)
    )


def bandpass(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    return lowpass(highpass(x, rng), rng)


def resample(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    via = int(rng.choice([8000, 11025, 22050, 32000, 44100, 48000]))
    return torch.as_tensor(
        AF.resample(AF.resample(x, SAMPLE_RATE, via), via, SAMPLE_RATE)[..., : x.shape[-1]]
    )


def echo(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    delay = int(rng.uniform(0.05, 0.3) * SAMPLE_RATE)
    volume = float(rng.uniform(0.1, 0.5))
    return (x + volume * torch.nn.functional.pad(x, (delay, 0))[..., : x.shape[-1]]) / (1 + volume)


def smooth(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    width = int(rng.integers(2, 8))
    kernel = torch.ones(1, 1, width, dtype=x.dtype) / width
    return torch.nn.functional.conv1d(x, kernel, padding="same")


def mp3_roundtrip(audio: np.ndarray, bitrate: str) -> np.ndarray:
    """A batch (items x samples) encoded as one MP3 at 16 kHz and decoded back, aligned."""
    items, samples = audio.shape
    return codecs.mp3_roundtrip(audio.reshape(-1).astype(np.float32), SAMPLE_RATE, bitrate).reshape(
        items, samples
    )


def mp3(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    bitrate = str(rng.choice(["64k", "96k", "128k"]))
    encoded = mp3_roundtrip(x.detach().squeeze(1).numpy(), bitrate)
    return x + (torch.from_numpy(encoded).unsqueeze(1) - x).detach()


EDITS: dict[str, Edit] = {
    "gain": gain,
    "white_noise": white_noise,
    "pink_noise": pink_noise,
    "lowpass": lowpass,
    "highpass": highpass,
    "bandpass": bandpass,
    "resample": resample,
    "echo": echo,
    "smooth": smooth,
    "mp3": mp3,
}
