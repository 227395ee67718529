"""ONNX Runtime sessions for the detectors' PyTorch models (the watermark encoder, the tuned text
encoder): one thread pool sized as PyTorch's is, idle threads asleep."""

from __future__ import annotations

from typing import Any


def session(exported: bytes, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle threads sleep instead of spinning: the worker's other threads need the core
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(exported, options, providers=["CPUExecutionProvider"])
