"""The ``FeatureExtractor`` protocol: per-pixel features of a frame, and text embedded in the same space.

Every feature map (``perception.maps``) is built from an extractor's per-pixel features and keeps a
reference to that extractor, so that a text query (``embed_text``) can be compared with what the map
holds by cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.types import Frame


@runtime_checkable
class FeatureExtractor(Protocol):
    """Frame -> (H, W, C) per-pixel features; text -> (C,) embedding in the same space.

    Conventions every implementation keeps:

    - ``dim`` is C, the same for every frame and every text.
    - ``__call__(frame)`` returns an (H, W, C) float32 array for the frame's (H, W) images, or the
      same values as :class:`LabelFeatures` (features that follow labels); maps read either with
      :func:`pixel_features`.
      A feature is L2-normalised (unit length) where the pixel has one, and exactly the zero vector
      where it has none (e.g. an unlabelled pixel); maps treat zero features as "no feature".
    - ``embed_text(text)`` returns a (C,) float32 unit vector; cosine similarity with pixel features
      ranks how well a pixel matches the text.
    """

    dim: int

    def __call__(self, frame: Frame) -> np.ndarray:
        """(H, W, C) float32 per-pixel features of ``frame``: unit vectors, or zeros where undefined."""
        ...

    def embed_text(self, text: str) -> np.ndarray:
        """(C,) float32 unit embedding of ``text`` in the pixel features' space."""
        ...


@dataclass(frozen=True, eq=False)
class LabelFeatures:
    """(H, W, C) per-pixel features given as a (K, C) ``table`` and each pixel's row of it, (H, W)
    ``rows``: the form of features that follow labels (one embedding per category). A map reads the
    pixels it uses (:func:`pixel_features`) without the (H, W, C) array being built (100 MB at 256²
    with C = 384); ``np.asarray`` builds it, and indexing the first two axes reads rows of the table."""

    table: np.ndarray
    rows: np.ndarray

    ndim = 3

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.rows.shape, self.table.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.table.dtype

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.table[self.rows]  # (H, W, C), a fresh array
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) <= 2 and not any(k is Ellipsis or k is None for k in parts):
            return self.table[self.rows[key]]  # the rows of the indexed pixels, then their features
        return np.asarray(self)[key]


def pixel_features(features: np.ndarray | LabelFeatures, pixels: np.ndarray) -> np.ndarray:
    """(N, C) features of the pixels at flat (row-major) indices ``pixels`` (N,) of (H, W, C)
    ``features``, an array or :class:`LabelFeatures`."""
    if isinstance(features, LabelFeatures):
        return features.table[features.rows.reshape(-1)[pixels]]
    return features.reshape(-1, features.shape[2])[pixels]
