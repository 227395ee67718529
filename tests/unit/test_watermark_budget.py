import numpy as np
import torch

from detectors.watermark.budget import FRAME, fit_budget


def _frame_snr_db(audio: torch.Tensor, mark: torch.Tensor) -> np.ndarray:
    usable = audio.shape[-1] // FRAME * FRAME
    a = audio[..., :usable].reshape(-1, FRAME).pow(2).mean(dim=1)
    m = mark[..., :usable].reshape(-1, FRAME).pow(2).mean(dim=1)
    return (10 * torch.log10(a / m.clamp(min=1e-30))).numpy()


def test_every_frame_stays_under_budget_even_for_a_huge_raw_watermark() -> None:
    rng = np.random.default_rng(0)
    envelope = np.repeat(rng.choice([1e-3, 0.02, 0.5], 40), 400)  # abrupt level changes
    audio = torch.from_numpy(rng.standard_normal(16000) * envelope).float().reshape(1, 1, -1)
    raw = torch.from_numpy(rng.standard_normal(16000) * 1e5).float().reshape(1, 1, -1)
    marked = fit_budget(audio, raw, snr_db=27.0)
    assert _frame_snr_db(audio, marked).min() >= 27.0 - 0.01


def test_silence_gets_no_watermark() -> None:
    audio = torch.zeros(1, 1, 8000)
    audio[..., 4000:] = 0.1
    marked = fit_budget(audio, torch.ones(1, 1, 8000), snr_db=20.0)
    assert float(marked[..., : 4000 - FRAME].abs().max()) < 1e-8
    assert float(marked[..., 4000 + FRAME :].abs().min()) > 0.0


def test_a_quiet_watermark_is_left_alone() -> None:
    audio = torch.full((1, 1, 4096), 0.5)
    quiet = torch.full((1, 1, 4096), 1e-4)
    assert torch.allclose(fit_budget(audio, quiet, snr_db=20.0), quiet)
