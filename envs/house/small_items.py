"""Small objects (mugs, books, lamps...) standing on the support surfaces of the items already placed."""

from __future__ import annotations

import numpy as np

from envs.house.config import HouseConfig
from envs.house.geometry import boxes_intersect, overlaps
from envs.house.models import build_model
from envs.house.placement import commit, rotated_rect, translation
from envs.house.recipes import RECIPES, SmallSpec
from envs.house.room_state import Item, RoomState
from envs.house.vocabulary import pick_color

_TURNABLE = ("mug", "bottle", "vase", "plant", "bowl", "book", "towel")


def _place_small(rng: np.random.Generator, st: RoomState, spec: SmallSpec, cfg: HouseConfig) -> Item | None:
    """One small object on a random free spot of a supporting surface, bottom at the surface height."""
    surfaces = [s for s in st.surfaces if s.owner in spec.supports]
    if not surfaces:
        return None
    color = pick_color(rng, spec.category)
    mounted = [i for i in st.items if i.mounted]
    for _ in range(10):
        s = surfaces[int(rng.integers(len(surfaces)))]
        variant = spec.variant or ("upright" if spec.category == "book" and s.kind == "shelf" else "")
        model = build_model(rng, spec.category, color, variant, cfg)
        q = (s.q + int(rng.integers(4))) % 4 if spec.category in _TURNABLE and variant != "upright" else s.q
        local, height = rotated_rect(model, q)
        w, d = local[2] - local[0], local[3] - local[1]
        x0, z0, x1, z1 = s.rect
        if height > s.clearance - 0.02 or w > x1 - x0 - 0.04 or d > z1 - z0 - 0.04:
            continue
        x, z = rng.uniform(x0 + 0.02, x1 - 0.02 - w), rng.uniform(z0 + 0.02, z1 - 0.02 - d)
        rect = (x, z, x + w, z + d)
        if any(overlaps(rect, o, 0.02) for o in s.occupied):
            continue
        lo, hi = np.array([rect[0], s.height, rect[1]]), np.array([rect[2], s.height + height, rect[3]])
        if any(boxes_intersect(lo, hi, i.lo, i.hi, 0.01) for i in mounted):
            continue
        s.occupied.append(rect)
        return commit(st, spec.category, color, model, q, translation(local, rect, s.height), None, floor=False)
    return None


def place_small_items(rng: np.random.Generator, st: RoomState, cfg: HouseConfig) -> None:
    """Every small object of the room's recipe."""
    for spec in RECIPES[st.room.type].small:
        if rng.random() >= spec.probability:
            continue
        if spec.unique and any(i.category == spec.category for i in st.items):
            continue
        for _ in range(int(rng.integers(spec.count[0], spec.count[1] + 1))):
            _place_small(rng, st, spec, cfg)
