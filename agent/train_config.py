"""Settings of a 3D-LLM training run (``agent.training``) and the model-size presets; no torch import,
so the command line can read the defaults cheaply."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.waypoint_format import WAYPOINT_FORMATS

PRESETS: dict[str, dict[str, Any]] = {
    # for tests and smoke runs: ~0.1M parameters
    "tiny": {
        "encoder": {"dim": 32, "queries": 8, "layers": 1, "heads": 2, "frequencies": 4, "context_layers": 1},
        "lm": {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128, "max_positions": 256},
        "vocab_size": 512,
    },
    # the CPU default: ~7.1M parameters (pointer head and 2 local-context layers included); ~1 step/s at batch 8 with 1024-point maps on one quiet CPU
    # thread, so the default 1800 steps take ~30 minutes
    "cpu-small": {
        "encoder": {"dim": 256, "queries": 32, "layers": 2, "heads": 4, "frequencies": 8, "context_layers": 2},
        "lm": {"hidden": 256, "layers": 4, "heads": 4, "intermediate": 1024, "max_positions": 512},
        "vocab_size": 2048,
    },
    # with a GPU: ~130M parameters, bf16 autocast on CUDA
    "gpu": {
        "encoder": {"dim": 512, "queries": 32, "layers": 4, "heads": 8, "frequencies": 8, "context_layers": 2},
        "lm": {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "max_positions": 1024},
        "vocab_size": 4096,
    },
}
"""Model sizes: scene encoder (``SceneEncoderConfig`` fields), LM (``SmallLlama`` fields), BPE vocabulary."""

LOCATION_HEADS = ("pointer", "phrase-pointer", "lm")
"""The ``TrainConfig.location_head`` choices: location tokens from the pointer over map points mixed
with the LM's (``agent.location_pointer``); the same pointer with the phrase prior (its scores also
get the cosine of each point's map feature to the sentence embedding of the step's phrase, for maps
whose features are sentence embeddings); or the LM's logits alone."""

MIXED_PRECISION = ("no", "bf16", "fp16")
"""The ``TrainConfig.mixed_precision`` choices."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (see the module docstring).

    ``data_dir``: a dataset written by ``write_dataset`` (``train.jsonl``, optional ``val.jsonl``,
    ``maps/``); ``out_dir``: where the tokenizer, checkpoint and log go. ``steps``: optimiser steps
    in all (a resumed run continues to this count); ``batch_size`` records per micro-batch,
    ``grad_accum`` micro-batches per step. ``lr`` peak learning rate, ``warmup`` steps of linear
    warmup, cosine decay to ``min_lr_ratio * lr``. ``eval_every`` / ``checkpoint_every`` / ``log_every``
    in steps (0 = only at the end). ``eval_samples``: validation records used (first ones, fixed).
    ``preset``: a key of ``PRESETS``. ``location_smoothing``: the model's Gaussian width (bins) of
    location-token targets (``ThreeDLLMConfig.location_smoothing``; 0 = one-hot). ``location_head``:
    one of ``LOCATION_HEADS``; None = "pointer", or "lm" with numbers. ``pointer_condition``: the
    pointer's ``PointerConfig.condition_on``. ``pointer_target_weight``: weight of the pointer-target
    loss (``agent.pointer_targets``: the pointer's probability of choosing one of a step's own points,
    from the steps' recorded extents) added to the answer loss; 0 = none. ``waypoint_format``: one of
    ``WAYPOINT_FORMATS`` (``agent.waypoint_format``): "numbers" (an ablation) writes locations as text
    numbers in metres and needs the "lm" head. ``device``: None = CUDA when available, else CPU.
    ``mixed_precision``: "no", "bf16" (autocast) or "fp16" (autocast and a gradient scaler, CUDA only);
    None = ``bf16`` if set (True = "bf16", False = "no"), else bf16 on CUDA with the "gpu" preset
    (``precision``). ``threads``: torch CPU threads during the run
    (restored after). ``resume``: continue from ``out_dir/checkpoint-last`` (a fresh start when there
    is none). ``stop_at``: end this session after that step with a checkpoint (the schedule still runs
    to ``steps``; continue later with ``resume``), e.g. to split a run over time-boxed sessions.
    ``init_from``: a ``ThreeDLLM.save_pretrained`` folder to start from (fine-tuning): its weights,
    architecture and tokenizer replace the preset's fresh model, so ``preset``, ``location_head`` and
    ``pointer_condition`` are not used; None = a fresh model.

    Under ``torchrun`` / ``accelerate launch`` (``agent.distributed``) these are the settings of the
    whole run: each optimiser step still takes ``batch_size * grad_accum`` records, and each of the W
    processes takes its share (``batch_size / W``) of every micro-batch.
    """

    data_dir: str | Path
    out_dir: str | Path
    steps: int = 1800
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 200
    checkpoint_every: int = 200
    log_every: int = 10
    eval_samples: int = 256
    seed: int = 0
    threads: int = 1
    preset: str = "cpu-small"
    location_smoothing: float = 1.0
    location_head: str | None = None
    pointer_condition: str = "x"
    pointer_target_weight: float = 0.0
    waypoint_format: str = "tokens"
    device: str | None = None
    bf16: bool | None = None
    mixed_precision: str | None = None
    resume: bool = False
    stop_at: int | None = None
    init_from: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "threads", "eval_samples")
        non_negative = ("warmup", "eval_every", "checkpoint_every", "log_every", "seed")
        for name in positive + non_negative:
            value = getattr(self, name)
            low = 1 if name in positive else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"TrainConfig.{name} must be an integer >= {low}, got {value!r}")
        for name in ("lr", "weight_decay", "grad_clip", "min_lr_ratio", "location_smoothing", "pointer_target_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"TrainConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.lr <= 0 or self.min_lr_ratio > 1:
            raise ValueError(f"TrainConfig: need lr > 0 and min_lr_ratio <= 1, got lr={self.lr}, min_lr_ratio={self.min_lr_ratio}")
        if self.stop_at is not None and (isinstance(self.stop_at, bool) or not isinstance(self.stop_at, int) or self.stop_at < 1):
            raise ValueError(f"TrainConfig.stop_at must be None or an integer >= 1, got {self.stop_at!r}")
        if self.mixed_precision not in (None, *MIXED_PRECISION):
            raise ValueError(f"TrainConfig.mixed_precision must be None or one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.mixed_precision is not None and self.bf16 is not None and self.bf16 != (self.mixed_precision == "bf16"):
            raise ValueError(f"TrainConfig: bf16={self.bf16} contradicts mixed_precision={self.mixed_precision!r}; set one of them")
        if self.waypoint_format not in WAYPOINT_FORMATS:
            raise ValueError(f"TrainConfig.waypoint_format must be one of {WAYPOINT_FORMATS}, got {self.waypoint_format!r}")
        if self.location_head is None:
            object.__setattr__(self, "location_head", "lm" if self.waypoint_format == "numbers" else "pointer")
        if self.waypoint_format == "numbers" and self.location_head != "lm":
            raise ValueError(
                "the pointer location head writes location tokens, but waypoint_format='numbers' writes locations as text "
                "numbers: use --location-head lm (the default with --waypoint-format numbers)"
            )
        if self.location_head not in LOCATION_HEADS:
            raise ValueError(f"TrainConfig.location_head must be one of {LOCATION_HEADS}, got {self.location_head!r}")
        if self.pointer_condition not in ("", "x", "xy"):
            raise ValueError(f"TrainConfig.pointer_condition must be '', 'x' or 'xy', got {self.pointer_condition!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"TrainConfig.preset must be one of {sorted(PRESETS)}, got {self.preset!r}")

    def precision(self, device_type: str) -> str:
        """The mixed precision ("no", "bf16" or "fp16") of a run on a ``device_type`` ("cpu", "cuda") device."""
        choice = self.mixed_precision or {True: "bf16", False: "no"}.get(self.bf16)  # type: ignore[arg-type]
        if choice is None:
            choice = "bf16" if device_type == "cuda" and self.preset == "gpu" else "no"
        if choice == "fp16" and device_type != "cuda":
            raise ValueError(
                f"fp16 mixed precision needs a CUDA device (its gradient scaler works on CUDA only), not {device_type!r}; "
                f"use --mixed-precision bf16 or no here"
            )
        return choice

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (paths as strings)."""
        data = asdict(self)
        data["data_dir"], data["out_dir"] = str(self.data_dir), str(self.out_dir)
        data["init_from"] = None if self.init_from is None else str(self.init_from)
        return data


ORDER_FIELDS = ("seed", "batch_size", "grad_accum", "preset", "location_smoothing", "location_head", "waypoint_format")
"""Settings a resumed run must share with its checkpoint (they fix the model and the data order)."""
ORDER_DEFAULTS: dict[str, Any] = {"waypoint_format": "tokens"}
"""What a checkpoint written before an ``ORDER_FIELDS`` setting existed had for it."""
