"""``ColorFeatureExtractor``: per-pixel colour features, for recordings that have no semantic images.

A colour-only extractor. It knows nothing about objects: ``embed_text("red")`` finds red *pixels*,
``embed_text("chair")`` raises. It exists so that real RGB-D recordings (TUM RGB-D sequences, see
``perception.tum``), which carry no ground-truth instance ids for ``SemanticTextExtractor``, can still
be mapped and queried; the learned RGB extractor will replace it for open-vocabulary queries.

Feature (``COLOR_FEATURE_DIM`` = 7 channels), for a pixel with sRGB values r, g, b in [0, 1] and
CIE L*a*b* (D65 white) values L*, a*, b*::

    raw = [1,  r - 1/2,  g - 1/2,  b - 1/2,  (L* - 50) / 100,  a* / 100,  b* / 100]
    feature = raw / |raw|

- The centred RGB channels keep the camera's colour; the Lab channels add a perceptual one
  (Euclidean distances in L*a*b* approximate perceived colour differences).
- The constant first channel keeps brightness and grey levels apart after the L2 normalisation the
  ``FeatureExtractor`` protocol asks for (without it mid-grey would be the zero vector and every grey
  would point the same way). It makes the cosine similarity of two features 1 exactly when the
  colours are equal and fall off as they differ (cos(white, black) = 0, cos(red, green) = 0.38,
  cos(red, orange) = 0.85, cos(white, light grey) = 0.98).
- Every pixel gets a feature (there is no "unknown colour"), so features are never the zero vector.

``embed_text`` looks a colour name up in ``NAMED_COLORS`` (lower case; hyphens, underscores and
repeated spaces count as one space; "gray" and "grey" both work) or reads a hex code ``#rrggbb``, and
returns the feature of that sRGB colour, the very vector a pixel of that colour gets. Anything else
raises ``ValueError`` listing the names it knows.
"""

from __future__ import annotations

import re

import numpy as np

from envs.types import Frame

COLOR_FEATURE_DIM = 7
"""Feature channels: a constant, centred RGB (3), scaled CIE L*a*b* (3)."""

NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    # sRGB values of the CSS named colours, except "brown" (CSS's is a dark red: #a52a2a), "dark grey"
    # (CSS's darkgray is lighter than its gray) and "cream", which CSS lacks.
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "light grey": (211, 211, 211),
    "dark grey": (64, 64, 64),
    "silver": (192, 192, 192),
    "red": (255, 0, 0),
    "dark red": (139, 0, 0),
    "maroon": (128, 0, 0),
    "orange": (255, 165, 0),
    "yellow": (255, 255, 0),
    "gold": (255, 215, 0),
    "olive": (128, 128, 0),
    "green": (0, 128, 0),
    "lime": (0, 255, 0),
    "dark green": (0, 100, 0),
    "light green": (144, 238, 144),
    "cyan": (0, 255, 255),
    "teal": (0, 128, 128),
    "turquoise": (64, 224, 208),
    "blue": (0, 0, 255),
    "dark blue": (0, 0, 139),
    "navy": (0, 0, 128),
    "light blue": (173, 216, 230),
    "sky blue": (135, 206, 235),
    "purple": (128, 0, 128),
    "violet": (238, 130, 238),
    "magenta": (255, 0, 255),
    "pink": (255, 192, 203),
    "brown": (150, 75, 0),
    "beige": (245, 245, 220),
    "tan": (210, 180, 140),
    "cream": (255, 253, 208),
}
"""Colour name -> sRGB (0..255). "gray" spellings are read as "grey"."""

# sRGB (D65) -> CIE XYZ, and the D65 reference white
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_LAB_EPSILON = (6.0 / 29.0) ** 3


def _srgb_to_linear_table() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_SRGB_TO_LINEAR = _srgb_to_linear_table().astype(np.float32)  # (256,), read-only use
_LINEAR_TO_XYZ_WHITE = (_RGB_TO_XYZ.T / _D65_WHITE).astype(np.float32)  # (3, 3), reference white -> (1, 1, 1)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of 8-bit sRGB colours: (..., 3) uint8 -> (..., 3) float32 with L* in
    [0, 100] and a*, b* roughly in [-110, 110]."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1:] != (3,):
        raise ValueError(f"rgb must be (..., 3) uint8, got {rgb.shape} {rgb.dtype}")
    xyz = _SRGB_TO_LINEAR[rgb] @ _LINEAR_TO_XYZ_WHITE  # (..., 3) float32
    f = np.power(xyz, np.float32(1.0 / 3.0))  # xyz >= 0; faster than np.cbrt
    low = xyz <= _LAB_EPSILON
    f[low] = xyz[low] * np.float32(1.0 / (3.0 * (6.0 / 29.0) ** 2)) + np.float32(4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def color_features(rgb: np.ndarray) -> np.ndarray:
    """Unit colour features (module docstring) of 8-bit sRGB colours: (..., 3) uint8 -> (..., 7) float32."""
    lab = rgb_to_lab(rgb)  # validates rgb
    raw = np.empty(rgb.shape[:-1] + (COLOR_FEATURE_DIM,), dtype=np.float32)
    raw[..., 0] = 1.0
    raw[..., 1:4] = rgb * np.float32(1.0 / 255.0) - np.float32(0.5)
    raw[..., 4] = (lab[..., 0] - 50.0) * np.float32(0.01)
    raw[..., 5:7] = lab[..., 1:3] * np.float32(0.01)
    raw /= np.sqrt(np.einsum("...c,...c->...", raw, raw))[..., None]  # norm >= 1 thanks to the constant channel
    return raw


_HEX = re.compile(r"#([0-9a-f]{6})")


def _normalise_name(text: str) -> str:
    name = " ".join(re.sub(r"[-_]", " ", str(text).strip().lower()).split())
    return re.sub(r"\bgray\b", "grey", name)


LIT_BRIGHTNESS = 0.7
"""How bright a surface looks against its own colour, on average over the views of it (a surface lit
from aside looks darker than its paint). Measured on the frames of the room-by-room exploration of
generated houses 0-15 (their objects' paint colours known; 571 cases of a category with instances of
two or more colours): ranking a category's instances by the 20th percentile of their pixels'
distances to a colour name, after dividing by this factor, picked the instance of that colour 93.5%
of the time (94.0 with 0.6, 92.6 with 0.8, 89.8 undivided; by the mean colour: 89.0)."""


def named_color_distances(rgb: np.ndarray, brightness: float = LIT_BRIGHTNESS) -> np.ndarray:
    """(N, K) float32 CIE76 distances (L*a*b* units) from each colour (N, 3) uint8, divided by
    ``brightness`` (``LIT_BRIGHTNESS``), to each of the K ``NAMED_COLORS`` (in their order)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (N, 3) colours, got shape {rgb.shape}")
    if not 0.0 < brightness <= 1.0:
        raise ValueError(f"brightness must be in (0, 1], got {brightness}")
    lit = np.clip(np.round(rgb.astype(np.float32) / np.float32(brightness)), 0, 255).astype(np.uint8)  # (N, 3)
    named = rgb_to_lab(np.array(list(NAMED_COLORS.values()), dtype=np.uint8))  # (K, 3)
    return np.linalg.norm(rgb_to_lab(lit)[:, None, :] - named[None], axis=2)  # (N, K)


def color_index(name: str) -> int:
    """The position of colour ``name`` in ``NAMED_COLORS`` ("gray" spellings as "grey");
    ``ValueError`` naming the known names otherwise."""
    key = _normalise_name(name)
    if key not in NAMED_COLORS:
        raise ValueError(f"unknown colour {name!r}: the colour names are {', '.join(NAMED_COLORS)}")
    return list(NAMED_COLORS).index(key)


class ColorFeatureExtractor:
    """Frame -> (H, W, 7) unit colour features; colour names -> the same space (module docstring).

    Colour only: for recordings without semantic images. Satisfies
    ``perception.features.FeatureExtractor``. Stateless; safe to share between maps.
    """

    dim: int = COLOR_FEATURE_DIM

    @property
    def color_names(self) -> tuple[str, ...]:
        """The names ``embed_text`` understands (besides ``#rrggbb`` and the "gray" spellings)."""
        return tuple(NAMED_COLORS)

    def __call__(self, frame: Frame) -> np.ndarray:
        """(H, W, 7) float32 unit features of the frame's RGB image (depth and semantics unused)."""
        return color_features(frame.rgb)

    def rgb_of(self, text: str) -> tuple[int, int, int]:
        """The sRGB colour (0..255) a colour name or ``#rrggbb`` stands for; ``ValueError`` otherwise."""
        name = _normalise_name(text)
        if name in NAMED_COLORS:
            return NAMED_COLORS[name]
        match = _HEX.fullmatch(name)
        if match:
            h = match.group(1)
            return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
        raise ValueError(
            f"ColorFeatureExtractor cannot embed {text!r}: it is a colour-only extractor (for recordings "
            f"without semantic images) and knows the colour names {', '.join(NAMED_COLORS)} and #rrggbb codes"
        )

    def embed_text(self, text: str) -> np.ndarray:
        """(7,) float32 unit feature of the named colour: the feature a pixel of exactly that colour gets."""
        return color_features(np.array(self.rgb_of(text), dtype=np.uint8))
