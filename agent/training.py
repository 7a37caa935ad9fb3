"""Training the 3D-LLM on a 3D-language dataset (``agent.language_dataset``): ``train(TrainConfig)``.

One optimiser step = ``grad_accum`` micro-batches of ``batch_size`` records. AdamW (no weight decay on
biases, norms and other 1-d parameters), learning rate with linear warmup over ``warmup`` steps and a
cosine decay to ``min_lr_ratio * lr`` at ``steps``; the rate is a pure function of the step, so there
is no scheduler state to save. Gradients are clipped to ``grad_clip`` (global L2 norm). Mixed
precision (``TrainConfig.precision``): bf16 autocast, or fp16 autocast with a gradient scaler on CUDA.

Under ``torchrun`` / ``accelerate launch`` (``agent.distributed``) the run is data-parallel
(DistributedDataParallel; gloo on the CPU, NCCL on CUDA) and does the same optimisation as one
process: a step still takes ``batch_size * grad_accum`` records, each of the W processes takes a
contiguous share (``batch_size / W``) of every micro-batch, each share's loss is weighted by its
share of the micro-batch's answer tokens, and the gradients are all-reduced once a step (``no_sync``
on the other micro-batches). So the loss curve matches a one-process run up to rounding, and a
checkpoint resumes with any number of processes. Rank 0 writes the tokenizer, the log and the
checkpoints and shows the progress bar; the others wait for it at barriers. Validation is shared
between the processes and all-reduced.

Data order is a pure function of the seed and the step: sample ``i`` of the stream is record
``perm_e[i mod n]`` of epoch ``e = i // n``, with ``perm_e`` a permutation drawn from a generator
seeded by ``(seed, e)``. Together with the saved optimiser state and RNG state a resumed run takes
the same batches and the same updates as an uninterrupted one.

Output folder ``out_dir``::

    tokenizer/                 trained on the training prompts + answers when missing, reused after
                               (none with init_from: the saved model's tokenizer is used)
    checkpoint-last/           ThreeDLLM.save_pretrained folder (loads with ThreeDLLM.from_pretrained)
        trainer_state.json     step, config, last losses, data info
        optimizer.pt           AdamW state (tensors, numbers and lists only: torch.load(weights_only=True))
        rng_state.pt           torch CPU (and CUDA) RNG state
        grad_scaler.pt         with fp16 mixed precision: the gradient scaler's state
    training_log.jsonl         one JSON object a line: {"step", "loss", "lr", "tokens_per_s", ...}
                               ("pointer_loss" with --pointer-target-weight) and {"step",
                               "val_loss"} at evaluations; tokens = attended
                               positions (the K scene slots included)

The checkpoint folder is written beside its target and renamed into place, so a crash leaves either
the previous checkpoint or the new one. On resume the log is cut back to the checkpoint's step.

Each scene's points are normalised by that record's own location codec (``bounds`` of
``ThreeDLLM.forward``), so location tokens and positions share one frame per scene.

``TrainConfig.waypoint_format="numbers"`` (``nav3d train --waypoint-format numbers``, the ablation of
location tokens): records are loaded with their locations written as text numbers in metres
(``agent.waypoint_format``), the model has the LM head alone, and its ``config.json`` records the
format as ``map_data["waypoint_format"]``, which the planner and ``nav3d eval-planner`` read.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.distributed import SINGLE, Launch, all_reduce_sum, barrier, launch_device, launch_from_env, process_group, rank_part
from agent.language_dataset import read_records
from agent.llm3d import IGNORE, SmallLlama, ThreeDLLM, ThreeDLLMConfig, _write_folder_atomically
from agent.location_codec import LocationCodec
from agent.location_pointer import PointerConfig
from agent.pointer_targets import record_point_masks
from agent.scene_encoder import SceneEncoderConfig, pad_scenes
from agent.threads import cpu_threads
from agent.train_config import ORDER_DEFAULTS, ORDER_FIELDS, PRESETS, TrainConfig
from agent.waypoint_format import MAP_DATA_KEY, check_waypoint_format, tokens_to_numbers
from envs.files import atomic_write_text, writable_folder

CHECKPOINT_DIR = "checkpoint-last"
TOKENIZER_DIR = "tokenizer"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng_state.pt"
SCALER_FILE = "grad_scaler.pt"
LOG_FILE = "training_log.jsonl"
STATE_FORMAT = "nav3d-train-state"
PHRASE_SCALE = 4.0
"""Initial scale of the phrase-pointer's prior (on standardised cosines): a target point 2.5
deviations above the scene's mean weighs e^10 (about 22,000) times a typical point."""

@dataclass
class TrainSummary:
    """What ``train`` did: steps ``start_step`` -> ``step``, the per-step training losses of this run,
    the last validation loss (None without val data), throughput and where the checkpoint is."""

    out_dir: Path
    checkpoint: Path
    start_step: int
    step: int
    losses: list[float]
    val_loss: float | None
    tokens_per_s: float
    steps_per_s: float
    seconds: float
    parameters: int
    device: str
    log: Path = field(default_factory=Path)
    rank: int = 0
    world_size: int = 1


# -- data -----------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One record ready for batching: its scene's arrays (shared with other records of the scene)."""

    prompt: str
    answer: str
    points: np.ndarray  # (N, 3) float32 metres
    features: np.ndarray  # (N, C) float32
    bounds: np.ndarray  # (2, 3) float32 lower/upper metres, the record's codec
    step_masks: np.ndarray | None = None  # (S, N) bool: the points each answer step refers to (agent.pointer_targets)


class LanguageRecords:
    """The records of one split file with their scene maps (each map file read once, features to float32).

    ``waypoint_format`` "numbers" (``agent.waypoint_format``) writes the location tokens of every
    prompt and answer as text numbers in metres (each record's codec); "tokens" keeps them."""

    def __init__(
        self, data_dir: str | Path, split: str, cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, waypoint_format: str = "tokens"
    ) -> None:
        self.data_dir = Path(data_dir)
        self.split = split
        self.waypoint_format = check_waypoint_format(waypoint_format)
        records = read_records(self.data_dir / f"{split}.jsonl")
        missing = sorted({r["map"] for r in records if not (self.data_dir / r["map"]).is_file()})
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise FileNotFoundError(
                f"{split}.jsonl in {self.data_dir} refers to map file(s) that do not exist: {shown}; "
                f"regenerate the dataset with `nav3d language-data --out {self.data_dir}` (it rebuilds missing maps)"
            )
        self._maps = cache if cache is not None else {}
        self.samples: list[Sample] = []
        dims = set()
        bins = set()
        for r in records:
            points, features = self._map(r["map"])
            codec = LocationCodec.from_dict(r["codec"])
            dims.add(features.shape[1])
            bins.add(codec.bins)
            bounds = np.asarray([codec.lower, codec.upper], dtype=np.float32)  # (2, 3)
            prompt, answer = r["prompt"], r["answer"]
            if self.waypoint_format == "numbers":
                prompt, answer = tokens_to_numbers(prompt, codec), tokens_to_numbers(answer, codec)
            masks = record_point_masks(r["task"], r.get("meta"), points)
            self.samples.append(Sample(prompt, answer, points, features, bounds, masks))
        if len(dims) > 1 or len(bins) > 1:
            raise ValueError(
                f"{split}.jsonl in {self.data_dir} mixes feature sizes {sorted(dims)} or location bins {sorted(bins)}; "
                f"all maps and records of a dataset must share them"
            )
        self.feature_dim = dims.pop() if dims else None
        self.bins = bins.pop() if bins else None

    def _map(self, rel: str) -> tuple[np.ndarray, np.ndarray]:
        if rel not in self._maps:
            path = self.data_dir / rel
            try:
                with np.load(path, allow_pickle=False) as data:
                    points = np.ascontiguousarray(data["points"], dtype=np.float32)  # (N, 3)
                    features = np.ascontiguousarray(data["features"], dtype=np.float32)  # (N, C)
            except (ValueError, KeyError, OSError) as exc:
                raise ValueError(f"{str(path)!r} is not a nav3d scene features file ({type(exc).__name__}: {exc}); rebuild it") from exc
            self._maps[rel] = (points, features)
        return self._maps[rel]

    def __len__(self) -> int:
        return len(self.samples)

    def texts(self) -> list[str]:
        """Prompts and answers, for training a tokenizer."""
        return [t for s in self.samples for t in (s.prompt, s.answer)]

    def batch(self, indices: list[int], device: torch.device | str) -> dict[str, Any]:
        """Model inputs of the records ``indices``: points (B, N, 3), features (B, N, C), point_mask (B, N),
        bounds (B, 2, 3), prompts, answers (N = the largest scene of the batch, others padded), step_masks
        (per record an (S, N_r) bool array or None)."""
        chosen = [self.samples[i] for i in indices]
        points, features, mask = pad_scenes([(s.points, s.features) for s in chosen], device)
        bounds = torch.as_tensor(np.stack([s.bounds for s in chosen]), device=device)  # (B, 2, 3)
        return {
            "points": points,
            "features": features,
            "point_mask": mask,
            "bounds": bounds,
            "prompts": [s.prompt for s in chosen],
            "answers": [s.answer for s in chosen],
            "step_masks": [s.step_masks for s in chosen],
        }


def sample_indices(seed: int, n: int, start: int, count: int) -> list[int]:
    """Record indices ``start .. start + count - 1`` of the seeded stream of epoch permutations of ``n`` records."""
    out: list[int] = []
    i = start
    while len(out) < count:
        epoch, offset = divmod(i, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
        take = min(count - len(out), n - offset)
        out.extend(perm[offset : offset + take])
        i += take
    return out


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warmup, then cosine to ``min_lr_ratio * lr``."""
    if config.warmup and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


# -- model and checkpoints ------------------------------------------------------------------------


def model_config(
    preset: str,
    feature_dim: int,
    codec: LocationCodec,
    location_smoothing: float = 1.0,
    map_data: dict[str, Any] | None = None,
    location_head: str = "pointer",
    waypoint_format: str = "tokens",
    pointer_condition: str = "x",
) -> ThreeDLLMConfig:
    """The ``ThreeDLLMConfig`` of a preset for ``feature_dim``-channel maps; ``codec`` gives the bins
    and the default bounds (the per-record bounds are used in training); ``map_data`` how the
    dataset's maps were made (``dataset_map_data``); ``location_head`` one of ``LOCATION_HEADS``
    (``TrainConfig.location_head``; "lm" drops the preset's local-context layers, which feed the
    pointer's keys, so it builds the shipped checkpoint's architecture); ``waypoint_format`` "numbers" is recorded as
    ``map_data["waypoint_format"]`` (``agent.waypoint_format``; "tokens" leaves ``map_data`` as it is);
    ``pointer_condition`` the pointer's ``PointerConfig.condition_on``. Multiview data (image tokens,
    no world points) needs ``location_head`` "lm"."""
    if check_waypoint_format(waypoint_format) == "numbers":
        if location_head != "lm":
            raise ValueError("the pointer location head writes location tokens; a waypoint_format='numbers' model needs location_head='lm'")
        map_data = {**(map_data or {}), MAP_DATA_KEY: waypoint_format}
    if (map_data or {}).get("construction") == "multiview" and location_head != "lm":
        raise ValueError(
            f"the {location_head!r} location head points at map points, and multiview data has image tokens, not world points: "
            "train the 2D baseline with --location-head lm"
        )
    sizes = PRESETS[preset]
    encoder_sizes = dict(sizes["encoder"])
    if location_head == "lm":  # the local context serves the pointer's keys; the LM head reads the queries alone
        encoder_sizes["context_layers"] = 0
    encoder = SceneEncoderConfig(feature_dim=feature_dim, **encoder_sizes)
    pointer = {
        "pointer": PointerConfig(condition_on=pointer_condition),
        "phrase-pointer": PointerConfig(phrase_scale=PHRASE_SCALE, condition_on=pointer_condition),
        "lm": None,
    }[location_head]
    return ThreeDLLMConfig(encoder, codec, SmallLlama(**sizes["lm"]), location_smoothing, map_data, pointer)


def dataset_map_data(data_dir: str | Path) -> dict[str, Any] | None:
    """How the maps of a dataset were made, from its ``dataset.json`` (construction, points per map,
    codec margin in metres, the map config, the feature extractor); None without the file."""
    path = Path(data_dir) / "dataset.json"
    if not path.is_file():
        return None
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
        exploration = header["exploration"]
        return {
            "construction": header["construction"],
            "points": int(header["points"]),
            "codec_margin": float(exploration["codec_margin"]),
            "map": exploration["map"],
            "extractor": "semantic-text",
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a nav3d dataset header ({type(exc).__name__}: {exc}); regenerate it with nav3d language-data") from exc


def _default_codec(records: LanguageRecords) -> LocationCodec:
    """The codec over the union of the training records' bounds."""
    bounds = np.stack([s.bounds for s in records.samples])  # (R, 2, 3)
    return LocationCodec(tuple(bounds[:, 0].min(0).tolist()), tuple(bounds[:, 1].max(0).tolist()), records.bins)


def _tokenizer(out: Path, records: LanguageRecords, vocab_size: int):
    from transformers import AutoTokenizer

    from agent.tokenizer import check_tokenizer, train_tokenizer

    folder = out / TOKENIZER_DIR
    if folder.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        try:
            check_tokenizer(tokenizer, records.bins)
        except ValueError as exc:
            raise ValueError(f"the tokenizer in {folder} does not fit the data ({exc}); delete it to train a new one") from exc
        return tokenizer
    tokenizer = train_tokenizer(records.texts(), vocab_size=vocab_size, location_bins=records.bins)
    _write_folder_atomically(folder, lambda tmp: tokenizer.save_pretrained(str(tmp)))
    return tokenizer


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def save_checkpoint(folder: Path, model: ThreeDLLM, optimizer: torch.optim.Optimizer, state: dict[str, Any], scaler: Any = None) -> Path:
    """Write model, optimiser state, RNG state, the fp16 gradient scaler's state (when given) and
    ``trainer_state.json`` to ``folder`` atomically."""

    from transformers.utils import logging as hf_logging

    def write(tmp: Path) -> None:
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar inside the training bar
        try:
            model.save_pretrained(tmp)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / RNG_FILE)
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / SCALER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    return _write_folder_atomically(folder, write)


def read_trainer_state(folder: str | Path) -> dict[str, Any]:
    """The ``trainer_state.json`` of a checkpoint folder (FileNotFoundError / ValueError naming it)."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {folder} ({STATE_FILE} missing); start without --resume")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg}); delete the checkpoint to start over") from exc
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a nav3d trainer state (format {state.get('format')!r})")
    return state


def _cut_log(path: Path, step: int) -> None:
    """Keep the log lines of steps <= ``step`` (a resumed run rewrites what came after its checkpoint)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
        if isinstance(entry, dict) and entry.get("step", 0) <= step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


# -- the loop -------------------------------------------------------------------------------------


def _resolve_device(config: TrainConfig) -> torch.device:
    if config.device is not None:
        device = torch.device(config.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {config.device!r} was asked for but CUDA is not available; leave device unset for the CPU")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def evaluate(
    model: ThreeDLLM, records: LanguageRecords, batch_size: int, limit: int, device: torch.device, autocast: Any, launch: Launch = SINGLE
) -> float | None:
    """Mean cross-entropy per answer token over the first ``limit`` records (None when there are none);
    under a launch each process scores every ``world_size``-th batch and the sums are all-reduced."""
    n = min(limit, len(records))
    if n == 0:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(launch.rank * batch_size, n, batch_size * launch.world_size):
            batch = records.batch(list(range(start, min(n, start + batch_size))), device)
            with autocast():
                out = model(**batch)
            tokens = int((out.batch.labels[:, 1:] != IGNORE).sum())
            total += float(out.loss) * tokens
            count += tokens
    finally:
        model.train(was_training)
    total, count = all_reduce_sum([total, count], launch, device)
    return total / max(count, 1)


def train(config: TrainConfig) -> TrainSummary:
    """Train (or, with ``config.resume``, continue training) a 3D-LLM; see the module docstring.

    Under ``torchrun`` / ``accelerate launch`` (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` set) each
    process calls this and the run is data-parallel (see the module docstring).

    Raises FileNotFoundError for a missing data folder, ``train.jsonl`` or map file, ValueError for
    bad or mismatched data (feature size different from the checkpoint's) or settings (fp16 without
    CUDA, fewer records per micro-batch than processes) and PermissionError for an output folder
    that cannot be written.
    """
    data_dir = Path(config.data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {str(data_dir)!r} does not exist; write one with `nav3d language-data --out {data_dir}`")
    if not (data_dir / "train.jsonl").is_file():
        raise FileNotFoundError(f"{str(data_dir)!r} has no train.jsonl; give a folder written by `nav3d language-data`")
    out = writable_folder(config.out_dir, "--out")
    checkpoint = out / CHECKPOINT_DIR
    if checkpoint.exists() and not config.resume:
        raise ValueError(f"{checkpoint} already exists; pass --resume (resume=True) to continue it, or choose another --out")
    launch = launch_from_env()
    if config.batch_size < launch.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} is smaller than the {launch.world_size} processes launched; "
            f"each process takes a share of every micro-batch, so raise --batch-size or launch fewer processes"
        )
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    train_data = LanguageRecords(data_dir, "train", cache, config.waypoint_format)
    if len(train_data) == 0:
        raise ValueError(f"{data_dir / 'train.jsonl'} holds no records; generate data with more training houses")
    val_data = LanguageRecords(data_dir, "val", cache, config.waypoint_format) if (data_dir / "val.jsonl").is_file() else None
    if val_data is not None and len(val_data) and (val_data.feature_dim, val_data.bins) != (train_data.feature_dim, train_data.bins):
        raise ValueError(f"val.jsonl in {data_dir} has {val_data.feature_dim}-d features / {val_data.bins} bins, train.jsonl {train_data.feature_dim}-d / {train_data.bins}")
    device = launch_device(launch, _resolve_device(config))
    precision = config.precision(device.type)
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{device} does not support bfloat16; use --mixed-precision fp16 or no")

    def autocast():
        return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16, enabled=precision != "no")

    with cpu_threads(config.threads), torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []), process_group(launch, device):
        return _run(config, train_data, val_data, out, checkpoint, device, precision, autocast, launch)


def _saved_model(folder: Path, records: LanguageRecords, device: torch.device, verb: str) -> ThreeDLLM:
    """The model saved in ``folder`` (a checkpoint to resume, or ``TrainConfig.init_from``), checked against the data."""
    try:
        model = ThreeDLLM.from_pretrained(folder, feature_dim=records.feature_dim, device=device)
    except ValueError as exc:
        raise ValueError(f"cannot {verb} {folder}: {exc}") from exc
    if model.config.bins != records.bins:
        raise ValueError(f"{folder} uses {model.config.bins} location bins but the data {records.bins}; make the data with --bins {model.config.bins}")
    return model.train()


def _shared_tokenizer(out: Path, records: LanguageRecords, vocab_size: int, launch: Launch):
    """``_tokenizer``, written by rank 0 first and then read by the other processes."""
    if not launch.is_main:
        barrier(launch)
    tokenizer = _tokenizer(out, records, vocab_size)
    if launch.is_main:
        barrier(launch)
    return tokenizer


def _data_parallel(model: ThreeDLLM, launch: Launch, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel under a launch (which gives every process rank 0's weights), else
    ``model``. Parameters a micro-batch leaves unused (the location pointer without location answers)
    are looked for each step, so that every process still takes part in every gradient all-reduce."""
    if not launch.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)


def _micro_step(
    net: torch.nn.Module, batch: dict[str, Any], autocast: Any, grad_accum: int, scaler: Any, launch: Launch, device: torch.device, pointer_weight: float = 0.0
) -> tuple[float, int, float | None]:
    """Forward and backward of this process's share of one micro-batch; the micro-batch's answer loss,
    attended tokens over all processes and this process's pointer-target loss (None without one).
    Each share's answer loss is weighted by its share of the answer tokens, so the averaged gradient is
    that of the whole micro-batch's token-mean loss (as in one process); the pointer-target loss,
    ``pointer_weight`` times it, is a mean over each process's steps."""
    with autocast():
        output = net(**batch)
    labelled = int((output.batch.labels[:, 1:] != IGNORE).sum())
    loss = float(output.loss.detach())
    all_labelled, loss_sum, tokens = all_reduce_sum([labelled, loss * labelled, int(output.batch.attention_mask.sum())], launch, device)
    scaled = output.loss * (labelled * launch.world_size / max(all_labelled, 1)) / grad_accum
    pointer = output.pointer_loss if pointer_weight > 0 else None
    if pointer is not None:
        scaled = scaled + pointer_weight * pointer / grad_accum
    (scaler.scale(scaled) if scaler is not None else scaled).backward()
    return loss_sum / max(all_labelled, 1), int(tokens), None if pointer is None else float(pointer.detach())


def _optimizer_step(model: ThreeDLLM, optimizer: torch.optim.Optimizer, scaler: Any, grad_clip: float) -> None:
    """Clip the (unscaled) gradients, step and clear them."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _run(config, train_data, val_data, out, checkpoint, device, precision, autocast, launch) -> TrainSummary:
    from tqdm import tqdm

    log_path = out / LOG_FILE
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    if config.resume and checkpoint.exists():
        state = read_trainer_state(checkpoint)
        saved = {**ORDER_DEFAULTS, **state["config"]}
        different = [k for k in ORDER_FIELDS if saved.get(k) != getattr(config, k)]
        if different:
            detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r}, now {getattr(config, k)!r}" for k in different)
            raise ValueError(f"cannot resume {checkpoint} with other settings ({detail}); use the checkpoint's settings or another --out")
        model = _saved_model(checkpoint, train_data, device, "resume from")
        optimizer = torch.optim.AdamW(_parameter_groups(model, config.weight_decay), lr=config.lr)
        optimizer.load_state_dict(torch.load(checkpoint / OPTIMIZER_FILE, map_location=device, weights_only=True))
        if scaler is not None and (checkpoint / SCALER_FILE).is_file():
            scaler.load_state_dict(torch.load(checkpoint / SCALER_FILE, weights_only=True))
        rng = torch.load(checkpoint / RNG_FILE, weights_only=True)
        torch.set_rng_state(rng["cpu"])
        if device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state_all(rng["cuda"])
        start = int(state["step"])
        if launch.is_main:
            _cut_log(log_path, start)
    else:
        torch.manual_seed(config.seed)
        if config.init_from is not None:
            if not (Path(config.init_from) / "config.json").is_file():
                raise FileNotFoundError(f"--init-from {config.init_from}: no ThreeDLLM there (config.json missing); give a save_pretrained folder")
            model = _saved_model(Path(config.init_from), train_data, device, "start from")
        else:
            tokenizer = _shared_tokenizer(out, train_data, PRESETS[config.preset]["vocab_size"], launch)
            codec = _default_codec(train_data)
            model_cfg = model_config(
                config.preset, train_data.feature_dim, codec, config.location_smoothing, dataset_map_data(config.data_dir), config.location_head,
                config.waypoint_format, config.pointer_condition,
            )
            model = ThreeDLLM(model_cfg, tokenizer, seed=config.seed).to(device).train()
        optimizer = torch.optim.AdamW(_parameter_groups(model, config.weight_decay), lr=config.lr)
        start = 0
        if launch.is_main and log_path.exists():
            log_path.unlink()
    net = _data_parallel(model, launch, device)
    parameters = model.parameter_count()["total"]
    n = len(train_data)
    per_step = config.batch_size * config.grad_accum
    losses: list[float] = []
    val_loss = None
    tokens_total, busy = 0, 0.0
    end = config.steps if config.stop_at is None else max(start, min(config.steps, config.stop_at))
    t_run = time.perf_counter()

    def state_dict(step: int) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "step": step,
            "config": config.to_dict(),
            "train_records": n,
            "feature_dim": train_data.feature_dim,
            "bins": train_data.bins,
            "parameters": parameters,
            "last_loss": losses[-1] if losses else None,
            "val_loss": val_loss,
            "world_size": launch.world_size,
        }

    bar = tqdm(total=config.steps, initial=start, desc="train", unit="step", file=sys.stderr, disable=not (config.progress and launch.is_main))
    log = open(log_path if launch.is_main else os.devnull, "a", encoding="utf-8")
    try:
        step = start
        for step in range(start, end):
            t0 = time.perf_counter()
            lr = learning_rate(config, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            indices = sample_indices(config.seed, n, step * per_step, per_step)
            loss_sum, tokens, pointer_losses = 0.0, 0, []
            for micro in range(config.grad_accum):
                batch = train_data.batch(rank_part(indices[micro * config.batch_size : (micro + 1) * config.batch_size], launch), device)
                accumulate = launch.distributed and micro < config.grad_accum - 1  # gradients all-reduced once a step
                with net.no_sync() if accumulate else nullcontext():
                    micro_loss, micro_tokens, pointer_loss = _micro_step(
                        net, batch, autocast, config.grad_accum, scaler, launch, device, config.pointer_target_weight
                    )
                if pointer_loss is not None:
                    pointer_losses.append(pointer_loss)
                loss_sum += micro_loss
                tokens += micro_tokens
            _optimizer_step(model, optimizer, scaler, config.grad_clip)
            loss = loss_sum / config.grad_accum
            if not math.isfinite(loss):
                raise ValueError(f"the training loss became {loss} at step {step + 1}; lower --lr or raise --warmup")
            seconds = time.perf_counter() - t0
            busy += seconds
            tokens_total += tokens
            losses.append(loss)
            done = step + 1
            tps = tokens / max(seconds, 1e-9)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:.0f}", refresh=False)
            bar.update(1)
            if config.log_every and (done % config.log_every == 0 or done == end):
                entry = {"step": done, "loss": round(loss, 6), "lr": lr, "tokens_per_s": round(tps, 1), "seconds": round(seconds, 4)}
                if pointer_losses:  # this process's, averaged over the step's micro-batches that had one
                    entry["pointer_loss"] = round(sum(pointer_losses) / len(pointer_losses), 6)
                log.write(json.dumps(entry) + "\n")
                log.flush()
            if val_data is not None and (done == end or (config.eval_every and done % config.eval_every == 0)):
                val_loss = evaluate(model, val_data, config.batch_size, config.eval_samples, device, autocast, launch)
                if val_loss is not None:
                    log.write(json.dumps({"step": done, "val_loss": round(val_loss, 6)}) + "\n")
                    log.flush()
                    if launch.is_main:
                        bar.write(f"step {done}: val loss {val_loss:.4f}")
            if done == end or (config.checkpoint_every and done % config.checkpoint_every == 0):
                if launch.is_main:
                    save_checkpoint(checkpoint, model, optimizer, state_dict(done), scaler)
                barrier(launch)
        if start >= end:  # nothing to train: make sure there is a checkpoint
            if launch.is_main and not checkpoint.exists():
                save_checkpoint(checkpoint, model, optimizer, state_dict(start), scaler)
            barrier(launch)
    finally:
        log.close()
        bar.close()
    steps_run = end - start
    return TrainSummary(
        out_dir=out,
        checkpoint=checkpoint,
        start_step=start,
        step=end,
        losses=losses,
        val_loss=val_loss,
        tokens_per_s=tokens_total / busy if busy else 0.0,
        steps_per_s=steps_run / busy if busy else 0.0,
        seconds=time.perf_counter() - t_run,
        parameters=parameters,
        device=str(device),
        log=log_path,
        rank=launch.rank,
        world_size=launch.world_size,
    )
