"""Training and evaluation frames for the learned RGB extractor, rendered from generated houses.

Houses are split by seed into two disjoint ranges (``split_houses``): training houses from
``TRAIN_FIRST_SEED`` and held-out houses from ``HELDOUT_FIRST_SEED``, both far from the small seeds
(``house:0``, ``house:1``...) that demos, tests and episode datasets use, so those houses are never
trained on either.

A frame is the ``EmbeddedSimulator``'s view from a uniformly random navigable point of the house's
largest island, a uniformly random heading and, with probability ``tilt_probability``, a camera tilt
drawn uniformly in +-``max_tilt_deg``; the camera is the agent's (``AgentConfig`` sensor height, the
sensor's field of view). Its target is each pixel's category (``Scene.objects[id].category``) as an
index into the vocabulary, -1 where the pixel is unlabelled or its category is not in the vocabulary.
Frames of a house depend only on (``seed``, house seed), not on which other houses are rendered.

Imports the simulator and the house generator inside functions (``import perception`` stays light).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

TRAIN_FIRST_SEED = 100_000
"""Training houses are seeds ``TRAIN_FIRST_SEED + i``."""
HELDOUT_FIRST_SEED = 900_000
"""Held-out (evaluation) houses are seeds ``HELDOUT_FIRST_SEED + i``."""
IGNORE_LABEL = -1
"""The target of pixels without a vocabulary category."""


@dataclass(frozen=True)
class HouseSplit:
    """House seeds to train on and to evaluate on; the two never share a seed."""

    train: tuple[int, ...]
    heldout: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(int(s) for s in self.train))
        object.__setattr__(self, "heldout", tuple(int(s) for s in self.heldout))
        shared = sorted(set(self.train) & set(self.heldout))
        if shared:
            raise ValueError(f"houses {shared[:10]} are in both the training and the held-out split; held-out houses must be unseen")
        for name in ("train", "heldout"):
            seeds = getattr(self, name)
            if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
                raise ValueError(f"HouseSplit.{name} must hold distinct non-negative house seeds, got {list(seeds)[:10]}...")


def split_houses(
    train_houses: int, heldout_houses: int, train_first: int = TRAIN_FIRST_SEED, heldout_first: int = HELDOUT_FIRST_SEED
) -> HouseSplit:
    """``train_houses`` consecutive seeds from ``train_first`` and ``heldout_houses`` from ``heldout_first``.

    Raises ``ValueError`` on negative counts or when the two ranges overlap.
    """
    if train_houses < 0 or heldout_houses < 0:
        raise ValueError(f"house counts must be >= 0, got {train_houses} training and {heldout_houses} held-out")
    return HouseSplit(tuple(range(train_first, train_first + train_houses)), tuple(range(heldout_first, heldout_first + heldout_houses)))


@dataclass(frozen=True)
class FrameSampling:
    """How frames are drawn in a house: square ``size`` x ``size`` pixel images, camera tilts (degrees)."""

    size: int = 128
    tilt_probability: float = 0.3
    max_tilt_deg: float = 30.0

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"frame size must be >= 16 pixels, got {self.size}")
        if not 0.0 <= self.tilt_probability <= 1.0:
            raise ValueError(f"tilt_probability must be in [0, 1], got {self.tilt_probability}")
        if not 0.0 <= self.max_tilt_deg < 90.0:
            raise ValueError(f"max_tilt_deg must be in [0, 90), got {self.max_tilt_deg}")


@dataclass
class FrameSet:
    """Rendered frames and their category targets.

    - ``rgb``: (N, H, W, 3) uint8.
    - ``labels``: (N, H, W) int16 index into ``vocabulary``, ``IGNORE_LABEL`` (-1) where none.
    - ``houses``: (N,) int64 house seed of each frame.
    """

    rgb: np.ndarray
    labels: np.ndarray
    houses: np.ndarray
    vocabulary: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.rgb)
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"FrameSet.rgb must be (N, H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.labels.shape != self.rgb.shape[:3]:
            raise ValueError(f"FrameSet.labels must be {self.rgb.shape[:3]}, got {self.labels.shape}")
        if self.houses.shape != (n,):
            raise ValueError(f"FrameSet.houses must be ({n},), got {self.houses.shape}")
        if n and (self.labels.max() >= len(self.vocabulary) or self.labels.min() < IGNORE_LABEL):
            raise ValueError(f"FrameSet.labels must be in [-1, {len(self.vocabulary)}) for the vocabulary")

    def __len__(self) -> int:
        return len(self.rgb)


def category_labels(semantic: np.ndarray, categories: dict[int, str], vocabulary: Sequence[str]) -> np.ndarray:
    """(H, W) int32 instance ids -> (H, W) int16 vocabulary indices (-1: id 0, unknown id or category)."""
    index = {name: i for i, name in enumerate(vocabulary)}
    max_id = max(max(categories, default=0), int(semantic.max(initial=0)))
    lookup = np.full(max_id + 1, IGNORE_LABEL, dtype=np.int16)  # (max_id + 1,)
    for instance_id, name in categories.items():
        if instance_id > 0 and name in index:
            lookup[instance_id] = index[name]
    return lookup[np.clip(semantic, 0, max_id)]  # id 0 -> -1


def render_house_frames(house: int, frames: int, sampling: FrameSampling, vocabulary: Sequence[str], seed: int) -> FrameSet:
    """``frames`` random views of generated house ``house`` with their category targets (module doc)."""
    from envs.embedded import EmbeddedSimulator
    from envs.house import generate_house
    from envs.simulator import SensorConfig, camera_pose
    from envs.types import Pose

    scene = generate_house(house)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=sampling.size, height=sampling.size, semantic=True))
    nav = sim.navigation
    island = nav.largest_island()
    rng = np.random.default_rng([int(seed), int(house)])
    categories = {i: obj.category for i, obj in scene.objects.items()}
    rgb = np.empty((frames, sampling.size, sampling.size, 3), dtype=np.uint8)
    labels = np.empty((frames, sampling.size, sampling.size), dtype=np.int16)
    for k in range(frames):
        feet = Pose.from_yaw(nav.sample_navigable_point(rng, island), float(rng.uniform(-math.pi, math.pi)))
        tilt = 0.0
        if rng.random() < sampling.tilt_probability:
            tilt = math.radians(float(rng.uniform(-sampling.max_tilt_deg, sampling.max_tilt_deg)))
        frame = sim.render(camera_pose(feet, sim.agent_config.sensor_height, tilt))
        rgb[k] = frame.rgb
        labels[k] = category_labels(frame.semantic, categories, vocabulary)
    sim.close()
    return FrameSet(rgb, labels, np.full(frames, house, dtype=np.int64), tuple(vocabulary))


def render_frames(
    houses: Iterable[int],
    frames_per_house: int,
    sampling: FrameSampling,
    vocabulary: Sequence[str],
    seed: int,
    progress: bool = False,
    desc: str = "houses",
) -> FrameSet:
    """``frames_per_house`` frames of each house, concatenated in the given order (tqdm bar if ``progress``)."""
    if frames_per_house < 1:
        raise ValueError(f"frames per house must be >= 1, got {frames_per_house}")
    houses = [int(h) for h in houses]
    if not houses:
        raise ValueError("no houses to render frames from")
    iterator: Iterable[int] = houses
    if progress:
        import sys

        from tqdm import tqdm

        iterator = tqdm(houses, desc=desc, unit="house", file=sys.stderr)
    parts = [render_house_frames(h, frames_per_house, sampling, vocabulary, seed) for h in iterator]
    return FrameSet(
        np.concatenate([p.rgb for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.houses for p in parts]),
        tuple(vocabulary),
    )
