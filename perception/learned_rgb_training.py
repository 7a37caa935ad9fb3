"""Training the learned RGB extractor, and its per-pixel top-1 category accuracy on held-out frames.

Loss, per sampled pixel with predicted unit feature f, category table T (K, D) and true category y::

    cross_entropy(s * f @ T.T, y) + cosine_weight * (1 - f @ T[y])

with a learned scale ``s`` (initially ``initial_logit_scale``, at most 100). The first term makes the
true category the nearest embedding; the second keeps the feature close to that embedding itself, so
text queries other than the category names (synonyms, phrases) rank pixels as they do for
``SemanticTextExtractor``. Each step takes ``batch_size`` frames (flipped left-right at random) and
``pixels_per_frame`` random pixels of each, uniformly or favouring rare categories (``class_balance``),
where ``LearnedRGBNet.sample_features`` gives the exact full-resolution features; unlabelled pixels
are ignored. AdamW, linear warm-up then cosine decay. Everything random is drawn from ``seed``, so a
run is repeatable on the same machine and torch thread count (on a CPU shared with other jobs, use one
thread: more can be several times slower).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perception.learned_rgb import LearnedRGBExtractor
from perception.learned_rgb_data import IGNORE_LABEL, FrameSet

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings (see the module docstring for the loss)."""

    epochs: int = 7
    batch_size: int = 16
    pixels_per_frame: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    cosine_weight: float = 0.25
    class_balance: float = 0.5
    """Pixels are drawn with probability proportional to (their category's share of the batch's
    pixels) ** -class_balance: 0 samples uniformly, 1 gives every category present equal weight."""
    initial_logit_scale: float = 10.0
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "pixels_per_frame"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainingConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.cosine_weight < 0 or self.initial_logit_scale <= 0:
            raise ValueError("TrainingConfig: learning_rate and initial_logit_scale must be > 0, weight_decay and cosine_weight >= 0")
        if not 0.0 <= self.class_balance <= 1.0:
            raise ValueError(f"TrainingConfig.class_balance must be in [0, 1], got {self.class_balance}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"TrainingConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")


@dataclass
class TrainingResult:
    """The trained extractor, the loss of every step and the optimisation wall time (seconds)."""

    extractor: LearnedRGBExtractor
    losses: list[float]
    wall_time_s: float
    logit_scale: float


def train_learned_rgb(
    extractor: LearnedRGBExtractor,
    frames: FrameSet,
    config: TrainingConfig = TrainingConfig(),
    progress: bool = False,
    checkpoint: str | Path | None = None,
) -> TrainingResult:
    """Train ``extractor``'s network in place on ``frames`` (targets index ``frames.vocabulary``, which
    must be the extractor's). With ``checkpoint`` a folder, the extractor is saved there (atomically)
    after every epoch. Frame sides must be multiples of 16."""
    import torch
    from torch.nn import functional as F

    if tuple(frames.vocabulary) != tuple(extractor.vocabulary):
        raise ValueError("the frames' vocabulary differs from the extractor's; render the frames with the extractor's vocabulary")
    n, h, w = frames.labels.shape
    if n == 0 or h % 16 or w % 16:
        raise ValueError(f"training needs frames whose sides are multiples of 16 pixels, got {n} frames of {h}x{w}")
    batch = min(config.batch_size, n)
    steps_per_epoch = max(1, n // batch)
    total = steps_per_epoch * config.epochs
    warmup = int(config.warmup_fraction * total)

    net = extractor.network
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        rgb_all = torch.from_numpy(frames.rgb).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8, a view
        labels_all = torch.from_numpy(frames.labels)  # (N, H, W) int16
        table = torch.from_numpy(extractor.text_table)  # (K, D)
        log_scale = torch.nn.Parameter(torch.tensor(math.log(config.initial_logit_scale)))
        decay = [p for p in net.parameters() if p.ndim > 1]
        no_decay = [p for p in net.parameters() if p.ndim <= 1] + [log_scale]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, warmup, total))
        losses: list[float] = []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr)
        t0 = time.perf_counter()
        net.train()
        running_acc = None
        try:
            for epoch in range(config.epochs):
                order = torch.randperm(n, generator=generator)
                for step in range(steps_per_epoch):
                    index = order[step * batch : (step + 1) * batch]
                    x = rgb_all[index].float() / 255.0  # (B, 3, H, W)
                    y = labels_all[index].long()  # (B, H, W)
                    if config.flip:
                        flip = torch.rand(len(index), generator=generator) < 0.5
                        x[flip] = x[flip].flip(-1)
                        y[flip] = y[flip].flip(-1)
                    pixels = _sample_pixels(y, config.pixels_per_frame, config.class_balance, generator)  # (B, P) flat
                    rows, cols = pixels // w, pixels % w
                    target = y[torch.arange(len(index))[:, None], rows, cols]  # (B, P)
                    features = net.sample_features(x, torch.stack([rows, cols], -1))  # (B, P, D) unit
                    cosine = features @ table.T  # (B, P, K)
                    scale = log_scale.exp().clamp(max=100.0)
                    valid = target != IGNORE_LABEL  # (B, P)
                    if not bool(valid.any()):
                        continue
                    cosine, target = cosine[valid], target[valid]  # (M, K), (M,)
                    true_cosine = cosine.gather(1, target[:, None])[:, 0]  # (M,)
                    loss = F.cross_entropy(scale * cosine, target) + config.cosine_weight * (1.0 - true_cosine).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    losses.append(float(loss.detach()))
                    if bar is not None:
                        acc = float((cosine.argmax(1) == target).float().mean())
                        running_acc = acc if running_acc is None else 0.9 * running_acc + 0.1 * acc
                        bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}", pixel_acc=f"{running_acc:.3f}")
                        bar.update(1)
                if checkpoint is not None:
                    net.eval()
                    extractor.save_pretrained(checkpoint)
                    net.train()
        finally:
            net.eval()
            if bar is not None:
                bar.close()
    return TrainingResult(extractor, losses, time.perf_counter() - t0, float(log_scale.detach().exp().clamp(max=100.0)))


def _sample_pixels(labels: "torch.Tensor", count: int, balance: float, generator: "torch.Generator") -> "torch.Tensor":
    """(B, P) flat pixel indices of (B, H, W) labels: uniform, or weighted by category rarity (``class_balance``)."""
    import torch

    b = labels.shape[0]
    flat = labels.reshape(b, -1)  # (B, H*W)
    if balance == 0.0:
        return torch.randint(0, flat.shape[1], (b, count), generator=generator)
    valid = flat != IGNORE_LABEL
    share = torch.bincount(flat[valid], minlength=int(flat.max()) + 1).float() / max(1, int(valid.sum()))  # (K,)
    weights = torch.where(valid, share[flat.clamp(min=0)].clamp(min=1e-12) ** -balance, torch.zeros(()))  # (B, H*W)
    weights[weights.sum(1) == 0] = 1.0  # a frame without labels: uniform (its pixels are ignored)
    return torch.multinomial(weights, count, replacement=True, generator=generator)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ------------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class AccuracyReport:
    """Per-pixel top-1 category accuracy of an extractor on labelled pixels.

    - ``accuracy``: share of labelled pixels whose nearest category embedding is their true category.
    - ``mean_class_accuracy``: the mean over categories present of each one's pixel accuracy.
    - ``chance``: 1 / K, a uniform guess over the extractor's K categories.
    - ``majority_rate``: the share of the most frequent category (``majority_category``): the accuracy
      of always answering it.
    - ``per_class``: category -> (pixels, accuracy), most frequent first.
    """

    pixels: int
    frames: int
    houses: tuple[int, ...]
    accuracy: float
    mean_class_accuracy: float
    chance: float
    majority_category: str
    majority_rate: float
    per_class: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["houses"] = list(self.houses)
        data["per_class"] = {k: {"pixels": p, "accuracy": a} for k, (p, a) in self.per_class.items()}
        return data


def evaluate_accuracy(extractor: LearnedRGBExtractor, frames: FrameSet, batch_size: int = 16, progress: bool = False) -> AccuracyReport:
    """Per-pixel top-1 accuracy of ``extractor.classify`` on ``frames``' labelled pixels.

    Targets are matched to the extractor's vocabulary by name; a category it does not know counts as
    wrong on every pixel. Raises ``ValueError`` when no pixel is labelled.
    """
    known = {name: i for i, name in enumerate(extractor.vocabulary)}
    to_extractor = np.array([known.get(name, -2) for name in frames.vocabulary] + [IGNORE_LABEL], dtype=np.int64)  # label -1 -> -1
    k = len(frames.vocabulary)
    correct = np.zeros(k, dtype=np.int64)
    counts = np.zeros(k, dtype=np.int64)
    starts = range(0, len(frames), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="evaluating", unit="batch", file=sys.stderr)
    for start in starts:
        labels = frames.labels[start : start + batch_size].astype(np.int64)  # (B, H, W)
        predicted = extractor.classify_batch(frames.rgb[start : start + batch_size])  # (B, H, W)
        valid = labels != IGNORE_LABEL
        truth = labels[valid]
        hit = predicted[valid] == to_extractor[truth]
        counts += np.bincount(truth, minlength=k)
        correct += np.bincount(truth, weights=hit, minlength=k).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("no labelled pixel to evaluate on")
    present = np.flatnonzero(counts)
    order = present[np.argsort(-counts[present], kind="stable")]
    per_class = {frames.vocabulary[i]: (int(counts[i]), float(correct[i] / counts[i])) for i in order}
    return AccuracyReport(
        pixels=total,
        frames=len(frames),
        houses=tuple(int(h) for h in dict.fromkeys(frames.houses.tolist())),
        accuracy=float(correct.sum() / total),
        mean_class_accuracy=float(np.mean([correct[i] / counts[i] for i in present])),
        chance=1.0 / len(extractor.vocabulary),
        majority_category=frames.vocabulary[int(order[0])],
        majority_rate=float(counts[order[0]] / total),
        per_class=per_class,
    )
