"""Models: one shape builder per category. A model is an item in its own frame (footprint around the
origin, y from 0 up, front facing +Z) with the support surfaces small objects can stand on."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from envs.house.config import DOOR_TRIM, HouseConfig
from envs.house.primitives import Part, box, capsule, cone, cylinder, ellipsoid
from envs.house.vocabulary import PALETTE


@dataclass(frozen=True)
class LocalSurface:
    """A horizontal support area of a model: rect (x0, z0, x1, z1), top height, free height above."""

    rect: tuple[float, float, float, float]
    height: float
    clearance: float
    kind: str = "top"  # "top" | "shelf" | "bed" | "seat"


@dataclass
class Model:
    """An item in its own frame: its parts and the surfaces small objects can stand on."""

    parts: list[Part]
    surfaces: list[LocalSurface] = field(default_factory=list)

    @functools.cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) corners of the model's vertices."""
        lo = np.min([p.vertices.min(axis=0) for p in self.parts], axis=0)
        hi = np.max([p.vertices.max(axis=0) for p in self.parts], axis=0)
        return lo, hi


_Builder = Callable[[np.random.Generator, str, str, int], Model]


def _contrast(color: str, options: tuple[str, ...] = ("black", "gray", "white")) -> str:
    """The first of ``options`` that differs from ``color`` (an accent that stands out)."""
    return next(o for o in options if o != color)


def _hollow_box(lo, hi, wall: float, bottom: float, color: str) -> list[Part]:
    """An open-topped box (a tub or basin): a bottom slab and four walls."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    yb = y0 + bottom
    return [
        box((x0, y0, z0), (x1, yb, z1), color),
        box((x0, yb, z0), (x1, y1, z0 + wall), color),
        box((x0, yb, z1 - wall), (x1, y1, z1), color),
        box((x0, yb, z0 + wall), (x0 + wall, y1, z1 - wall), color),
        box((x1 - wall, yb, z0 + wall), (x1, y1, z1 - wall), color),
    ]


_SEAM = 0.002  # gap between a tall body and the plinth under it, metres


def _plinth_body(x0: float, x1: float, z0: float, z1: float, top: float, color: str, plinth: float = 0.03) -> list[Part]:
    """A plinth recessed 3 cm on every side (y from 0 to ``plinth``) under a solid body (up to ``top``).

    The body starts ``_SEAM`` above the plinth so that its bottom face never lies on an upward face:
    a ray cast down from inside the body meets the body's own downward-facing bottom first, so a
    winding-aware ground test never finds floor inside furniture."""
    return [
        box((x0 + 0.03, 0.0, z0 + 0.03), (x1 - 0.03, plinth, z1 - 0.03), color),
        box((x0, plinth + _SEAM, z0), (x1, top, z1), color),
    ]


def _legs(x_half: float, z_half: float, height: float, size: float, color: str, inset: float = 0.03) -> list[Part]:
    """Four square legs under a rectangle of half-sizes ``x_half`` x ``z_half``, from y = 0 to ``height``."""
    parts = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            cx = sx * (x_half - inset - size / 2)
            cz = sz * (z_half - inset - size / 2)
            parts.append(box((cx - size / 2, 0.0, cz - size / 2), (cx + size / 2, height, cz + size / 2), color))
    return parts


_TABLE_SIZES = {  # variant: (width range, depth range, height)
    "dining": ((1.2, 1.8), (0.8, 1.0), 0.75),
    "kitchen": ((0.8, 1.2), (0.7, 0.8), 0.75),
    "coffee": ((0.9, 1.2), (0.5, 0.6), 0.42),
    "console": ((0.9, 1.2), (0.35, 0.4), 0.8),
    "side": ((0.45, 0.6), (0.45, 0.6), 0.55),
}


def _build_table(rng, color, variant, n) -> Model:
    """Top + four legs."""
    (w_lo, w_hi), (d_lo, d_hi), h = _TABLE_SIZES[variant or "dining"]
    w, d = rng.uniform(w_lo, w_hi), rng.uniform(d_lo, d_hi)
    top = 0.04
    parts = [box((-w / 2, h - top, -d / 2), (w / 2, h, d / 2), color)]
    parts += _legs(w / 2, d / 2, h - top, 0.05, color)
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


def _build_chair(rng, color, variant, n) -> Model:
    """Seat + back + four legs."""
    w, d = rng.uniform(0.42, 0.48), rng.uniform(0.44, 0.5)
    seat, thick, back_h = 0.45, 0.04, rng.uniform(0.38, 0.48)
    parts = [box((-w / 2, seat - thick, -d / 2), (w / 2, seat, d / 2), color)]
    parts += _legs(w / 2, d / 2, seat - thick, 0.035, color, inset=0.01)
    parts.append(box((-w / 2, seat, -d / 2), (w / 2, seat + back_h, -d / 2 + 0.04), color))
    return Model(parts)


def _build_stool(rng, color, variant, n) -> Model:
    """Round seat + four legs."""
    r, h = rng.uniform(0.15, 0.19), rng.uniform(0.45, 0.65)
    parts = [cylinder((0.0, h - 0.04, 0.0), r, 0.04, color, n)]
    parts += _legs(r * 0.72, r * 0.72, h - 0.04, 0.03, color, inset=0.0)
    return Model(parts)


def _upholstered(
    w: float, d: float, color: str, cushions: int, arm: float, back: float, back_h: float
) -> tuple[list[Part], LocalSurface]:
    """Legs, base, seat cushions, back and two arms of a sofa or armchair (front +Z)."""
    leg_color = _contrast(color, ("black", "brown"))
    parts = _legs(w / 2, d / 2, 0.08, 0.05, leg_color, inset=0.02)
    parts.append(box((-w / 2, 0.08, -d / 2), (w / 2, 0.38, d / 2), color))
    x0, x1, z0 = -w / 2 + arm, w / 2 - arm, -d / 2 + back
    step = (x1 - x0) / cushions
    for i in range(cushions):
        parts.append(box((x0 + i * step, 0.38, z0), (x0 + (i + 1) * step, 0.47, d / 2), color))  # cushions abut
    parts.append(box((-w / 2, 0.38, -d / 2), (w / 2, back_h, z0), color))
    parts.append(box((-w / 2, 0.38, z0), (x0, 0.62, d / 2), color))
    parts.append(box((x1, 0.38, z0), (w / 2, 0.62, d / 2), color))
    return parts, LocalSurface((x0, z0, x1, d / 2), 0.47, 0.5, "seat")


def _build_sofa(rng, color, variant, n) -> Model:
    """Base, two or three seat cushions, back, two arms, legs."""
    w, d = rng.uniform(1.7, 2.3), rng.uniform(0.85, 0.95)
    parts, seat = _upholstered(w, d, color, 3 if w > 2.0 else 2, 0.18, 0.2, rng.uniform(0.8, 0.9))
    return Model(parts, [seat])


def _build_armchair(rng, color, variant, n) -> Model:
    """A one-seat sofa."""
    w, d = rng.uniform(0.75, 0.9), rng.uniform(0.75, 0.9)
    parts, seat = _upholstered(w, d, color, 1, 0.14, 0.18, rng.uniform(0.85, 0.95))
    return Model(parts, [seat])


def _build_bed(rng, color, variant, n) -> Model:
    """Frame on legs + mattress + headboard (head at -Z); pillows go on the head end of the mattress."""
    single = variant == "single" or (variant == "" and rng.random() < 0.25)
    w = rng.uniform(0.9, 1.05) if single else rng.uniform(1.4, 1.8)
    length, head_t, head_h = rng.uniform(2.0, 2.1), 0.06, rng.uniform(0.9, 1.1)
    mattress_color = _contrast(color, ("white", "beige"))
    z0 = -length / 2
    parts = _legs(w / 2, length / 2, 0.1, 0.06, color, inset=0.0)
    parts.append(box((-w / 2, 0.1, z0 + head_t), (w / 2, 0.35, length / 2), color))
    parts.append(box((-w / 2 + 0.03, 0.35, z0 + head_t + 0.02), (w / 2 - 0.03, 0.55, length / 2 - 0.03), mattress_color))
    parts.append(box((-w / 2, 0.0, z0), (w / 2, head_h, z0 + head_t), color))
    head = LocalSurface((-w / 2 + 0.03, z0 + head_t + 0.02, w / 2 - 0.03, z0 + head_t + 0.6), 0.55, 0.3, "bed")
    return Model(parts, [head])


def _handle(x: float, y: float, z: float, color: str, vertical: bool = False, size: float = 0.12) -> Part:
    """A small bar handle on a front face at z (sticking out 3 cm towards +Z)."""
    hx, hy = (0.01, size / 2) if vertical else (size / 2, 0.01)
    return box((x - hx, y - hy, z), (x + hx, y + hy, z + 0.03), color)


def _build_desk(rng, color, variant, n) -> Model:
    """Top, a side panel, a drawer unit with two drawers and handles."""
    w, d, h = rng.uniform(1.0, 1.5), rng.uniform(0.55, 0.7), 0.75
    metal = _contrast(color, ("gray", "black"))
    parts = [
        box((-w / 2, h - 0.03, -d / 2), (w / 2, h, d / 2), color),
        box((-w / 2, 0.0, -d / 2), (-w / 2 + 0.03, h - 0.03, d / 2 - 0.02), color),
        *_plinth_body(w / 2 - 0.4, w / 2, -d / 2, d / 2 - 0.02, h - 0.03, color),
    ]
    for y in (0.2, 0.5):
        parts.append(_handle(w / 2 - 0.2, y, d / 2 - 0.02, metal))
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


_CABINET_HEIGHTS = {"low": (0.45, 0.6), "dresser": (0.8, 0.95), "": (0.6, 0.9)}


def _build_cabinet(rng, color, variant, n) -> Model:
    """Plinth, body, top slab, one or two doors with handles."""
    lo, hi = _CABINET_HEIGHTS[variant]
    w = rng.uniform(1.2, 1.8) if variant == "low" else rng.uniform(0.6, 1.4)
    d, h = rng.uniform(0.4, 0.5), rng.uniform(lo, hi)
    metal = _contrast(color, ("gray", "black"))
    parts = [
        box((-w / 2 + 0.02, 0.0, -d / 2), (w / 2 - 0.02, 0.06, d / 2 - 0.04), color),
        box((-w / 2, 0.06 + _SEAM, -d / 2), (w / 2, h - 0.03, d / 2 - 0.01), color),
        box((-w / 2, h - 0.03, -d / 2), (w / 2, h, d / 2), color),
    ]
    doors = 1 if w < 0.8 else 2
    for i in range(doors):
        x = -w / 2 + (i + 0.5) * w / doors + (0.12 if doors == 2 and i == 0 else -0.12 if doors == 2 else 0.0)
        parts.append(_handle(x, h - 0.12, d / 2 - 0.01, metal, vertical=True, size=0.1))
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


def _build_wardrobe(rng, color, variant, n) -> Model:
    """Tall body, two door panels, two handles, cornice."""
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.62), rng.uniform(1.9, 2.1)
    metal = _contrast(color, ("gray", "black"))
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h - 0.04, color, plinth=0.05),
        box((-w / 2, h - 0.04, -d / 2), (w / 2, h, d / 2), color),
        box((-w / 2 + 0.01, 0.06, d / 2 - 0.02), (-0.005, h - 0.06, d / 2), color),
        box((0.005, 0.06, d / 2 - 0.02), (w / 2 - 0.01, h - 0.06, d / 2), color),
        _handle(-0.06, h / 2 + 0.1, d / 2, metal, vertical=True, size=0.3),
        _handle(0.06, h / 2 + 0.1, d / 2, metal, vertical=True, size=0.3),
    ]
    return Model(parts)


def _build_bookshelf(rng, color, variant, n) -> Model:
    """Two sides, top, plinth, back and 3-4 shelves; every shelf level is a support surface."""
    w, d, h = rng.uniform(0.7, 1.2), rng.uniform(0.28, 0.35), rng.uniform(1.5, 2.0)
    b = 0.02
    parts = [
        box((-w / 2, 0.0, -d / 2), (-w / 2 + b, h, d / 2), color),
        box((w / 2 - b, 0.0, -d / 2), (w / 2, h, d / 2), color),
        box((-w / 2 + b, h - b, -d / 2), (w / 2 - b, h, d / 2), color),
        box((-w / 2 + b, 0.0, -d / 2), (w / 2 - b, 0.08, d / 2), color),
        box((-w / 2 + b, 0.08, -d / 2), (w / 2 - b, h - b, -d / 2 + 0.01), color),
    ]
    shelves = int(rng.integers(3, 5))
    tops = [0.08]
    spacing = (h - b - 0.08) / (shelves + 1)
    for i in range(1, shelves + 1):
        y = 0.08 + i * spacing
        parts.append(box((-w / 2 + b, y - b, -d / 2 + 0.01), (w / 2 - b, y, d / 2), color))
        tops.append(y)
    ceilings = [t + spacing - b for t in tops[:-1]] + [h - b]
    rect = (-w / 2 + b, -d / 2 + 0.01, w / 2 - b, d / 2)
    surfaces = [LocalSurface(rect, t, c - t, "shelf") for t, c in zip(tops, ceilings)]
    return Model(parts, surfaces)


def _build_nightstand(rng, color, variant, n) -> Model:
    """Body on short legs, a drawer front and a handle."""
    w, d, h = rng.uniform(0.4, 0.55), rng.uniform(0.35, 0.45), rng.uniform(0.5, 0.62)
    metal = _contrast(color, ("gray", "black"))
    parts = _legs(w / 2, d / 2, 0.08, 0.04, color, inset=0.01)
    parts.append(box((-w / 2, 0.08, -d / 2), (w / 2, h, d / 2 - 0.01), color))
    parts.append(box((-w / 2 + 0.02, h - 0.17, d / 2 - 0.01), (w / 2 - 0.02, h - 0.03, d / 2), color))
    parts.append(_handle(0.0, h - 0.1, d / 2, metal))
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2 - 0.01), h, 1.0)])


def _build_counter(rng, color, variant, n) -> Model:
    """A kitchen run: recessed plinth, base cabinets with handles, a worktop in an accent colour."""
    w, d, h = rng.uniform(1.2, 2.4), 0.6, 0.9
    top_color = _contrast(color, ("gray", "white", "black"))
    metal = _contrast(color, ("gray", "black"))
    parts = [
        box((-w / 2, 0.0, -d / 2), (w / 2, 0.1, d / 2 - 0.07), color),
        box((-w / 2, 0.1 + _SEAM, -d / 2), (w / 2, h - 0.04, d / 2 - 0.02), color),
        box((-w / 2, h - 0.04, -d / 2), (w / 2, h, d / 2), top_color),
    ]
    doors = max(1, int(w // 0.6))
    for i in range(doors):
        parts.append(_handle(-w / 2 + (i + 0.5) * w / doors, h - 0.15, d / 2 - 0.02, metal))
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 0.6)])


def _faucet(x: float, y: float, z: float, reach: float, n: int) -> list[Part]:
    """A riser and a spout reaching towards +Z, standing on y at (x, z)."""
    return [
        cylinder((x, y, z), 0.015, 0.2, "gray", n),
        cylinder((x, y + 0.18, z), 0.012, reach, "gray", n, axis="z"),
    ]


def _build_sink(rng, color, variant, n) -> Model:
    """A basin with a faucet; on a pedestal (bathroom) or, variant "basin", standing on a counter."""
    w, d = rng.uniform(0.45, 0.6), rng.uniform(0.38, 0.46)
    if variant == "basin":
        parts = _hollow_box((-w / 2, 0.0, -d / 2 + 0.06), (w / 2, 0.12, d / 2), 0.03, 0.03, color)
        return Model(parts + _faucet(0.0, 0.0, -d / 2 + 0.03, 0.12, n))
    parts = [box((-0.1, 0.0, -d / 2), (0.1, 0.7, -d / 2 + 0.22), color)]
    parts += _hollow_box((-w / 2, 0.7, -d / 2), (w / 2, 0.86, d / 2), 0.04, 0.05, color)
    return Model(parts + _faucet(0.0, 0.86, -d / 2 + 0.02, 0.12, n))


def _build_toilet(rng, color, variant, n) -> Model:
    """Bowl (frustum), seat, tank and its base (tank at -Z, against the wall)."""
    parts = [
        box((-0.12, 0.0, -0.33), (0.12, 0.38, -0.1), color),
        cylinder((0.0, 0.0, 0.05), 0.14, 0.38, color, n, top_radius=0.18),
        cylinder((0.0, 0.38, 0.05), 0.19, 0.03, color, n),
        box((-0.19, 0.38, -0.35), (0.19, 0.8, -0.15), color),
        _handle(-0.12, 0.74, -0.15, "gray", size=0.05),
    ]
    return Model(parts)


def _build_bathtub(rng, color, variant, n) -> Model:
    """A tub: solid base (its floor is above the agent's climb) and rims, with a faucet on one end."""
    w, d, h = rng.uniform(1.5, 1.8), rng.uniform(0.7, 0.8), rng.uniform(0.55, 0.6)
    parts = _hollow_box((-w / 2, 0.0, -d / 2), (w / 2, h, d / 2), 0.07, 0.3, color)
    parts.append(cylinder((-w / 2 + 0.035, h, 0.0), 0.015, 0.15, "gray", n))
    return Model(parts)


def _build_shower(rng, color, variant, n) -> Model:
    """A raised tray, three panels (front and sides; the back is the wall), a pole and a head."""
    w, d = rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0)
    tray, top, t = 0.22, 2.0, 0.01
    parts = [
        box((-w / 2, 0.0, -d / 2), (w / 2, tray, d / 2), "white"),
        box((-w / 2, tray, d / 2 - t), (w / 2, top, d / 2), color),
        box((-w / 2, tray, -d / 2), (-w / 2 + t, top, d / 2 - t), color),
        box((w / 2 - t, tray, -d / 2), (w / 2, top, d / 2 - t), color),
        cylinder((0.0, tray, -d / 2 + 0.03), 0.012, 1.75, "gray", n),
        cylinder((0.0, 1.9, -d / 2 + 0.03), 0.07, 0.03, "gray", n),
    ]
    return Model(parts)


def _build_fireplace(rng, color, variant, n) -> Model:
    """Hearth, two pillars, upper body, mantel shelf and a dark firebox filling the opening."""
    w, d, h = rng.uniform(1.2, 1.6), rng.uniform(0.45, 0.55), rng.uniform(1.05, 1.2)
    dark = _contrast(color, ("black", "gray"))
    p = 0.25
    parts = [
        box((-w / 2, 0.0, -d / 2), (w / 2, 0.06, d / 2), dark),
        box((-w / 2, 0.06 + _SEAM, -d / 2), (-w / 2 + p, h - 0.08, d / 2 - 0.1), color),
        box((w / 2 - p, 0.06 + _SEAM, -d / 2), (w / 2, h - 0.08, d / 2 - 0.1), color),
        box((-w / 2 + p, 0.75, -d / 2), (w / 2 - p, h - 0.08, d / 2 - 0.1), color),
        box((-w / 2, h - 0.08, -d / 2), (w / 2, h, d / 2 - 0.03), color),
        box((-w / 2 + p, 0.06, -d / 2), (w / 2 - p, 0.75, d / 2 - 0.15), dark),
    ]
    return Model(parts)


def _build_refrigerator(rng, color, variant, n) -> Model:
    """Body, fridge and freezer doors, two handles."""
    w, d, h = rng.uniform(0.6, 0.8), rng.uniform(0.62, 0.7), rng.uniform(1.7, 1.9)
    metal = _contrast(color, ("gray", "black"))
    split = h * 0.62
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.03, h, color),
        box((-w / 2 + 0.005, 0.04, d / 2 - 0.03), (w / 2 - 0.005, split - 0.005, d / 2), color),
        box((-w / 2 + 0.005, split + 0.005, d / 2 - 0.03), (w / 2 - 0.005, h - 0.01, d / 2), color),
        _handle(w / 2 - 0.06, split - 0.3, d / 2, metal, vertical=True, size=0.35),
        _handle(w / 2 - 0.06, split + 0.2, d / 2, metal, vertical=True, size=0.25),
    ]
    return Model(parts)


def _build_oven(rng, color, variant, n) -> Model:
    """Body, glass door, handle, knob strip and four burners on top."""
    w, d, h = 0.6, 0.6, 0.9
    dark = _contrast(color, ("black", "gray"))
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        box((-w / 2 + 0.05, 0.1, d / 2 - 0.02), (w / 2 - 0.05, 0.6, d / 2), dark),
        box((-w / 2 + 0.08, 0.65, d / 2 - 0.02), (w / 2 - 0.08, 0.67, d / 2 + 0.02), "gray"),
        box((-w / 2 + 0.03, 0.74, d / 2 - 0.02), (w / 2 - 0.03, 0.84, d / 2), dark),
    ]
    for sx in (-0.14, 0.14):
        for sz in (-0.13, 0.13):
            parts.append(cylinder((sx, h, sz), 0.08, 0.01, "black", n))
    return Model(parts)


def _build_microwave(rng, color, variant, n) -> Model:
    """Body, glass door and a control panel."""
    w, d, h = rng.uniform(0.45, 0.55), rng.uniform(0.34, 0.4), rng.uniform(0.27, 0.32)
    dark = _contrast(color, ("black", "gray"))
    parts = [
        box((-w / 2, 0.0, -d / 2), (w / 2, h, d / 2 - 0.01), color),
        box((-w / 2 + 0.03, 0.04, d / 2 - 0.01), (w / 2 - 0.15, h - 0.04, d / 2), dark),
        box((w / 2 - 0.12, 0.04, d / 2 - 0.01), (w / 2 - 0.03, h - 0.04, d / 2), _contrast(color, ("gray", "white"))),
    ]
    return Model(parts)


def _build_dishwasher(rng, color, variant, n) -> Model:
    """Body, door panel, control strip and handle."""
    w, d, h = 0.6, 0.58, 0.85
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        box((-w / 2 + 0.005, 0.08, d / 2 - 0.02), (w / 2 - 0.005, h - 0.1, d / 2), color),
        box((-w / 2 + 0.005, h - 0.09, d / 2 - 0.02), (w / 2 - 0.005, h - 0.01, d / 2), _contrast(color, ("black", "gray"))),
        _handle(0.0, h - 0.14, d / 2, "gray", size=0.3),
    ]
    return Model(parts)


def _build_washing_machine(rng, color, variant, n) -> Model:
    """Body, round door (ring + glass) and a control panel; its top holds bottles and towels."""
    w, d, h = 0.6, 0.58, 0.85
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        cylinder((0.0, 0.4, d / 2 - 0.02), 0.18, 0.02, "gray", n, axis="z"),
        cylinder((0.0, 0.4, d / 2), 0.14, 0.01, "black", n, axis="z"),
        box((-w / 2 + 0.03, h - 0.12, d / 2 - 0.02), (w / 2 - 0.03, h - 0.03, d / 2), _contrast(color, ("gray", "black"))),
    ]
    return Model(parts, [LocalSurface((-w / 2, -d / 2, w / 2, d / 2 - 0.02), h, 0.6)])


def _build_tv(rng, color, variant, n) -> Model:
    """A panel with a dark screen; on a stand (neck + base) unless variant is "wall"."""
    w = rng.uniform(0.8, 1.3)
    sh = w * 0.58
    y0 = 0.0 if variant == "wall" else 0.1
    z0 = -0.025 if variant == "wall" else -0.04
    parts = [
        box((-w / 2, y0, z0), (w / 2, y0 + sh, z0 + 0.04), color),
        box((-w / 2 + 0.02, y0 + 0.02, z0 + 0.04), (w / 2 - 0.02, y0 + sh - 0.02, z0 + 0.045), "black"),
    ]
    if variant != "wall":
        parts.append(box((-w * 0.2, 0.0, -0.1), (w * 0.2, 0.02, 0.1), color))
        parts.append(box((-0.03, 0.02, -0.03), (0.03, y0, 0.0), color))
    return Model(parts)


def _build_mirror(rng, color, variant, n) -> Model:
    """A frame (four bars) around a glass panel; back at -Z (on the wall)."""
    w, h, f = rng.uniform(0.45, 0.8), rng.uniform(0.6, 1.0), 0.04
    glass = _contrast(color, ("white", "gray"))
    parts = [box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.015), glass)]
    parts += _frame(w, h, f, 0.025, color)
    return Model(parts)


def _frame(w: float, h: float, f: float, depth: float, color: str) -> list[Part]:
    """Four bars framing a w x h rectangle (bottom at y = 0, back at z = 0)."""
    return [
        box((-w / 2, 0.0, 0.0), (w / 2, f, depth), color),
        box((-w / 2, h - f, 0.0), (w / 2, h, depth), color),
        box((-w / 2, f, 0.0), (-w / 2 + f, h - f, depth), color),
        box((w / 2 - f, f, 0.0), (w / 2, h - f, depth), color),
    ]


def _build_picture(rng, color, variant, n) -> Model:
    """A framed canvas in another palette colour."""
    w, h, f = rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.7), 0.035
    canvas = str(rng.choice([c for c in PALETTE if c != color]))
    parts = [box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.01), canvas)]
    parts += _frame(w, h, f, 0.03, color)
    return Model(parts)


def _build_window(rng, color, variant, n) -> Model:
    """A thin tinted pane with a frame and a mullion, on the inner face of an exterior wall."""
    w, h, f = rng.uniform(0.8, 1.4), float(variant or 1.1), 0.05
    trim = _contrast(color, ("white", "gray"))
    parts = [box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.01), color)]
    parts += _frame(w, h, f, 0.03, trim)
    parts.append(box((-0.02, f, 0.0), (0.02, h - f, 0.025), trim))
    return Model(parts)


def _build_clock(rng, color, variant, n) -> Model:
    """A round face (disk) with two hands; on the wall, or ("table") on a small box stand."""
    r = rng.uniform(0.12, 0.18) if variant != "table" else rng.uniform(0.06, 0.08)
    face = _contrast(color, ("white", "black"))
    hand = _contrast(face, ("black", "white"))
    cy = r if variant != "table" else r + 0.02
    z0 = 0.0 if variant != "table" else 0.0
    parts = [
        cylinder((0.0, cy, z0), r, 0.035, color, n, axis="z"),
        cylinder((0.0, cy, z0 + 0.035), r * 0.85, 0.004, face, n, axis="z"),
        box((-0.005, cy, z0 + 0.039), (0.005, cy + r * 0.7, z0 + 0.043), hand),
        box((0.0, cy - 0.005, z0 + 0.039), (r * 0.5, cy + 0.005, z0 + 0.043), hand),
    ]
    if variant == "table":
        parts.append(box((-r * 0.8, 0.0, -0.02), (r * 0.8, 0.02, 0.05), color))
    return Model(parts)


def _build_towel(rng, color, variant, n) -> Model:
    """Hanging (a rail on two brackets, the towel draped over it; back at -Z) or folded (a stack)."""
    w = rng.uniform(0.3, 0.5)
    if variant == "folded":
        d, t = rng.uniform(0.2, 0.25), 0.03
        return Model([box((-w / 2, i * t, -d / 2), (w / 2, (i + 1) * t, d / 2), color) for i in range(int(rng.integers(1, 4)))])
    h = rng.uniform(0.5, 0.7)
    top = h + 0.03
    parts = [
        box((-w / 2 - 0.06, top - 0.02, 0.0), (-w / 2 - 0.03, top + 0.02, 0.05), "gray"),
        box((w / 2 + 0.03, top - 0.02, 0.0), (w / 2 + 0.06, top + 0.02, 0.05), "gray"),
        capsule((0.0, top, 0.05), w + 0.06, 0.012, "gray", 8, axis="x"),
        box((-w / 2, 0.0, 0.062), (w / 2, top, 0.08), color),
        box((-w / 2, top - 0.25, 0.02), (w / 2, top, 0.038), color),
    ]
    return Model(parts)


def _build_laptop(rng, color, variant, n) -> Model:
    """Base with a keyboard, and a lid with a screen opened ~105 degrees (hinge at the back, -Z)."""
    w, d = rng.uniform(0.3, 0.36), rng.uniform(0.21, 0.25)
    parts = [
        box((-w / 2, 0.0, -d / 2), (w / 2, 0.02, d / 2), color),
        box((-w / 2 + 0.02, 0.02, -d / 2 + 0.02), (w / 2 - 0.02, 0.022, 0.0), "black"),
    ]
    lid = [
        box((-w / 2, 0.0, 0.0), (w / 2, d, 0.008), color),
        box((-w / 2 + 0.01, 0.01, 0.008), (w / 2 - 0.01, d - 0.01, 0.01), "black"),
    ]
    a = math.radians(-15.0)  # lean back (towards -Z)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    hinge = np.array([0.0, 0.02, -d / 2])
    parts += [Part(p.vertices @ rot.T + hinge, p.faces, p.color) for p in lid]
    return Model(parts)


def _build_bottle(rng, color, variant, n) -> Model:
    """Body, shoulder (frustum), neck and cap."""
    r, h = rng.uniform(0.03, 0.04), rng.uniform(0.14, 0.22)
    cap = _contrast(color, ("white", "black"))
    parts = [
        cylinder((0.0, 0.0, 0.0), r, h, color, n),
        cylinder((0.0, h, 0.0), r, 0.04, color, n, top_radius=0.012),
        cylinder((0.0, h + 0.04, 0.0), 0.012, 0.03, color, n),
        cylinder((0.0, h + 0.07, 0.0), 0.014, 0.015, cap, n),
    ]
    return Model(parts)


def _build_vase(rng, color, variant, n) -> Model:
    """A foot, a round body (ellipsoid) and a flared neck (frustum)."""
    r, h = rng.uniform(0.06, 0.09), rng.uniform(0.15, 0.25)
    parts = [
        cylinder((0.0, 0.0, 0.0), r * 0.6, 0.02, color, n),
        ellipsoid((0.0, 0.01, 0.0), (r, h / 2, r), color),
        cylinder((0.0, h * 0.9, 0.0), r * 0.35, h * 0.35, color, n, top_radius=r * 0.55),
    ]
    return Model(parts)


def _build_plant(rng, color, variant, n) -> Model:
    """A pot (frustum) with soil and green foliage: one to three blobs, or a little conifer (cone)."""
    r, h = rng.uniform(0.06, 0.1), rng.uniform(0.1, 0.18)
    parts = [
        cylinder((0.0, 0.0, 0.0), r, h, color, n, top_radius=r * 1.25),
        cylinder((0.0, h, 0.0), r * 1.1, 0.01, "brown", n),
    ]
    if rng.random() < 0.3:
        return Model(parts + [cone((0.0, h + 0.01, 0.0), r * 1.3, rng.uniform(0.2, 0.35), "green", n)])
    for _ in range(int(rng.integers(1, 4))):
        fx, fz = rng.uniform(-0.3, 0.3, size=2) * r
        size = rng.uniform(1.1, 1.6) * r
        parts.append(ellipsoid((fx, h + rng.uniform(0.0, 0.06), fz), (size, size * rng.uniform(1.0, 1.6), size), "green"))
    return Model(parts)


def _build_lamp(rng, color, variant, n) -> Model:
    """Base, pole and a shade (frustum) in the lamp's colour."""
    base_color = _contrast(color, ("black", "gray", "white"))
    pole_h, shade_r = rng.uniform(0.25, 0.4), rng.uniform(0.11, 0.15)
    parts = [
        cylinder((0.0, 0.0, 0.0), rng.uniform(0.07, 0.09), 0.03, base_color, n),
        cylinder((0.0, 0.03, 0.0), 0.01, pole_h, base_color, n),
        cylinder((0.0, pole_h - 0.08, 0.0), shade_r, rng.uniform(0.15, 0.2), color, n, top_radius=shade_r * 0.6),
    ]
    return Model(parts)


def _build_mug(rng, color, variant, n) -> Model:
    """A cylinder with a C-shaped handle on +X."""
    r, h = rng.uniform(0.035, 0.045), rng.uniform(0.085, 0.105)
    t = 0.006
    parts = [
        cylinder((0.0, 0.0, 0.0), r, h, color, n),
        box((r - 0.002, h - 0.03, -t), (r + 0.03, h - 0.02, t), color),
        box((r - 0.002, 0.02, -t), (r + 0.03, 0.03, t), color),
        box((r + 0.02, 0.03, -t), (r + 0.03, h - 0.03, t), color),
    ]
    return Model(parts)


def _build_book(rng, color, variant, n) -> Model:
    """Two covers, a spine and white pages; lying flat or ("upright") standing with its spine at +Z."""
    w, l, t, c = rng.uniform(0.14, 0.2), rng.uniform(0.2, 0.27), rng.uniform(0.02, 0.05), 0.004
    pages = _contrast(color, ("white", "beige"))
    if variant == "upright":
        parts = [
            box((-t / 2, 0.0, -w / 2), (-t / 2 + c, l, w / 2), color),
            box((t / 2 - c, 0.0, -w / 2), (t / 2, l, w / 2), color),
            box((-t / 2 + c, 0.0, w / 2 - c), (t / 2 - c, l, w / 2), color),
            box((-t / 2 + c, 0.005, -w / 2 + 0.005), (t / 2 - c, l - 0.005, w / 2 - c), pages),
        ]
        return Model(parts)
    parts = [
        box((-w / 2, 0.0, -l / 2), (w / 2, c, l / 2), color),
        box((-w / 2, t - c, -l / 2), (w / 2, t, l / 2), color),
        box((-w / 2, c, -l / 2), (-w / 2 + c, t - c, l / 2), color),
        box((-w / 2 + c, c, -l / 2 + 0.005), (w / 2 - 0.005, t - c, l / 2 - 0.005), pages),
    ]
    return Model(parts)


def _build_pillow(rng, color, variant, n) -> Model:
    """A flattened ellipsoid."""
    return Model([ellipsoid((0.0, 0.0, 0.0), (rng.uniform(0.2, 0.27), rng.uniform(0.06, 0.08), rng.uniform(0.14, 0.17)), color)])


def _build_bowl(rng, color, variant, n) -> Model:
    """A flared frustum."""
    rb = rng.uniform(0.04, 0.05)
    return Model([cylinder((0.0, 0.0, 0.0), rb, rng.uniform(0.05, 0.07), color, n, top_radius=rb * rng.uniform(1.8, 2.2))])


def _build_trash_can(rng, color, variant, n) -> Model:
    """A frustum bin with a lid."""
    r, h = rng.uniform(0.11, 0.14), rng.uniform(0.35, 0.45)
    lid = _contrast(color, ("black", "gray"))
    return Model([cylinder((0.0, 0.0, 0.0), r, h, color, n, top_radius=r * 1.15), cylinder((0.0, h, 0.0), r * 1.2, 0.02, lid, n)])


def _build_front_door(rng, color, variant, n) -> Model:
    """A closed door leaf with jambs, a head trim and a knob, mounted on a wall (back at -Z)."""
    w, h = float(variant.split(",")[0]), float(variant.split(",")[1])
    parts = [
        box((-w / 2, 0.0, 0.0), (w / 2, h, 0.04), color),
        box((-w / 2 - DOOR_TRIM, 0.0, 0.0), (-w / 2, h, 0.05), color),
        box((w / 2, 0.0, 0.0), (w / 2 + DOOR_TRIM, h, 0.05), color),
        box((-w / 2 - DOOR_TRIM, h, 0.0), (w / 2 + DOOR_TRIM, h + DOOR_TRIM, 0.05), color),
        cylinder((w / 2 - 0.08, 1.0, 0.04), 0.025, 0.05, _contrast(color, ("gray", "yellow")), n, axis="z"),
    ]
    return Model(parts)


_BUILDERS: dict[str, _Builder] = {
    "table": _build_table,
    "chair": _build_chair,
    "stool": _build_stool,
    "sofa": _build_sofa,
    "armchair": _build_armchair,
    "bed": _build_bed,
    "desk": _build_desk,
    "cabinet": _build_cabinet,
    "wardrobe": _build_wardrobe,
    "bookshelf": _build_bookshelf,
    "nightstand": _build_nightstand,
    "counter": _build_counter,
    "sink": _build_sink,
    "toilet": _build_toilet,
    "bathtub": _build_bathtub,
    "shower": _build_shower,
    "fireplace": _build_fireplace,
    "refrigerator": _build_refrigerator,
    "oven": _build_oven,
    "microwave": _build_microwave,
    "dishwasher": _build_dishwasher,
    "washing machine": _build_washing_machine,
    "tv": _build_tv,
    "mirror": _build_mirror,
    "picture": _build_picture,
    "window": _build_window,
    "clock": _build_clock,
    "towel": _build_towel,
    "laptop": _build_laptop,
    "bottle": _build_bottle,
    "vase": _build_vase,
    "plant": _build_plant,
    "lamp": _build_lamp,
    "mug": _build_mug,
    "book": _build_book,
    "pillow": _build_pillow,
    "bowl": _build_bowl,
    "trash can": _build_trash_can,
    "door": _build_front_door,
}


def build_model(rng: np.random.Generator, category: str, color: str, variant: str, cfg: HouseConfig) -> Model:
    """A fresh model of ``category`` (sizes drawn from ``rng``) in its own frame."""
    return _BUILDERS[category](rng, color, variant, cfg.cylinder_sections)
