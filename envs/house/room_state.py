"""A room while it is furnished: its door openings, keep-out zones and corridors, the items placed so far
and the support surfaces they offer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.house.config import HouseConfig
from envs.house.geometry import Rect, wall_rect
from envs.house.layout import Door, Room
from envs.house.passability import NAV_PAD
from envs.house.primitives import Part


@dataclass
class Surface:
    """A support surface in the world: rect, top height, free height above, and what stands on it."""

    rect: Rect
    height: float
    clearance: float
    kind: str
    owner: str
    q: int
    occupied: list[Rect] = field(default_factory=list)


@dataclass
class Item:
    """A placed object: its world-frame parts and box, and how it was placed."""

    category: str
    color: str
    parts: list[Part]
    region: str
    lo: np.ndarray
    hi: np.ndarray
    q: int = 0
    side: str | None = None
    mounted: bool = False  # hangs on a wall (mirror, picture, window, front door...)

    @property
    def rect(self) -> Rect:
        """The item's footprint (x0, z0, x1, z1)."""
        return (float(self.lo[0]), float(self.lo[2]), float(self.hi[0]), float(self.hi[2]))


def item_from_parts(
    category: str, color: str, parts: list[Part], region: str, q: int = 0, side: str | None = None, mounted: bool = False
) -> Item:
    """An item of ``parts`` (world frame), its box computed from their vertices."""
    v = np.concatenate([p.vertices for p in parts])
    return Item(category, color, parts, region, v.min(axis=0), v.max(axis=0), q, side, mounted)


@dataclass
class RoomState:
    """A room being furnished: where it can hold things and what it holds so far."""

    room: Room
    interior: Rect  # inner wall faces
    openings: list[tuple[str, float, float, bool]]  # (side, centre along wall, full gap, is a real opening)
    keepout: list[Rect]
    corridors: list[tuple[str, Rect]]  # (side, rect through the door gap)
    anchors: list[tuple[float, float]]
    items: list[Item] = field(default_factory=list)
    floor_rects: list[Rect] = field(default_factory=list)
    surfaces: list[Surface] = field(default_factory=list)


def new_room_state(index: int, room: Room, doors: list[Door], cfg: HouseConfig) -> RoomState:
    """The room's interior, its door openings, keep-out zones, door corridors and passability anchors."""
    h = cfg.wall_thickness / 2
    x0, z0, x1, z1 = room.rect
    interior = (x0 + h, z0 + h, x1 - h, z1 - h)
    st = RoomState(room, interior, [], [], [], [])
    for door in doors:
        for k in (0, 1):
            if door.rooms[k] != index:
                continue
            side = door.sides[k]
            real = door.rooms[1] is not None
            st.openings.append((side, door.center, door.gap, real))
            st.keepout.append(wall_rect(interior, side, door.center, door.gap + 0.2, 0.0, cfg.door_clearance))
            st.anchors.append(_wall_point(interior, side, door.center, 0.5))
            if real:
                st.corridors.append((side, wall_rect(interior, side, door.center, cfg.door_width, -NAV_PAD, 2 * NAV_PAD)))
    return st


def _wall_point(interior: Rect, side: str, u: float, off: float) -> tuple[float, float]:
    """The (x, z) point ``off`` into the room from a side's inner face, at ``u`` along the wall."""
    r = wall_rect(interior, side, u, 0.0, off, 0.0)
    return (r[0], r[1])
