"""Structure: each room's floor, ceiling and walls (split at door gaps, with lintels), and the door frames."""

from __future__ import annotations

import numpy as np

from envs.house.config import DOOR_TRIM, HouseConfig
from envs.house.geometry import EPS, SIDES
from envs.house.layout import Door, Room
from envs.house.primitives import Part, box
from envs.house.room_state import Item, RoomState, item_from_parts
from envs.house.vocabulary import COLORS, WET_FLOOR_COLORS


def room_structure(rng: np.random.Generator, st: RoomState, cfg: HouseConfig) -> list[Item]:
    """The room's floor slab, ceiling slab and one wall object per side (slabs between door gaps + lintels)."""
    room = st.room
    x0, z0, x1, z1 = room.rect
    wet = room.type in ("bathroom", "kitchen", "laundry room")
    floor_color = str(rng.choice(WET_FLOOR_COLORS if wet else COLORS["floor"]))
    wall_color = str(rng.choice(COLORS["wall"]))
    items = [
        item_from_parts("floor", floor_color, [box((x0, -0.05, z0), (x1, 0.0, z1), floor_color)], room.name),
        item_from_parts(
            "ceiling", "white", [box((x0, cfg.wall_height, z0), (x1, cfg.wall_height + 0.05, z1), "white")], room.name
        ),
    ]
    for side in SIDES:
        gaps = sorted((c - g / 2, c + g / 2) for s, c, g, real in st.openings if s == side and real)
        parts = _wall_parts(room, side, gaps, wall_color, cfg)
        items.append(item_from_parts("wall", wall_color, parts, room.name, side=side))
    return items


def _wall_parts(room: Room, side: str, gaps: list[tuple[float, float]], color: str, cfg: HouseConfig) -> list[Part]:
    """Boxes of one room side: half-thickness inward (full thickness when exterior), split at door gaps,
    with a lintel over each gap. Sides along x span the corners; sides along z stop at their faces."""
    h = cfg.wall_thickness / 2
    x0, z0, x1, z1 = room.rect
    ext = room.exterior
    if side in ("zmin", "zmax"):
        a = x0 - (h if ext["xmin"] else 0.0)
        b = x1 + (h if ext["xmax"] else 0.0)
        line, inward = (z0, 1.0) if side == "zmin" else (z1, -1.0)
    else:
        a, b = z0 + h, z1 - h
        line, inward = (x0, 1.0) if side == "xmin" else (x1, -1.0)
    n_lo, n_hi = sorted((line + inward * h, line - inward * (h if ext[side] else 0.0)))

    def slab(t0: float, t1: float, y0: float, y1: float) -> Part:
        if side in ("zmin", "zmax"):
            return box((t0, y0, n_lo), (t1, y1, n_hi), color)
        return box((n_lo, y0, t0), (n_hi, y1, t1), color)

    parts, start = [], a
    for g0, g1 in gaps:
        if g0 > start + EPS:
            parts.append(slab(start, g0, 0.0, cfg.wall_height))
        parts.append(slab(g0, g1, cfg.door_height + DOOR_TRIM, cfg.wall_height))
        start = g1
    if b > start + EPS:
        parts.append(slab(start, b, 0.0, cfg.wall_height))
    return parts


def door_frames(rng: np.random.Generator, doors: list[Door], rooms: list[Room], cfg: HouseConfig) -> list[Item]:
    """Two jambs and a head trim (category "door") in every opening, 1 cm proud of both wall faces."""
    items = []
    h = cfg.wall_thickness / 2 + 0.01
    for door in doors:
        if door.rooms[1] is None:
            continue
        room = rooms[door.rooms[0]]
        side = door.sides[0]
        line = {"xmin": room.rect[0], "zmin": room.rect[1], "xmax": room.rect[2], "zmax": room.rect[3]}[side]
        g0, g1 = door.center - door.gap / 2, door.center + door.gap / 2
        color = str(rng.choice(COLORS["door"]))
        spans = [  # (along-wall start, end, bottom, top) of the two jambs and the head
            (g0, g0 + DOOR_TRIM, 0.0, cfg.door_height),
            (g1 - DOOR_TRIM, g1, 0.0, cfg.door_height),
            (g0, g1, cfg.door_height, cfg.door_height + DOOR_TRIM),
        ]
        parts = []
        for t0, t1, y0, y1 in spans:
            if side in ("zmin", "zmax"):
                parts.append(box((t0, y0, line - h), (t1, y1, line + h), color))
            else:
                parts.append(box((line - h, y0, t0), (line + h, y1, t1), color))
        items.append(item_from_parts("door", color, parts, room.name))
    return items
