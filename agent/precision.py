"""The floating-point type of the 3D-LLM's point-sized parts at inference.

The scene encoder reads the map's points (512 of the planner's 1,024-point sample for the shipped
model, ``SceneEncoderConfig.max_points``); its matrix products are most of a plan's fixed cost.
Where the hardware multiplies bfloat16 natively (a CPU with AMX tiles, a CUDA GPU with bf16
support) it runs in bfloat16 at a fraction of the float32 time, and so does the pointer
head's key product over the points; the language model and the pointer head's per-token work keep
their own type (a single row's product is slower in bfloat16 on this CPU). On this project's CPU
(AMX) the scene encoder took 14-16 ms in bfloat16 against 24-27 ms in float32 over 1,024 points (1
thread, ``benchmarks/plan_latency.py``), and the stage-5 model's held-out decompositions scored the
same step key accuracy (0.929) either way (``nav3d eval-planner --point-dtype``). Elsewhere bfloat16 products
are emulated and slower, so ``"auto"`` keeps float32 there.

Training always runs in float32 (``ThreeDLLM.from_pretrained`` loads float32); only inference
paths (the planner, ``nav3d eval-planner``) choose.
"""

from __future__ import annotations

import torch

POINT_DTYPES = ("auto", "float32", "bfloat16")
"""Choices for the point-sized parts' type: ``auto`` = bfloat16 where native, else float32."""


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: CUDA with bf16 support, or a CPU
    with AMX tiles (as torch reports it; False where this torch cannot tell)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        has_amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool(has_amx()) if callable(has_amx) else False
    return False


def resolve_point_dtype(choice: str, device: torch.device | str) -> torch.dtype:
    """The dtype for ``choice`` (one of :data:`POINT_DTYPES`) on ``device``."""
    if choice not in POINT_DTYPES:
        raise ValueError(f"point dtype must be one of {POINT_DTYPES}, got {choice!r}")
    if choice == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    return getattr(torch, choice)
