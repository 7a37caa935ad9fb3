"""``HouseConfig``: how ``generate_house`` lays out and furnishes a house, validated on construction; and
the fixed door trim and corner margin every door keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DOOR_TRIM = 0.05  # door jamb width / head trim height, metres
DOOR_MARGIN = 0.3  # door gap to the nearest corner (wall centre line), metres


@dataclass(frozen=True)
class HouseConfig:
    """How ``generate_house`` lays out and furnishes a house. All lengths are metres.

    - ``min_rooms`` / ``max_rooms``: the number of rooms is drawn uniformly in this range.
    - ``wall_height``: floor (y = 0) to ceiling. ``wall_thickness``: full thickness of every wall.
    - ``door_width`` / ``door_height``: the clear opening of a door (between the jambs, under the head).
    - ``min_room_size``: the smallest clear (inner-face to inner-face) side of a room.
    - ``footprint_min`` / ``footprint_max``: bounds on each side of the house (wall centre lines).
    - ``room_area_range``: the footprint is about ``n_rooms`` times an area drawn from this range (m^2).
    - ``extra_door_probability``: chance of one door more than the spanning tree needs.
    - ``door_clearance``: depth of the zone kept free of furniture on both sides of every door.
    - ``agent_radius``: the radius of the agent that must be able to cross every room.
    - ``furniture_gap``: the smallest gap between two floor-standing items.
    - ``cylinder_sections``: facets of every cylinder, cone and frustum.
    - ``furnish``: False gives only walls, floors, ceilings, doors and windows.
    """

    min_rooms: int = 4
    max_rooms: int = 7
    wall_height: float = 2.5
    wall_thickness: float = 0.1
    door_width: float = 1.0
    door_height: float = 2.1
    min_room_size: float = 3.0
    footprint_min: float = 8.0
    footprint_max: float = 16.0
    room_area_range: tuple[float, float] = (18.0, 30.0)
    extra_door_probability: float = 0.5
    door_clearance: float = 1.0
    agent_radius: float = 0.18
    furniture_gap: float = 0.05
    cylinder_sections: int = 12
    furnish: bool = True

    def __post_init__(self) -> None:
        _validate_config(self)


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"HouseConfig.{name}: {message}")


def _validate_config(c: HouseConfig) -> None:
    """Raise ValueError naming the first field of ``c`` that cannot work."""
    for name in ("min_rooms", "max_rooms", "cylinder_sections"):
        value = getattr(c, name)
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        _require(ok, name, f"must be an integer, got {value!r}")
    positive = (
        "wall_height", "wall_thickness", "door_width", "door_height", "min_room_size", "footprint_min",
        "footprint_max", "door_clearance",
    )  # fmt: skip
    for name in positive:
        value = getattr(c, name)
        ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
        _require(ok, name, f"must be a positive number of metres, got {value!r}")
    for name in ("agent_radius", "furniture_gap"):
        value = getattr(c, name)
        ok = isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
        _require(ok, name, f"must be >= 0 metres, got {value!r}")
    _require(c.min_rooms >= 1, "min_rooms", f"must be at least 1, got {c.min_rooms}")
    _require(c.max_rooms >= c.min_rooms, "min_rooms", f"({c.min_rooms}) must not exceed max_rooms ({c.max_rooms})")
    _require(c.cylinder_sections >= 3, "cylinder_sections", f"must be at least 3, got {c.cylinder_sections}")
    p = c.extra_door_probability
    _require(0.0 <= p <= 1.0, "extra_door_probability", f"must be in [0, 1], got {p}")
    _require(c.wall_thickness <= 0.5, "wall_thickness", f"must be at most 0.5 m, got {c.wall_thickness}")
    _require(
        c.door_height + DOOR_TRIM + 0.05 <= c.wall_height,
        "door_height",
        f"({c.door_height}) leaves no lintel under wall_height ({c.wall_height})",
    )
    _require(
        c.door_width > 2 * c.agent_radius,
        "door_width",
        f"({c.door_width}) must exceed the agent's diameter ({2 * c.agent_radius})",
    )
    side = c.min_room_size + c.wall_thickness
    door_span = c.door_width + 2 * DOOR_TRIM + 2 * DOOR_MARGIN
    _require(
        side >= door_span,
        "min_room_size",
        f"({c.min_room_size}) is too small to hold a {c.door_width} m door (needs {door_span - c.wall_thickness:.2f})",
    )
    _require(
        c.footprint_min >= side,
        "footprint_min",
        f"({c.footprint_min}) must hold one room of min_room_size + wall_thickness ({side:.2f})",
    )
    _require(
        c.footprint_max >= c.footprint_min,
        "footprint_max",
        f"({c.footprint_max}) must be >= footprint_min ({c.footprint_min})",
    )
    capacity = int(c.footprint_max // side) ** 2
    _require(
        c.max_rooms <= capacity,
        "max_rooms",
        f"({c.max_rooms}) rooms of {side:.2f} m do not fit a {c.footprint_max} m footprint (at most {capacity})",
    )
    lo_hi = tuple(c.room_area_range)
    _require(
        len(lo_hi) == 2 and 0 < lo_hi[0] <= lo_hi[1],
        "room_area_range",
        f"must be (low, high) with 0 < low <= high, got {c.room_area_range!r}",
    )
