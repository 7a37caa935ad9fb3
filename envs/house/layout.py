"""Layout: the footprint split into rooms, their types and names, and the doors between them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.house.config import DOOR_MARGIN, DOOR_TRIM, HouseConfig
from envs.house.geometry import EPS, SIDES, Rect
from envs.house.vocabulary import ROOM_TYPES


@dataclass
class Room:
    """A room of the layout: its rect, which sides are exterior walls, its type and region name."""

    rect: Rect  # wall centre lines
    exterior: dict[str, bool]
    type: str = ""
    name: str = ""


@dataclass(frozen=True)
class Door:
    """A door on the wall line shared by rooms[0] and rooms[1] (None: the front door, a closed leaf).

    ``sides[k]`` is the side of rooms[k] the door is on, ``center`` its position along the wall (metres),
    ``gap`` the full opening including the two jambs."""

    rooms: tuple[int, int | None]
    sides: tuple[str, str | None]
    center: float
    gap: float


def layout_rooms(rng: np.random.Generator, cfg: HouseConfig) -> list[Room]:
    """Draw a footprint and split it into rooms (see the ``envs.house`` package docstring); world x/z, centred."""
    n = int(rng.integers(cfg.min_rooms, cfg.max_rooms + 1))
    min_side = cfg.min_room_size + cfg.wall_thickness
    for attempt in range(40):
        w, d = _draw_footprint(rng, n, cfg, grow=attempt / 39.0)
        rects = _split(rng, (-w / 2, -d / 2, w / 2, d / 2), n, min_side)
        if rects is not None:
            footprint = (-w / 2, -d / 2, w / 2, d / 2)
            return [Room(r, _exterior_sides(r, footprint)) for r in rects]
    raise RuntimeError(
        f"could not split a footprint into {n} rooms of at least {min_side:.2f} m; lower max_rooms or raise footprint_max"
    )


def _draw_footprint(rng: np.random.Generator, n: int, cfg: HouseConfig, grow: float) -> tuple[float, float]:
    """Footprint sides (metres, 10 cm grid) for ``n`` rooms; ``grow`` in [0, 1] pushes towards footprint_max."""
    area = n * rng.uniform(*cfg.room_area_range) * (1.0 + 2.0 * grow)
    aspect = rng.uniform(0.75, 1.33)
    w = float(np.clip(math.sqrt(area * aspect), cfg.footprint_min, cfg.footprint_max))
    d = float(np.clip(area / w, cfg.footprint_min, cfg.footprint_max))
    return math.floor(w * 10.0) / 10.0, math.floor(d * 10.0) / 10.0


def _split(rng: np.random.Generator, footprint: Rect, n: int, min_side: float) -> list[Rect] | None:
    """Guillotine-split ``footprint`` into ``n`` rectangles with sides >= ``min_side``, or None."""
    rects = [footprint]
    while len(rects) < n:
        sizes = [(r[2] - r[0], r[3] - r[1]) for r in rects]
        can = [i for i, (w, d) in enumerate(sizes) if max(w, d) >= 2 * min_side]
        if not can:
            return None
        areas = np.array([sizes[i][0] * sizes[i][1] for i in can])
        i = can[int(rng.choice(len(can), p=areas / areas.sum()))]
        x0, z0, x1, z1 = rects.pop(i)
        w, d = x1 - x0, z1 - z0
        along_x = w >= 2 * min_side and (d < 2 * min_side or (w >= d) == (rng.random() < 0.8))
        lo, hi = (x0, x1) if along_x else (z0, z1)
        cut = lo + min_side + (hi - lo - 2 * min_side) * rng.beta(2.0, 2.0)
        cut = float(np.clip(round(cut * 20.0) / 20.0, lo + min_side, hi - min_side))
        halves = [(x0, z0, cut, z1), (cut, z0, x1, z1)] if along_x else [(x0, z0, x1, cut), (x0, cut, x1, z1)]
        rects[i:i] = halves
    return rects


def _exterior_sides(r: Rect, footprint: Rect) -> dict[str, bool]:
    return {
        "xmin": abs(r[0] - footprint[0]) < EPS,
        "zmin": abs(r[1] - footprint[1]) < EPS,
        "xmax": abs(r[2] - footprint[2]) < EPS,
        "zmax": abs(r[3] - footprint[3]) < EPS,
    }


_SIZE_RANK = {  # larger ranks get larger rooms
    "living room": 7, "dining room": 5, "kitchen": 4, "bedroom": 4, "office": 3, "hallway": 2, "laundry room": 1,
    "bathroom": 0,
}  # fmt: skip


def assign_room_types(rng: np.random.Generator, rooms: list[Room]) -> None:
    """Give every room a type (core types first, then distinct extras) and a unique name; larger types
    go to larger rooms."""
    extras = list(ROOM_TYPES[4:])
    n = len(rooms)
    chosen = list(ROOM_TYPES[: min(n, 4)])
    pool = [extras[i] for i in rng.permutation(len(extras))]
    while len(chosen) < n:
        chosen.append(pool.pop(0) if pool else str(rng.choice(("bedroom", "office", "bathroom"))))
    jitter = rng.uniform(0.0, 1.5, size=n)
    by_size = sorted(range(n), key=lambda i: _SIZE_RANK[chosen[i]] + jitter[i])
    areas = [(r.rect[2] - r.rect[0]) * (r.rect[3] - r.rect[1]) for r in rooms]
    by_area = sorted(range(n), key=lambda i: areas[i])
    seen: dict[str, int] = {}
    for type_index, room_index in zip(by_size, by_area):
        rooms[room_index].type = chosen[type_index]
    for room in rooms:
        seen[room.type] = seen.get(room.type, 0) + 1
        room.name = room.type if seen[room.type] == 1 else f"{room.type} {seen[room.type]}"


def _shared_walls(rooms: list[Room]) -> list[tuple[int, int, str, str, float, float]]:
    """(i, j, side of i, side of j, start, end) for every wall segment two rooms share (metres along it)."""
    out = []
    for i, a in enumerate(rooms):
        for j in range(i + 1, len(rooms)):
            b = rooms[j]
            ax0, az0, ax1, az1 = a.rect
            bx0, bz0, bx1, bz1 = b.rect
            lo_z, hi_z = max(az0, bz0), min(az1, bz1)
            lo_x, hi_x = max(ax0, bx0), min(ax1, bx1)
            if abs(ax1 - bx0) < EPS and hi_z > lo_z:
                out.append((i, j, "xmax", "xmin", lo_z, hi_z))
            elif abs(ax0 - bx1) < EPS and hi_z > lo_z:
                out.append((i, j, "xmin", "xmax", lo_z, hi_z))
            elif abs(az1 - bz0) < EPS and hi_x > lo_x:
                out.append((i, j, "zmax", "zmin", lo_x, hi_x))
            elif abs(az0 - bz1) < EPS and hi_x > lo_x:
                out.append((i, j, "zmin", "zmax", lo_x, hi_x))
    return out


def plan_doors(rng: np.random.Generator, rooms: list[Room], cfg: HouseConfig) -> list[Door]:
    """Doors on a random spanning tree of the room adjacency graph, plus maybe one extra."""
    gap = cfg.door_width + 2 * DOOR_TRIM
    need = gap + 2 * DOOR_MARGIN
    walls = [w for w in _shared_walls(rooms) if w[5] - w[4] >= need]
    order = [walls[k] for k in rng.permutation(len(walls))]
    parent = list(range(len(rooms)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    tree, rest = [], []
    for wall in order:
        a, b = root(wall[0]), root(wall[1])
        if a != b:
            parent[a] = b
            tree.append(wall)
        else:
            rest.append(wall)
    if len({root(k) for k in range(len(rooms))}) > 1:
        raise RuntimeError("rooms are not all joined by walls long enough for a door; raise min_room_size")
    if rest and rng.random() < cfg.extra_door_probability:
        tree.append(rest[int(rng.integers(len(rest)))])
    doors = []
    for i, j, si, sj, s0, s1 in tree:
        doors.append(Door((i, j), (si, sj), _door_center(rng, s0, s1, gap), gap))
    return doors


_FRONT_DOOR_ROOMS = ("hallway", "living room", "kitchen")


def plan_front_door(rng: np.random.Generator, rooms: list[Room], cfg: HouseConfig) -> Door | None:
    """A closed front door on an exterior wall of the hallway, living room or kitchen (else any room)."""
    gap = cfg.door_width + 2 * DOOR_TRIM
    options = []
    for k, room in enumerate(rooms):
        for side in SIDES:
            lo, hi = _side_span(room.rect, side)
            if room.exterior[side] and hi - lo >= gap + 2 * DOOR_MARGIN:
                options.append((k, side, lo, hi))
    if not options:
        return None
    rank = {t: i for i, t in enumerate(_FRONT_DOOR_ROOMS)}
    best = min(rank.get(rooms[k].type, len(rank)) for k, *_ in options)
    options = [o for o in options if rank.get(rooms[o[0]].type, len(rank)) == best]
    k, side, lo, hi = options[int(rng.integers(len(options)))]
    return Door((k, None), (side, None), _door_center(rng, lo, hi, gap), gap)


def _door_center(rng: np.random.Generator, s0: float, s1: float, gap: float) -> float:
    """A random door centre on the wall segment [s0, s1], ``DOOR_MARGIN`` clear of both ends."""
    low = s0 + DOOR_MARGIN + gap / 2
    return float(low + max(0.0, s1 - DOOR_MARGIN - gap / 2 - low) * rng.random())


def _side_span(rect: Rect, side: str) -> tuple[float, float]:
    """The extent of a room side along the wall (wall centre lines, metres)."""
    x0, z0, x1, z1 = rect
    return (x0, x1) if side in ("zmin", "zmax") else (z0, z1)
