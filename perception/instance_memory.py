"""``InstanceMemory``: the object instances an agent has seen, gathered from its frames' instance ids.

A map's features name categories, so a map cannot tell the black mug from the red one; a frame's
semantic image can: it holds an instance id per pixel (habitat's semantic sensor; 0 = unlabelled).
For every id it has seen, the memory keeps what the frames showed of it:

- ``pixels``: how many of its pixels had valid depth (about ``samples_per_side`` rows and columns of
  each frame are read, whatever its size);
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
from perception.features import LabelFeatures, pixel_features
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
    doc). ``samples_per_side``: about this many pixel rows and columns of each frame are read (every
    ``width // samples_per_side``-th, at least every one); ``max_depth``: metres beyond which pixels
    are ignored (None: all valid depth)."""

    def __init__(self, samples_per_side: int = 64, max_depth: float | None = None) -> None:
        if isinstance(samples_per_side, bool) or not isinstance(samples_per_side, int) or samples_per_side < 1:
            raise ValueError(f"samples_per_side must be an integer >= 1, got {samples_per_side!r}")
        self.samples_per_side = samples_per_side
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
        stride = max(1, frame.intrinsics.width // self.samples_per_side)
        lifted = backproject(frame, stride, self.max_depth)
        ids = frame.semantic.reshape(-1)[lifted.pixels]  # (N,)
        labelled = ids > 0
        if not labelled.any():
            return
        ids, pixels, points = ids[labelled], lifted.pixels[labelled], lifted.points[labelled]  # (N',), (N',), (N', 3)
        k, d = len(NAMED_COLORS), len(DISTANCES)
        # per-instance sums: the pixels sorted by instance id, each tagged with its instance's row
        order = np.argsort(ids, kind="stable")
        instance_ids, starts, counts = np.unique(ids[order], return_index=True, return_counts=True)  # (U,) each
        instance_of = np.repeat(np.arange(len(starts)), counts)  # (N',) the sorted pixels' instance rows
        point_sums = np.stack([np.bincount(instance_of, points[order, a], len(starts)) for a in range(3)], axis=1)  # (U, 3)
        feature_sums = _feature_sums(features, pixels[order], instance_of, len(starts))  # (U, C)
        # colours: each pixel's distance to each name falls in a bin of DISTANCES (d = beyond all);
        # counts per (instance, name, bin), then summed over bins: pixels within each distance
        bins = np.searchsorted(DISTANCES, named_color_distances(frame.rgb.reshape(-1, 3)[pixels[order]]))  # (N', K) in 0..d
        cell = ((instance_of[:, None] * k + np.arange(k)) * (d + 1) + bins).reshape(-1)  # (N' * K,)
        binned = np.bincount(cell, minlength=len(starts) * k * (d + 1)).reshape(len(starts), k, d + 1)
        color_counts = np.cumsum(binned[:, :, :d], axis=2)  # (U, K, D)
        for u, i in enumerate(instance_ids.tolist()):
            sums = self._sums.setdefault(i, [0, np.zeros(3), np.zeros(feature_sums.shape[1]), np.zeros((k, d), np.int64)])
            sums[0] += int(counts[u])
            sums[1] += point_sums[u]
            sums[2] += feature_sums[u]
            sums[3] += color_counts[u]

    def instances(self) -> list[SeenInstance]:
        """Every instance seen so far, by id."""
        out = []
        for i, (n, point_sum, feature_sum, counts) in sorted(self._sums.items()):
            norm = np.linalg.norm(feature_sum)
            feature = (feature_sum / norm if norm > 0 else feature_sum).astype(np.float32)
            out.append(SeenInstance(i, n, point_sum / n, feature, counts.copy()))
        return out


def _feature_sums(features, pixels: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """(G, C) float32 sums of the features of ``pixels`` (N,) (flat indices) per ``group`` (N,) in 0..G-1:
    for ``LabelFeatures`` a count of each group's table rows times the table, else one matrix product."""
    if isinstance(features, LabelFeatures):
        rows, kinds = features.rows.reshape(-1)[pixels], len(features.table)
        per_row = np.bincount(group * kinds + rows, minlength=groups * kinds).reshape(groups, kinds)  # (G, K)
        return per_row.astype(np.float32) @ features.table.astype(np.float32, copy=False)
    member = np.zeros((groups, len(pixels)), np.float32)  # (G, N) one-hot
    member[group, np.arange(len(pixels))] = 1.0
    return member @ pixel_features(features, pixels).astype(np.float32, copy=False)


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
