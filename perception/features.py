"""The ``FeatureExtractor`` protocol: per-pixel features of a frame, and text embedded in the same space.

Every feature map (``perception.maps``) is built from an extractor's per-pixel features and keeps a
reference to that extractor, so that a text query (``embed_text``) can be compared with what the map
holds by cosine similarity.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from envs.types import Frame


@runtime_checkable
class FeatureExtractor(Protocol):
    """Frame -> (H, W, C) per-pixel features; text -> (C,) embedding in the same space.

    Conventions every implementation keeps:

    - ``dim`` is C, the same for every frame and every text.
    - ``__call__(frame)`` returns an (H, W, C) float32 array for the frame's (H, W) images.
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
