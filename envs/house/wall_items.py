"""Wall items: windows, mirrors, pictures, clocks, wall TVs, hanging towels and the front door, flush on
the inner wall faces."""

from __future__ import annotations

import numpy as np

from envs.house.config import HouseConfig
from envs.house.geometry import SIDES, Rect, boxes_intersect, interior_span
from envs.house.layout import Door
from envs.house.models import Model, build_model
from envs.house.placement import against_wall, commit, rotated_rect, transform, translation
from envs.house.recipes import RECIPES
from envs.house.room_state import Item, RoomState, item_from_parts
from envs.house.vocabulary import pick_color


def _wall_free(st: RoomState, side: str, a: float, b: float, margin: float) -> bool:
    """Whether [a, b] along ``side`` lies inside the wall and ``margin`` clear of its door openings."""
    lo, hi = interior_span(st.interior, side)
    if a < lo + 0.05 or b > hi - 0.05:
        return False
    return not any(s == side and a < c + g / 2 + margin and c - g / 2 - margin < b for s, c, g, _ in st.openings)


def _mount(
    st: RoomState, model: Model, side: str, u: float, bottom: float, cfg: HouseConfig
) -> tuple[Rect, np.ndarray, np.ndarray] | None:
    """Footprint and 3D box of ``model`` flush on ``side``'s inner face at ``u`` with its bottom at
    ``bottom``, or None when it would leave the wall, cover a door or hit another item."""
    q = SIDES.index(side)
    local, height = rotated_rect(model, q)
    rect = against_wall(st, side, local, u, 0.0)
    a, b = (rect[0], rect[2]) if side in ("zmin", "zmax") else (rect[1], rect[3])
    if not _wall_free(st, side, a, b, 0.15) or bottom + height > cfg.wall_height - 0.05:
        return None
    lo = np.array([rect[0], bottom, rect[1]])
    hi = np.array([rect[2], bottom + height, rect[3]])
    if any(boxes_intersect(lo, hi, i.lo, i.hi, 0.01) for i in st.items):
        return None
    return rect, lo, hi


def _place_on_wall(
    rng: np.random.Generator, st: RoomState, category: str, variant: str, bottoms: tuple[float, float],
    sides: list[str], cfg: HouseConfig, above: str = "",
) -> Item | None:  # fmt: skip
    """Try random spots on ``sides`` (or above an item of category ``above``) for a wall item."""
    if not sides:
        return None
    color = pick_color(rng, category)
    model = build_model(rng, category, color, variant, cfg)
    targets = [i for i in st.items if above and i.category == above and i.side in sides]
    for attempt in range(10):
        if targets and attempt < 3:
            anchor = targets[attempt % len(targets)]
            side = anchor.side
            u = (anchor.lo[0] + anchor.hi[0]) / 2 if side in ("zmin", "zmax") else (anchor.lo[2] + anchor.hi[2]) / 2
            bottom = float(anchor.hi[1]) + rng.uniform(0.2, 0.3)
        else:
            side = sides[int(rng.integers(len(sides)))]
            lo, hi = interior_span(st.interior, side)
            u, bottom = rng.uniform(lo, hi), rng.uniform(*bottoms)
        placed = _mount(st, model, side, float(u), float(bottom), cfg)
        if placed is None:
            continue
        q = SIDES.index(side)
        t = translation(rotated_rect(model, q)[0], placed[0], float(bottom))
        return commit(st, category, color, model, q, t, side, floor=False)
    return None


def place_windows(rng: np.random.Generator, st: RoomState, cfg: HouseConfig) -> None:
    """Windows on the room's exterior sides (sill at 0.95 m)."""
    sides = [s for s in SIDES if st.room.exterior[s]]
    lo, hi = RECIPES[st.room.type].windows
    height = min(1.1, cfg.wall_height - 0.95 - 0.3)
    if height < 0.3:
        return
    for _ in range(int(rng.integers(lo, hi + 1))):
        _place_on_wall(rng, st, "window", f"{height:.3f}", (0.95, 0.95), sides, cfg)


def place_wall_items(rng: np.random.Generator, st: RoomState, cfg: HouseConfig) -> None:
    """Mirrors, pictures, clocks, wall TVs and hanging towels of the room's recipe."""
    for spec in RECIPES[st.room.type].wall:
        if rng.random() >= spec.probability:
            continue
        for _ in range(int(rng.integers(spec.count[0], spec.count[1] + 1))):
            _place_on_wall(rng, st, spec.category, spec.variant, spec.bottom, list(SIDES), cfg, spec.above)


def place_front_door(rng: np.random.Generator, st: RoomState, door: Door, cfg: HouseConfig) -> Item:
    """The closed front door leaf, flush on the inner face of its exterior wall."""
    color = pick_color(rng, "door")
    model = build_model(rng, "door", color, f"{cfg.door_width},{cfg.door_height}", cfg)
    side = door.sides[0]
    q = SIDES.index(side)
    local = rotated_rect(model, q)[0]
    rect = against_wall(st, side, local, door.center, 0.0)
    parts, _ = transform(model, q, translation(local, rect))
    item = item_from_parts("door", color, parts, st.room.name, q, side, mounted=True)
    st.items.append(item)
    return item
