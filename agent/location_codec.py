"""Location tokens: a codec between world coordinates and ``<loc0>``..``<loc{B-1}>`` tokens.

3D-LLM (Hong et al. 2023) writes positions in its text as discrete location tokens relative to the
scene's axis-aligned bounds: each axis of the box ``[lower, upper]`` (world frame, metres, Y up) is
cut into ``bins`` equal bins and a coordinate becomes the token of the bin that holds it. One shared
set of ``bins`` tokens serves all three axes; which axis a token means is given by its position:

- a waypoint is 3 tokens ``x y z``;
- a box is 6 tokens ``xmin ymin zmin xmax ymax zmax``.

Decoding gives bin centres, so a round trip is exact to within half a bin on every axis. Coordinates
outside the bounds are clamped into the edge bins (0 or ``bins - 1``) rather than rejected: a goal a
little past the mapped area still gets the nearest token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BINS = 64
"""Bins per axis (the 3D-LLM paper's navigation figure)."""

LOCATION_TOKEN = re.compile(r"<loc(0|[1-9][0-9]*)>")
"""A location token, ``<locK>``; group 1 is its bin K."""
_CANDIDATE = re.compile(r"<loc([^<>\s]*)(>?)")
"""Anything that starts like a location token, well formed or not (``<locx>``, ``<loc07>``, ``<loc3``)."""


def location_token_name(index: int) -> str:
    """The token for bin ``index``: ``<loc{index}>``."""
    return f"<loc{int(index)}>"


def location_token_names(bins: int = DEFAULT_BINS) -> list[str]:
    """``["<loc0>", ..., "<loc{bins-1}>"]`` in bin order; ``bins`` must be an integer >= 2."""
    _check_bins(bins)
    return [location_token_name(i) for i in range(bins)]


@dataclass(frozen=True)
class LocationCodec:
    """Maps world coordinates (metres, world frame, Y up) inside the box ``[lower, upper]`` to bins.

    ``lower``/``upper`` are the scene's axis-aligned bounds per axis (x, y, z); ``bins`` is the number
    of bins per axis, and so the number of location tokens.
    """

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    bins: int = DEFAULT_BINS

    def __post_init__(self) -> None:
        _check_bins(self.bins)
        lower = _triple(self.lower, "lower")
        upper = _triple(self.upper, "upper")
        for axis, (lo, hi) in enumerate(zip(lower, upper)):
            if not hi > lo:
                raise ValueError(
                    f"LocationCodec: upper must be greater than lower on every axis, but on axis {'xyz'[axis]} "
                    f"lower={lo} and upper={hi}; use LocationCodec.from_points to get bounds that are widened "
                    f"where the points are flat"
                )
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "bins", int(self.bins))

    # -- construction and saving ---------------------------------------------------------------------

    @classmethod
    def from_points(
        cls, points: np.ndarray, bins: int = DEFAULT_BINS, margin: float = 0.0, min_extent: float = 0.1
    ) -> LocationCodec:
        """The codec over the bounds of ``points`` ((N, 3) metres, world frame), grown by ``margin`` metres.

        An axis whose extent (after the margin) is below ``min_extent`` metres (e.g. a map whose points all
        lie on the floor) is widened symmetrically about its centre to ``min_extent``, so every axis has
        a positive size.
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
            raise ValueError(f"LocationCodec.from_points: expected (N, 3) points with N >= 1, got shape {pts.shape}")
        if not np.isfinite(pts).all():
            raise ValueError("LocationCodec.from_points: points contain NaN or infinite coordinates; drop them first")
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"LocationCodec.from_points: margin must be a finite number of metres >= 0, got {margin}")
        if not (math.isfinite(min_extent) and min_extent > 0):
            raise ValueError(f"LocationCodec.from_points: min_extent must be finite and > 0 metres, got {min_extent}")
        lower = pts.min(axis=0) - margin
        upper = pts.max(axis=0) + margin
        centre = (lower + upper) / 2
        thin = (upper - lower) < min_extent
        lower = np.where(thin, centre - min_extent / 2, lower)
        upper = np.where(thin, centre + min_extent / 2, upper)
        return cls(tuple(lower.tolist()), tuple(upper.tolist()), bins)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ``{"lower": [x, y, z], "upper": [x, y, z], "bins": B}`` (metres), for saving beside a model."""
        return {"lower": list(self.lower), "upper": list(self.upper), "bins": self.bins}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocationCodec:
        """The codec saved by :meth:`to_dict`."""
        missing = [key for key in ("lower", "upper", "bins") if key not in data]
        if missing:
            raise ValueError(
                f"LocationCodec.from_dict: missing key(s) {missing}; expected the dict written by LocationCodec.to_dict"
            )
        bins = data["bins"]
        if isinstance(bins, float) and bins.is_integer():
            bins = int(bins)
        return cls(tuple(data["lower"]), tuple(data["upper"]), bins)

    # -- bins ----------------------------------------------------------------------------------------

    @property
    def bin_size(self) -> np.ndarray:
        """(3,) width of one bin per axis (x, y, z), metres."""
        return (np.asarray(self.upper) - np.asarray(self.lower)) / self.bins

    def bin_of(self, values: np.ndarray | float, axis: int) -> np.ndarray:
        """Bin index (int64, same shape as ``values``) of world coordinates ``values`` (metres) on ``axis``.

        ``axis`` is 0, 1 or 2 for x, y, z. Values outside ``[lower, upper]`` are clamped into bin 0 or
        ``bins - 1``; the upper bound itself falls in the last bin. NaN or infinite values are an error.
        """
        axis = _check_axis(axis)
        v = np.asarray(values, dtype=np.float64)
        if not np.isfinite(v).all():
            raise ValueError(f"LocationCodec.bin_of: coordinates on axis {'xyz'[axis]} must be finite, got {v}")
        lo, hi = self.lower[axis], self.upper[axis]
        fraction = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
        return np.minimum(np.floor(fraction * self.bins).astype(np.int64), self.bins - 1)

    def value_of(self, bins: np.ndarray | int, axis: int) -> np.ndarray:
        """World coordinate (metres, float64, same shape as ``bins``) of the centres of bins ``bins`` on ``axis``."""
        axis = _check_axis(axis)
        b = np.asarray(bins)
        if b.dtype.kind not in "iu" and not (b.dtype.kind == "f" and np.all(np.mod(b, 1) == 0)):
            raise ValueError(f"LocationCodec.value_of: bin indices must be integers, got {b}")
        if b.size and (b.min() < 0 or b.max() >= self.bins):
            raise ValueError(f"LocationCodec.value_of: bin indices must lie in 0..{self.bins - 1}, got {b}")
        lo, hi = self.lower[axis], self.upper[axis]
        return lo + (b.astype(np.float64) + 0.5) * ((hi - lo) / self.bins)

    # -- tokens --------------------------------------------------------------------------------------

    def token_names(self) -> list[str]:
        """All location tokens in bin order: ``["<loc0>", ..., "<loc{bins-1}>"]``."""
        return location_token_names(self.bins)

    def is_location_token(self, token: str) -> bool:
        """Whether ``token`` is exactly one of this codec's location tokens (``<locK>`` with 0 <= K < bins)."""
        match = LOCATION_TOKEN.fullmatch(token) if isinstance(token, str) else None
        return match is not None and int(match.group(1)) < self.bins

    def parse_location_tokens(self, text: str) -> list[int]:
        """Bin indices of the location tokens in ``text`` (e.g. generated text), in order of appearance.

        Text that is not a location token is skipped; something that starts like one but is malformed
        (``<locx>``, ``<loc07>``, an unterminated ``<loc3``) or names a bin outside ``0..bins-1``
        (``<loc99>`` with 64 bins) is a ValueError naming it.
        """
        indices = []
        for match in _CANDIDATE.finditer(text):
            digits, closed = match.group(1), match.group(2)
            token = match.group(0)
            if not closed or not re.fullmatch(r"0|[1-9][0-9]*", digits):
                raise ValueError(
                    f"malformed location token {token!r} at character {match.start()}: expected <locK> with K "
                    f"an integer in 0..{self.bins - 1}"
                )
            index = int(digits)
            if index >= self.bins:
                raise ValueError(
                    f"unknown location token {token!r}: this codec has {self.bins} bins (<loc0>..<loc{self.bins - 1}>); "
                    f"was the text generated with a model trained for more bins?"
                )
            indices.append(index)
        return indices

    def encode_point(self, xyz: Sequence[float] | np.ndarray) -> list[str]:
        """3 tokens (x, y, z) for a point (metres, world frame); points outside the bounds are clamped."""
        point = _vector(xyz, 3, "encode_point", "a point (x, y, z)")
        return [location_token_name(self.bin_of(point[axis], axis)) for axis in range(3)]

    def decode_point(self, tokens: Sequence[str] | str) -> np.ndarray:
        """(3,) bin centres (metres, world frame) of 3 location tokens (a list, or text holding exactly 3)."""
        return self._decode(tokens, 3, "decode_point", "a point (x y z)")

    def encode_box(self, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray) -> list[str]:
        """6 tokens ``xmin ymin zmin xmax ymax zmax`` for the box from corner ``lo`` to ``hi`` (metres).

        ``lo`` must not exceed ``hi`` on any axis; corners outside the bounds are clamped.
        """
        low = _vector(lo, 3, "encode_box", "the box's lower corner")
        high = _vector(hi, 3, "encode_box", "the box's upper corner")
        if np.any(low > high):
            raise ValueError(f"LocationCodec.encode_box: lo must not exceed hi on any axis, got lo={low}, hi={high}")
        return self.encode_point(low) + self.encode_point(high)

    def decode_box(self, tokens: Sequence[str] | str) -> np.ndarray:
        """(6,) ``xmin ymin zmin xmax ymax zmax`` bin centres (metres) of 6 location tokens.

        A box whose min token exceeds its max token on some axis is a ValueError.
        """
        box = self._decode(tokens, 6, "decode_box", "a box (xmin ymin zmin xmax ymax zmax)")
        if np.any(box[:3] > box[3:]):
            raise ValueError(f"LocationCodec.decode_box: box minimum exceeds its maximum on some axis: {box}")
        return box

    def _decode(self, tokens: Sequence[str] | str, count: int, where: str, what: str) -> np.ndarray:
        if isinstance(tokens, str):
            indices = self.parse_location_tokens(tokens)
        else:
            tokens = list(tokens)
            bad = [t for t in tokens if not self.is_location_token(t)]
            if bad:
                # parse each bad token for its specific error (malformed / unknown); anything else is plain text
                for token in bad:
                    if isinstance(token, str):
                        self.parse_location_tokens(token)
                raise ValueError(f"LocationCodec.{where}: not location tokens: {bad}")
            indices = [int(LOCATION_TOKEN.fullmatch(t).group(1)) for t in tokens]
        if len(indices) != count:
            raise ValueError(f"LocationCodec.{where}: {what} needs {count} location tokens, got {len(indices)}")
        values = [self.value_of(index, i % 3) for i, index in enumerate(indices)]
        return np.asarray(values, dtype=np.float64)


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"location bins must be an integer >= 2, got {bins!r}")


def _check_axis(axis: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not 0 <= axis <= 2:
        raise ValueError(f"axis must be 0, 1 or 2 (x, y, z), got {axis!r}")
    return int(axis)


def _triple(values: Sequence[float], name: str) -> tuple[float, float, float]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"LocationCodec: {name} must be 3 numbers (x, y, z) in metres, got {values!r}") from exc
    if array.shape != (3,):
        raise ValueError(f"LocationCodec: {name} must be 3 numbers (x, y, z) in metres, got {values!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"LocationCodec: {name} must be finite, got {values!r}")
    return tuple(float(v) for v in array)  # type: ignore[return-value]


def _vector(values: Sequence[float] | np.ndarray, size: int, where: str, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"LocationCodec.{where}: expected {what} of shape ({size},), got shape {array.shape}")
    return array
