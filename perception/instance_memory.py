"""``InstanceMemory``: the object instances an agent has seen, gathered from its frames' instance ids.

A map's features name categories, so a map cannot tell the black mug from the red one; a frame's
semantic image can: it holds an instance id per pixel (habitat's semantic sensor; 0 = unlabelled).
For every id it has seen, the memory keeps what the frames showed of it:

- ``pixels``: how many of its pixels had valid depth (every ``stride``-th row and column);
- ``position``: the mean of those pixels' world points (metres, world frame, Y up): a point on the
  part of the object that was seen;
- ``feature``: the mean of the extractor's features at those pixels, unit length, so that a text
  query ranks instances as it ranks map points;
- ``color_counts``: per colour name of ``perception.color_features.NAMED_COLORS`` and per distance of
  ``DISTANCES``, how many of those pixels' colours lie within that distance of the name
  (``named_color_distances``); ``color_distance(name)`` reads the distance within which a fifth of
  the pixels lie: an instance's colour is the name it is nearest by that measure, which keeps a
  two-coloured object (a blue bed with white sheets) near its colour.

Colours come straight from the frames, not from a map's decoded colours, which the neural field
blurs at its 0.1 m vertex spacing (a black table read as RGB 55-84 after a closed-loop episode).

``InstanceTrackingMap`` wraps a ``FeatureMap`` so that every integrated frame also goes into its
memory (``instances()``); everything else is the wrapped map's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.types import Frame
from perception.color_features import NAMED_COLORS, color_index, named_color_distances
from perception.features import pixel_features
from perception.geometry import backproject, check_frame


DISTANCES = np.array([5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130], np.float32)
"""CIE76 distances (L*a*b* units) at which an instance's pixels are counted per colour name."""


@dataclass(frozen=True)
class SeenInstance:
    """One instance as the frames showed it (module doc): id, pixel count, mean world point (3,),
    unit mean feature (C,), and per ``NAMED_COLORS`` name and ``DISTANCES`` entry the count of its
    pixels within that distance of the colour (K, D)."""

    instance_id: int
    pixels: int
    position: np.ndarray
    feature: np.ndarray
    color_counts: np.ndarray

    def color_distance(self, name: str, share: float = 0.2) -> tuple[float, float]:
        """How near colour ``name`` (``NAMED_COLORS``) the instance looks: the least of ``DISTANCES``
        within which ``share`` of its pixels lie (inf when none), and the share within it, for
        ranking (nearer first, then more). Ranking a category's instances by it picked the one of
        the named colour 93.5% of the time (``perception.color_features.LIT_BRIGHTNESS``)."""
        shares = self.color_counts[color_index(name)] / max(self.pixels, 1)  # (D,) non-decreasing
        within = np.flatnonzero(shares >= share)
        return (float(DISTANCES[within[0]]), float(shares[within[0]])) if len(within) else (float("inf"), float(shares[-1]))


class InstanceMemory:
    """Per-instance pixel counts, world points, features and colours of the frames integrated (module
    doc). ``stride``: every ``stride``-th pixel row and column is read; ``max_depth``: metres beyond
    which pixels are ignored (None: all valid depth)."""

    def __init__(self, stride: int = 2, max_depth: float | None = None) -> None:
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
        self.stride = stride
        self.max_depth = max_depth
        self._sums: dict[int, list] = {}  # id -> [pixels, point sum (3,), feature sum (C,), colour hits (K,)]

    def __len__(self) -> int:
        return len(self._sums)

    def integrate(self, frame: Frame, features) -> None:
        """Add the labelled pixels of ``frame`` (which must carry a semantic image) with their (H, W, C)
        features (an array or ``perception.features.LabelFeatures``, as extractors give them)."""
        check_frame(frame, features)
        if frame.semantic is None:
            raise ValueError("InstanceMemory needs frames with a semantic image (instance ids): enable the simulator's semantic sensor")
        lifted = backproject(frame, self.stride, self.max_depth)
        ids = frame.semantic.reshape(-1)[lifted.pixels]  # (N,)
        labelled = ids > 0
        if not labelled.any():
            return
        ids, pixels, points = ids[labelled], lifted.pixels[labelled], lifted.points[labelled]  # (N',), (N',), (N', 3)
        feats = pixel_features(features, pixels).astype(np.float64)  # (N', C)
        distance = named_color_distances(frame.rgb.reshape(-1, 3)[pixels])  # (N', K)
        for i in np.unique(ids):
            mine = ids == i
            sums = self._sums.setdefault(int(i), [0, np.zeros(3), np.zeros(feats.shape[1]), np.zeros((len(NAMED_COLORS), len(DISTANCES)), np.int64)])
            sums[0] += int(mine.sum())
            sums[1] += points[mine].sum(axis=0)
            sums[2] += feats[mine].sum(axis=0)
            sums[3] += (distance[mine][:, :, None] <= DISTANCES).sum(axis=0)  # (K, D)

    def instances(self) -> list[SeenInstance]:
        """Every instance seen so far, by id."""
        out = []
        for i, (n, point_sum, feature_sum, counts) in sorted(self._sums.items()):
            norm = np.linalg.norm(feature_sum)
            feature = (feature_sum / norm if norm > 0 else feature_sum).astype(np.float32)
            out.append(SeenInstance(i, n, point_sum / n, feature, counts.copy()))
        return out


class InstanceTrackingMap:
    """A ``FeatureMap`` whose frames also go into an ``InstanceMemory`` (``instances()``); everything
    else is the wrapped map's (``map``)."""

    def __init__(self, feature_map, memory: InstanceMemory | None = None) -> None:
        self.map = feature_map
        self.memory = memory if memory is not None else InstanceMemory()

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add the frame and its (H, W, C) features to the map and to the memory."""
        self.map.integrate(frame, features)
        self.memory.integrate(frame, features)

    def instances(self) -> list[SeenInstance]:
        """The instances the memory has seen (``InstanceMemory.instances``)."""
        return self.memory.instances()

    def __getattr__(self, name: str):
        if name in ("map", "memory"):  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.map, name)
