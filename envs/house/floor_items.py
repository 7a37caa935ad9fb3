"""Floor items: furniture against a wall, free-standing or next to another item, keeping the room passable."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.house.config import HouseConfig
from envs.house.geometry import SIDES, Rect, inside, interior_span, overlaps
from envs.house.models import Model, build_model
from envs.house.passability import passable
from envs.house.placement import against_wall, commit, rotated_rect, translation
from envs.house.recipes import RECIPES
from envs.house.room_state import Item, RoomState
from envs.house.vocabulary import pick_color

_DIRS = ((0, 1), (1, 0), (0, -1), (-1, 0))  # (dx, dz) of local +Z after q quarter turns about +Y


def _floor_rect_ok(st: RoomState, rect: Rect, cfg: HouseConfig) -> bool:
    """Inside the room, clear of other floor items (with the gap) and of door keep-out zones."""
    if not inside(rect, st.interior):
        return False
    if any(overlaps(rect, r, cfg.furniture_gap) for r in st.floor_rects):
        return False
    return not any(overlaps(rect, k) for k in st.keepout)


def _wall_candidate(rng: np.random.Generator, st: RoomState, local_of: Callable[[int], Rect]) -> tuple[int, Rect] | None:
    """A random (q, footprint) against a random side, snapping to a corner a third of the time."""
    lengths = np.array([np.subtract(*interior_span(st.interior, s)[::-1]) for s in SIDES])
    q = int(rng.choice(4, p=lengths / lengths.sum()))
    side = SIDES[q]
    local = local_of(q)
    along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
    lo, hi = interior_span(st.interior, side)
    if hi - lo < along:
        return None
    r = rng.random()
    u = lo + along / 2 if r < 0.17 else hi - along / 2 if r < 0.34 else rng.uniform(lo + along / 2, hi - along / 2)
    return q, against_wall(st, side, local, float(u), 0.01)


def _free_candidate(rng: np.random.Generator, st: RoomState, local_of: Callable[[int], Rect]) -> tuple[int, Rect] | None:
    """A random (q, footprint) anywhere in the room."""
    q = int(rng.integers(4))
    local = local_of(q)
    w, d = local[2] - local[0], local[3] - local[1]
    ix0, iz0, ix1, iz1 = st.interior
    if ix1 - ix0 < w + 0.2 or iz1 - iz0 < d + 0.2:
        return None
    x = rng.uniform(ix0 + 0.1, ix1 - 0.1 - w)
    z = rng.uniform(iz0 + 0.1, iz1 - 0.1 - d)
    return q, (x, z, x + w, z + d)


def _relative_candidate(
    rng: np.random.Generator, st: RoomState, anchor: Item, relation: str, local_of: Callable[[int], Rect]
) -> tuple[int, Rect] | None:
    """A (q, footprint) next to ``anchor``: beside it on its wall, in front of it, or around a table."""
    a = anchor.rect
    if relation == "beside":
        q = anchor.q
        local = local_of(q)
        side = SIDES[q]
        along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
        a_lo, a_hi = (a[0], a[2]) if side in ("zmin", "zmax") else (a[1], a[3])
        gap = 0.06
        u = a_hi + gap + along / 2 if rng.random() < 0.5 else a_lo - gap - along / 2
        return q, against_wall(st, side, local, float(u), 0.01)
    if relation == "front":
        direction = anchor.q
        q = anchor.q if anchor.category != "desk" else (anchor.q + 2) % 4
        gap = rng.uniform(0.35, 0.45) if anchor.category == "sofa" else 0.06
        lateral = 0.0 if anchor.category == "sofa" else rng.uniform(-0.2, 0.2)
    else:  # around
        w, d = a[2] - a[0], a[3] - a[1]
        weights = np.array([w, d, w, d])
        direction = int(rng.choice(4, p=weights / weights.sum()))
        q = (direction + 2) % 4
        gap = 0.06
        span = w if direction in (0, 2) else d
        slots = max(1, int(span // 0.6))
        lateral = (int(rng.integers(slots)) + 0.5) * span / slots - span / 2
    return q, _next_to(a, direction, local_of(q), gap, lateral)


def _next_to(a: Rect, direction: int, local: Rect, gap: float, lateral: float) -> Rect:
    """Footprint ``local`` placed ``gap`` beyond side ``direction`` of rect ``a``, shifted ``lateral``."""
    dx, dz = _DIRS[direction]
    w, d = local[2] - local[0], local[3] - local[1]
    cx, cz = (a[0] + a[2]) / 2 + (lateral if dz else 0.0), (a[1] + a[3]) / 2 + (lateral if dx else 0.0)
    if dz > 0:
        return (cx - w / 2, a[3] + gap, cx + w / 2, a[3] + gap + d)
    if dz < 0:
        return (cx - w / 2, a[1] - gap - d, cx + w / 2, a[1] - gap)
    if dx > 0:
        return (a[2] + gap, cz - d / 2, a[2] + gap + w, cz + d / 2)
    return (a[0] - gap - w, cz - d / 2, a[0] - gap, cz + d / 2)


_FLOOR_ATTEMPTS = 14


def _place_floor_item(
    rng: np.random.Generator, st: RoomState, category: str, variant: str, mode: str, cfg: HouseConfig,
    anchor: Item | None = None,
) -> Item | None:  # fmt: skip
    """Try random positions for one floor item; the first that passes every check is committed."""
    color = pick_color(rng, category)
    model = build_model(rng, category, color, variant, cfg)
    for attempt in range(_FLOOR_ATTEMPTS):
        if attempt and attempt % 4 == 0:
            model = build_model(rng, category, color, variant, cfg)  # try another size

        def local_of(q: int, model: Model = model) -> Rect:
            return rotated_rect(model, q)[0]

        if anchor is not None:
            cand = _relative_candidate(rng, st, anchor, mode, local_of)
        elif mode == "free":
            cand = _free_candidate(rng, st, local_of)
        else:
            cand = _wall_candidate(rng, st, local_of)
        if cand is None:
            continue
        q, rect = cand
        if not _floor_rect_ok(st, rect, cfg) or not passable(st, rect, cfg):
            continue
        side = SIDES[q] if (anchor is None and mode == "wall") or mode == "beside" else None
        return commit(st, category, color, model, q, translation(local_of(q), rect), side, floor=True)
    return None


def place_floor_items(rng: np.random.Generator, st: RoomState, cfg: HouseConfig) -> None:
    """Every floor item of the room's recipe, with their companions."""
    for spec in RECIPES[st.room.type].floor:
        if spec.unless and any(i.category == spec.unless for i in st.items):
            continue
        if rng.random() >= spec.probability:
            continue
        for _ in range(int(rng.integers(spec.count[0], spec.count[1] + 1))):
            item = _place_floor_item(rng, st, spec.category, spec.variant, spec.mode, cfg)
            if item is None:
                break
            for comp in spec.companions:
                if rng.random() >= comp.probability:
                    continue
                for _ in range(int(rng.integers(comp.count[0], comp.count[1] + 1))):
                    _place_floor_item(rng, st, comp.category, comp.variant, comp.relation, cfg, anchor=item)
