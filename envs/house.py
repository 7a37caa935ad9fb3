"""Procedural houses: ``generate_house(seed) -> Scene``, a furnished one-floor house, deterministic in the seed.

World frame Y up, metres (see ``envs.types``); the floor's top surface is at y = 0 and the footprint is
centred on the origin. A generated scene is named ``house:<seed>`` (``parse_house_id`` reads it back).

Layout algorithm
----------------
1. **Footprint.** Draw the number of rooms ``n`` in ``[min_rooms, max_rooms]``, then a rectangle of about
   ``n`` times a room area from ``room_area_range`` (aspect 3:4 to 4:3, sides clipped to
   ``[footprint_min, footprint_max]``).
2. **Rooms.** Recursive binary (guillotine) split: repeatedly pick a rectangle (weighted by area) that is at
   least twice the minimum room side along some axis and cut it across its longer axis at a random
   position (5 cm grid) that leaves both halves at least ``min_room_size`` + one wall thickness wide.
   When the draw cannot reach ``n`` rooms another footprint is drawn. Room rectangles are measured at
   the walls' centre lines, so they tile the footprint exactly and become the ``Region`` boxes.
3. **Room types.** The first four types are always living room, kitchen, bedroom and bathroom; the rest are
   distinct draws from the other types. Types are matched to rooms by size (living room largest,
   bathroom smallest).
4. **Doors.** Rooms sharing a wall segment long enough for a door are adjacent. A random spanning tree of
   that graph (Kruskal on shuffled edges) gets a door each, plus sometimes one extra door, so every room
   is reachable. A door is a gap of ``door_width`` (clear) between two 5 cm jambs, ``door_height`` high,
   with a wall lintel above; the jambs and head trim form the "door" object. One closed front door
   (a leaf on the inner face of an exterior wall) is added to the hallway, living room or kitchen.
5. **Structure.** Each room owns a floor slab (top at y = 0), a ceiling slab (bottom at ``wall_height``)
   and one wall object per side. A wall between two rooms is two half-thickness slabs, one per room,
   so each room has its own wall colour; exterior walls are full thickness. Slabs never overlap with
   coplanar visible faces.
6. **Furnishing.** Per room type a recipe lists floor items (against a wall, beside/in front of/around
   another item, or free-standing), wall-mounted items, windows and small objects. Floor items are
   tried at random positions and kept only if their footprint stays inside the room, keeps a
   ``furniture_gap`` from other items, leaves a ``door_clearance`` deep zone in front of every door
   free, and a 5 cm grid of the room (items grown by ``agent_radius``, connected components) still
   joins every door to a quarter or more of the room's middle (its central half in x and z). Windows and
   wall items sit flush on inner wall faces clear of doors and of anything they would intersect;
   small objects stand on registered support surfaces (table tops, shelves, counters, mattresses...)
   with their bottom exactly at the surface height.
7. **Assembly.** Every item is composed of trimesh primitives (box, cylinder/frustum, icosphere,
   capsule, cone) transformed from cached unit templates, gets its own instance id, a per-face colour
   from ``PALETTE`` and a ``SceneObject`` whose box is computed from its float32 vertices. Tall solid
   bodies (appliances, wardrobes, cabinets, counters, fireplace pillars) stand 2 mm above the plinth
   or hearth under them, so a ray cast down from inside one meets its own bottom face first.

Only ``np.random.default_rng(seed)`` is used, so a seed always gives byte-identical arrays.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh
from scipy import ndimage

from envs.scene import Region, Scene, SceneObject

# --------------------------------------------------------------------------------------------------
# vocabulary

ROOM_TYPES: tuple[str, ...] = (
    "living room",
    "kitchen",
    "bedroom",
    "bathroom",
    "office",
    "dining room",
    "hallway",
    "laundry room",
)
"""Room types (region names) the generator uses; the first four are in every house of 4+ rooms."""

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 45, 45),
    "green": (60, 150, 70),
    "blue": (50, 90, 200),
    "yellow": (235, 205, 60),
    "white": (240, 240, 235),
    "black": (30, 30, 30),
    "brown": (125, 80, 45),
    "gray": (128, 128, 128),
    "orange": (235, 135, 40),
    "pink": (240, 160, 190),
    "purple": (125, 65, 165),
    "beige": (220, 200, 160),
}
"""Named colours (RGB uint8). Every face of a generated house has one of these colours."""

_STRUCTURE = ("wall", "floor", "ceiling", "door", "window")
_FURNITURE = (
    "bed", "sofa", "chair", "armchair", "table", "desk", "cabinet", "wardrobe", "bookshelf",
    "nightstand", "counter", "stool",
)  # fmt: skip
_FIXTURES = ("sink", "toilet", "bathtub", "shower", "fireplace", "mirror", "picture", "trash can")
_APPLIANCES = ("refrigerator", "oven", "microwave", "dishwasher", "washing machine", "tv")
_SMALL = ("mug", "book", "plant", "lamp", "towel", "laptop", "bottle", "vase", "pillow", "clock", "bowl")

OBJECT_CATEGORIES: tuple[str, ...] = _STRUCTURE + _FURNITURE + _FIXTURES + _APPLIANCES + _SMALL
"""Every category a generated house can contain (Matterport3D / HM3D category names, lower case)."""

_COLORS: dict[str, tuple[str, ...]] = {
    # main colour of each category (SceneObject.color); accents (mattress, screens, metal) are fixed
    "bed": ("brown", "white", "black", "gray", "blue", "beige"),
    "sofa": ("gray", "blue", "green", "red", "beige", "brown", "black", "purple", "orange", "yellow"),
    "chair": ("brown", "black", "white", "red", "green", "blue", "yellow", "orange", "gray"),
    "armchair": ("red", "green", "blue", "brown", "gray", "purple", "beige", "orange", "pink", "yellow"),
    "table": ("brown", "white", "black", "beige", "gray"),
    "desk": ("brown", "white", "black", "gray", "beige"),
    "cabinet": ("brown", "white", "gray", "beige", "black", "blue", "green"),
    "wardrobe": ("brown", "white", "beige", "gray", "black"),
    "bookshelf": ("brown", "white", "black", "beige"),
    "nightstand": ("brown", "white", "black", "beige", "gray"),
    "counter": ("white", "gray", "beige", "black", "brown", "blue", "green"),
    "stool": ("brown", "black", "red", "white", "yellow"),
    "sink": ("white", "gray", "beige"),
    "toilet": ("white", "beige", "gray"),
    "bathtub": ("white", "beige", "pink", "blue"),
    "shower": ("white", "gray", "blue"),
    "fireplace": ("red", "gray", "white", "brown", "beige", "black"),
    "mirror": ("black", "white", "brown", "yellow", "gray"),
    "picture": ("black", "brown", "white", "yellow", "red", "blue"),
    "trash can": ("gray", "black", "white", "green", "blue"),
    "door": ("brown", "white", "gray", "black", "beige"),
    "window": ("blue", "white", "gray"),
    "refrigerator": ("white", "gray", "black", "red"),
    "oven": ("black", "gray", "white"),
    "microwave": ("black", "white", "gray", "red"),
    "dishwasher": ("white", "gray", "black"),
    "washing machine": ("white", "gray"),
    "tv": ("black", "gray", "white"),
    "mug": ("red", "blue", "white", "yellow", "green", "black", "orange", "pink", "purple"),
    "book": ("red", "green", "blue", "yellow", "orange", "purple", "black", "brown", "pink", "white"),
    "plant": ("brown", "white", "orange", "red", "gray", "blue", "black", "beige"),
    "lamp": ("white", "beige", "yellow", "red", "blue", "green", "orange", "pink", "black"),
    "towel": ("white", "blue", "pink", "yellow", "green", "gray", "beige", "purple", "orange", "red"),
    "laptop": ("gray", "black", "white", "pink"),
    "bottle": ("green", "brown", "blue", "white", "red", "orange", "purple", "yellow"),
    "vase": ("blue", "white", "red", "green", "yellow", "purple", "pink", "orange", "black"),
    "pillow": ("white", "red", "blue", "yellow", "gray", "purple", "pink", "orange", "beige", "green"),
    "clock": ("black", "white", "red", "brown", "yellow", "blue"),
    "bowl": ("white", "red", "blue", "yellow", "green", "orange"),
    # structure: muted, may vary per room
    "wall": ("white", "beige", "gray"),
    "floor": ("brown", "beige", "gray"),
    "ceiling": ("white",),
}
_WET_FLOOR_COLORS = ("white", "gray", "beige")  # bathrooms, kitchens, laundry rooms

# --------------------------------------------------------------------------------------------------
# configuration


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
        c.door_height + _TRIM + 0.05 <= c.wall_height,
        "door_height",
        f"({c.door_height}) leaves no lintel under wall_height ({c.wall_height})",
    )
    _require(
        c.door_width > 2 * c.agent_radius,
        "door_width",
        f"({c.door_width}) must exceed the agent's diameter ({2 * c.agent_radius})",
    )
    side = c.min_room_size + c.wall_thickness
    door_span = c.door_width + 2 * _TRIM + 2 * _DOOR_MARGIN
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


# --------------------------------------------------------------------------------------------------
# public entry points

_HOUSE_ID = re.compile(r"house:(\d+)")


def parse_house_id(scene_id: str) -> int | None:
    """The seed of a generated-house scene id (``"house:42"`` -> 42), or None for anything else."""
    if not isinstance(scene_id, str):
        return None
    match = _HOUSE_ID.fullmatch(scene_id)
    return int(match.group(1)) if match else None


def generate_house(seed: int, config: HouseConfig | None = None) -> Scene:
    """A furnished one-floor house, deterministic in ``seed`` (a non-negative integer).

    World frame Y up, metres, footprint centred on the origin, floor top at y = 0. The scene is named
    ``house:<seed>``; its regions are the rooms, its objects every wall, floor, ceiling, door, window,
    piece of furniture and small object (see the module docstring for the algorithm).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"house seed must be a non-negative integer, got {seed!r}")
    cfg = config if config is not None else HouseConfig()
    rng = np.random.default_rng(int(seed))
    rooms = _layout_rooms(rng, cfg)
    _assign_room_types(rng, rooms)
    doors = _plan_doors(rng, rooms, cfg)
    front = _plan_front_door(rng, rooms, cfg)
    states = [_room_state(k, room, doors + ([front] if front else []), cfg) for k, room in enumerate(rooms)]
    items: list[_Item] = []
    for st in states:
        items.extend(_room_structure(rng, st, cfg))
    items.extend(_door_frames(rng, doors, rooms, cfg))
    if front is not None:
        items.append(_front_door(rng, states[front.rooms[0]], front, cfg))
    for st in states:
        if cfg.furnish:
            _place_floor_items(rng, st, cfg)
        _place_windows(rng, st, cfg)
        if cfg.furnish:
            _place_wall_items(rng, st, cfg)
            _place_small_items(rng, st, cfg)
        items.extend(st.items)
    regions = [
        Region(r.name, np.array([r.rect[0], 0.0, r.rect[1]]), np.array([r.rect[2], cfg.wall_height, r.rect[3]]))
        for r in rooms
    ]
    return _assemble(items, regions, f"house:{int(seed)}")


# --------------------------------------------------------------------------------------------------
# primitives: cached unit templates, transformed with numpy

_TRIM = 0.05  # door jamb width / head trim height, metres
_DOOR_MARGIN = 0.3  # door gap to the nearest corner (wall centre line), metres
_EPS = 1e-9


@dataclass(frozen=True)
class _Part:
    """One primitive: vertices (N, 3) metres, faces (M, 3) indices into them, a palette colour name."""

    vertices: np.ndarray
    faces: np.ndarray
    color: str


def _z_to_y(v: np.ndarray) -> np.ndarray:
    """Rotate trimesh's +Z-axis primitives so their axis is +Y (a proper rotation)."""
    return np.column_stack([v[:, 0], v[:, 2], -v[:, 1]])


@functools.lru_cache(maxsize=None)
def _unit_mesh(kind: str, sections: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (vertices, faces) of a unit primitive: box corners as 0/1 selectors, a cylinder or cone of
    radius 1 over y in [0, 1], an icosphere of radius 1, a capsule of radius 1 and straight length 1
    (centred, axis y). Outward-wound, as trimesh makes them."""
    if kind == "box":
        mesh = trimesh.creation.box()
        vertices = (mesh.vertices > 0).astype(np.float64)
    elif kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=sections)
        vertices = _z_to_y(mesh.vertices) + np.array([0.0, 0.5, 0.0])
    elif kind == "cone":
        mesh = trimesh.creation.cone(radius=1.0, height=1.0, sections=sections)
        vertices = _z_to_y(mesh.vertices)
    elif kind == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=1)
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
    elif kind == "capsule":
        mesh = trimesh.creation.capsule(height=1.0, radius=1.0, count=[sections, max(4, sections // 2)])
        vertices = _z_to_y(mesh.vertices)
    else:
        raise ValueError(f"unknown primitive {kind!r}")
    faces = np.asarray(mesh.faces, dtype=np.int64)
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    vertices.setflags(write=False)
    faces.setflags(write=False)
    return vertices, faces


def _orient(v: np.ndarray, axis: str) -> np.ndarray:
    """Turn points built along +Y so that +Y points along ``axis`` ("x", "y" or "z"); proper rotations."""
    if axis == "y":
        return v
    if axis == "x":
        return np.column_stack([v[:, 1], -v[:, 0], v[:, 2]])
    if axis == "z":
        return np.column_stack([v[:, 0], -v[:, 2], v[:, 1]])
    raise ValueError(f"unknown axis {axis!r}")


def _box(lo, hi, color: str) -> _Part:
    """An axis-aligned box between corners ``lo`` and ``hi`` (exact corner coordinates)."""
    corners, faces = _unit_mesh("box", 0)
    vertices = np.where(corners > 0.5, np.asarray(hi, dtype=np.float64), np.asarray(lo, dtype=np.float64))
    return _Part(vertices, faces, color)


def _cylinder(base, radius: float, length: float, color: str, n: int, axis: str = "y", top_radius: float | None = None) -> _Part:
    """A cylinder (or frustum, with ``top_radius``) from the centre of its first cap ``base`` along +axis."""
    unit, faces = _unit_mesh("cylinder", n)
    r = np.where(unit[:, 1] > 0.5, radius if top_radius is None else top_radius, radius)
    local = np.column_stack([unit[:, 0] * r, unit[:, 1] * length, unit[:, 2] * r])
    return _Part(_orient(local, axis) + np.asarray(base, dtype=np.float64), faces, color)


def _cone(base, radius: float, height: float, color: str, n: int) -> _Part:
    """An upright cone: base circle centred at ``base``, apex ``height`` above."""
    unit, faces = _unit_mesh("cone", n)
    return _Part(unit * np.array([radius, height, radius]) + np.asarray(base, dtype=np.float64), faces, color)


def _ellipsoid(bottom, radii, color: str) -> _Part:
    """An icosphere ellipsoid with semi-axes ``radii`` whose lowest point is exactly ``bottom`` (x, y, z)."""
    unit, faces = _unit_mesh("sphere", 0)
    bx, by, bz = bottom
    y = (unit[:, 1] - unit[:, 1].min()) * radii[1] + by
    vertices = np.column_stack([unit[:, 0] * radii[0] + bx, y, unit[:, 2] * radii[2] + bz])
    return _Part(vertices, faces, color)


def _capsule(center, length: float, radius: float, color: str, n: int, axis: str = "x") -> _Part:
    """A capsule of straight length ``length`` and ``radius``, centred at ``center``, along ``axis``."""
    unit, faces = _unit_mesh("capsule", n)
    v = unit * radius
    v[:, 1] += np.sign(unit[:, 1]) * (length / 2.0 - radius / 2.0)
    return _Part(_orient(v, axis) + np.asarray(center, dtype=np.float64), faces, color)


def _hollow_box(lo, hi, wall: float, bottom: float, color: str) -> list[_Part]:
    """An open-topped box (a tub or basin): a bottom slab and four walls."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    yb = y0 + bottom
    return [
        _box((x0, y0, z0), (x1, yb, z1), color),
        _box((x0, yb, z0), (x1, y1, z0 + wall), color),
        _box((x0, yb, z1 - wall), (x1, y1, z1), color),
        _box((x0, yb, z0 + wall), (x0 + wall, y1, z1 - wall), color),
        _box((x1 - wall, yb, z0 + wall), (x1, y1, z1 - wall), color),
    ]


_SEAM = 0.002  # gap between a tall body and the plinth under it, metres


def _plinth_body(x0: float, x1: float, z0: float, z1: float, top: float, color: str, plinth: float = 0.03) -> list[_Part]:
    """A plinth recessed 3 cm on every side (y from 0 to ``plinth``) under a solid body (up to ``top``).

    The body starts ``_SEAM`` above the plinth so that its bottom face never lies on an upward face:
    a ray cast down from inside the body meets the body's own downward-facing bottom first, so a
    winding-aware ground test never finds floor inside furniture."""
    return [
        _box((x0 + 0.03, 0.0, z0 + 0.03), (x1 - 0.03, plinth, z1 - 0.03), color),
        _box((x0, plinth + _SEAM, z0), (x1, top, z1), color),
    ]


def _contrast(color: str, options: tuple[str, ...] = ("black", "gray", "white")) -> str:
    """The first of ``options`` that differs from ``color`` (an accent that stands out)."""
    return next(o for o in options if o != color)


# --------------------------------------------------------------------------------------------------
# models: an item in its own frame (footprint around the origin, y from 0 up, front facing +Z)


@dataclass(frozen=True)
class _LocalSurface:
    """A horizontal support area of a model: rect (x0, z0, x1, z1), top height, free height above."""

    rect: tuple[float, float, float, float]
    height: float
    clearance: float
    kind: str = "top"  # "top" | "shelf" | "bed" | "seat"


@dataclass
class _Model:
    parts: list[_Part]
    surfaces: list[_LocalSurface] = field(default_factory=list)

    @functools.cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) corners of the model's vertices."""
        lo = np.min([p.vertices.min(axis=0) for p in self.parts], axis=0)
        hi = np.max([p.vertices.max(axis=0) for p in self.parts], axis=0)
        return lo, hi


_Builder = Callable[[np.random.Generator, str, str, int], _Model]


def _legs(x_half: float, z_half: float, height: float, size: float, color: str, inset: float = 0.03) -> list[_Part]:
    """Four square legs under a rectangle of half-sizes ``x_half`` x ``z_half``, from y = 0 to ``height``."""
    parts = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            cx = sx * (x_half - inset - size / 2)
            cz = sz * (z_half - inset - size / 2)
            parts.append(_box((cx - size / 2, 0.0, cz - size / 2), (cx + size / 2, height, cz + size / 2), color))
    return parts


_TABLE_SIZES = {  # variant: (width range, depth range, height)
    "dining": ((1.2, 1.8), (0.8, 1.0), 0.75),
    "kitchen": ((0.8, 1.2), (0.7, 0.8), 0.75),
    "coffee": ((0.9, 1.2), (0.5, 0.6), 0.42),
    "console": ((0.9, 1.2), (0.35, 0.4), 0.8),
    "side": ((0.45, 0.6), (0.45, 0.6), 0.55),
}


def _build_table(rng, color, variant, n) -> _Model:
    """Top + four legs."""
    (w_lo, w_hi), (d_lo, d_hi), h = _TABLE_SIZES[variant or "dining"]
    w, d = rng.uniform(w_lo, w_hi), rng.uniform(d_lo, d_hi)
    top = 0.04
    parts = [_box((-w / 2, h - top, -d / 2), (w / 2, h, d / 2), color)]
    parts += _legs(w / 2, d / 2, h - top, 0.05, color)
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


def _build_chair(rng, color, variant, n) -> _Model:
    """Seat + back + four legs."""
    w, d = rng.uniform(0.42, 0.48), rng.uniform(0.44, 0.5)
    seat, thick, back_h = 0.45, 0.04, rng.uniform(0.38, 0.48)
    parts = [_box((-w / 2, seat - thick, -d / 2), (w / 2, seat, d / 2), color)]
    parts += _legs(w / 2, d / 2, seat - thick, 0.035, color, inset=0.01)
    parts.append(_box((-w / 2, seat, -d / 2), (w / 2, seat + back_h, -d / 2 + 0.04), color))
    return _Model(parts)


def _build_stool(rng, color, variant, n) -> _Model:
    """Round seat + four legs."""
    r, h = rng.uniform(0.15, 0.19), rng.uniform(0.45, 0.65)
    parts = [_cylinder((0.0, h - 0.04, 0.0), r, 0.04, color, n)]
    parts += _legs(r * 0.72, r * 0.72, h - 0.04, 0.03, color, inset=0.0)
    return _Model(parts)


def _upholstered(
    w: float, d: float, color: str, cushions: int, arm: float, back: float, back_h: float
) -> tuple[list[_Part], _LocalSurface]:
    """Legs, base, seat cushions, back and two arms of a sofa or armchair (front +Z)."""
    leg_color = _contrast(color, ("black", "brown"))
    parts = _legs(w / 2, d / 2, 0.08, 0.05, leg_color, inset=0.02)
    parts.append(_box((-w / 2, 0.08, -d / 2), (w / 2, 0.38, d / 2), color))
    x0, x1, z0 = -w / 2 + arm, w / 2 - arm, -d / 2 + back
    step = (x1 - x0) / cushions
    for i in range(cushions):
        parts.append(_box((x0 + i * step, 0.38, z0), (x0 + (i + 1) * step, 0.47, d / 2), color))  # cushions abut
    parts.append(_box((-w / 2, 0.38, -d / 2), (w / 2, back_h, z0), color))
    parts.append(_box((-w / 2, 0.38, z0), (x0, 0.62, d / 2), color))
    parts.append(_box((x1, 0.38, z0), (w / 2, 0.62, d / 2), color))
    return parts, _LocalSurface((x0, z0, x1, d / 2), 0.47, 0.5, "seat")


def _build_sofa(rng, color, variant, n) -> _Model:
    """Base, two or three seat cushions, back, two arms, legs."""
    w, d = rng.uniform(1.7, 2.3), rng.uniform(0.85, 0.95)
    parts, seat = _upholstered(w, d, color, 3 if w > 2.0 else 2, 0.18, 0.2, rng.uniform(0.8, 0.9))
    return _Model(parts, [seat])


def _build_armchair(rng, color, variant, n) -> _Model:
    """A one-seat sofa."""
    w, d = rng.uniform(0.75, 0.9), rng.uniform(0.75, 0.9)
    parts, seat = _upholstered(w, d, color, 1, 0.14, 0.18, rng.uniform(0.85, 0.95))
    return _Model(parts, [seat])


def _build_bed(rng, color, variant, n) -> _Model:
    """Frame on legs + mattress + headboard (head at -Z); pillows go on the head end of the mattress."""
    single = variant == "single" or (variant == "" and rng.random() < 0.25)
    w = rng.uniform(0.9, 1.05) if single else rng.uniform(1.4, 1.8)
    length, head_t, head_h = rng.uniform(2.0, 2.1), 0.06, rng.uniform(0.9, 1.1)
    mattress_color = _contrast(color, ("white", "beige"))
    z0 = -length / 2
    parts = _legs(w / 2, length / 2, 0.1, 0.06, color, inset=0.0)
    parts.append(_box((-w / 2, 0.1, z0 + head_t), (w / 2, 0.35, length / 2), color))
    parts.append(_box((-w / 2 + 0.03, 0.35, z0 + head_t + 0.02), (w / 2 - 0.03, 0.55, length / 2 - 0.03), mattress_color))
    parts.append(_box((-w / 2, 0.0, z0), (w / 2, head_h, z0 + head_t), color))
    head = _LocalSurface((-w / 2 + 0.03, z0 + head_t + 0.02, w / 2 - 0.03, z0 + head_t + 0.6), 0.55, 0.3, "bed")
    return _Model(parts, [head])


def _handle(x: float, y: float, z: float, color: str, vertical: bool = False, size: float = 0.12) -> _Part:
    """A small bar handle on a front face at z (sticking out 3 cm towards +Z)."""
    hx, hy = (0.01, size / 2) if vertical else (size / 2, 0.01)
    return _box((x - hx, y - hy, z), (x + hx, y + hy, z + 0.03), color)


def _build_desk(rng, color, variant, n) -> _Model:
    """Top, a side panel, a drawer unit with two drawers and handles."""
    w, d, h = rng.uniform(1.0, 1.5), rng.uniform(0.55, 0.7), 0.75
    metal = _contrast(color, ("gray", "black"))
    parts = [
        _box((-w / 2, h - 0.03, -d / 2), (w / 2, h, d / 2), color),
        _box((-w / 2, 0.0, -d / 2), (-w / 2 + 0.03, h - 0.03, d / 2 - 0.02), color),
        *_plinth_body(w / 2 - 0.4, w / 2, -d / 2, d / 2 - 0.02, h - 0.03, color),
    ]
    for y in (0.2, 0.5):
        parts.append(_handle(w / 2 - 0.2, y, d / 2 - 0.02, metal))
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


_CABINET_HEIGHTS = {"low": (0.45, 0.6), "dresser": (0.8, 0.95), "": (0.6, 0.9)}


def _build_cabinet(rng, color, variant, n) -> _Model:
    """Plinth, body, top slab, one or two doors with handles."""
    lo, hi = _CABINET_HEIGHTS[variant]
    w = rng.uniform(1.2, 1.8) if variant == "low" else rng.uniform(0.6, 1.4)
    d, h = rng.uniform(0.4, 0.5), rng.uniform(lo, hi)
    metal = _contrast(color, ("gray", "black"))
    parts = [
        _box((-w / 2 + 0.02, 0.0, -d / 2), (w / 2 - 0.02, 0.06, d / 2 - 0.04), color),
        _box((-w / 2, 0.06 + _SEAM, -d / 2), (w / 2, h - 0.03, d / 2 - 0.01), color),
        _box((-w / 2, h - 0.03, -d / 2), (w / 2, h, d / 2), color),
    ]
    doors = 1 if w < 0.8 else 2
    for i in range(doors):
        x = -w / 2 + (i + 0.5) * w / doors + (0.12 if doors == 2 and i == 0 else -0.12 if doors == 2 else 0.0)
        parts.append(_handle(x, h - 0.12, d / 2 - 0.01, metal, vertical=True, size=0.1))
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 1.0)])


def _build_wardrobe(rng, color, variant, n) -> _Model:
    """Tall body, two door panels, two handles, cornice."""
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.62), rng.uniform(1.9, 2.1)
    metal = _contrast(color, ("gray", "black"))
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h - 0.04, color, plinth=0.05),
        _box((-w / 2, h - 0.04, -d / 2), (w / 2, h, d / 2), color),
        _box((-w / 2 + 0.01, 0.06, d / 2 - 0.02), (-0.005, h - 0.06, d / 2), color),
        _box((0.005, 0.06, d / 2 - 0.02), (w / 2 - 0.01, h - 0.06, d / 2), color),
        _handle(-0.06, h / 2 + 0.1, d / 2, metal, vertical=True, size=0.3),
        _handle(0.06, h / 2 + 0.1, d / 2, metal, vertical=True, size=0.3),
    ]
    return _Model(parts)


def _build_bookshelf(rng, color, variant, n) -> _Model:
    """Two sides, top, plinth, back and 3-4 shelves; every shelf level is a support surface."""
    w, d, h = rng.uniform(0.7, 1.2), rng.uniform(0.28, 0.35), rng.uniform(1.5, 2.0)
    b = 0.02
    parts = [
        _box((-w / 2, 0.0, -d / 2), (-w / 2 + b, h, d / 2), color),
        _box((w / 2 - b, 0.0, -d / 2), (w / 2, h, d / 2), color),
        _box((-w / 2 + b, h - b, -d / 2), (w / 2 - b, h, d / 2), color),
        _box((-w / 2 + b, 0.0, -d / 2), (w / 2 - b, 0.08, d / 2), color),
        _box((-w / 2 + b, 0.08, -d / 2), (w / 2 - b, h - b, -d / 2 + 0.01), color),
    ]
    shelves = int(rng.integers(3, 5))
    tops = [0.08]
    spacing = (h - b - 0.08) / (shelves + 1)
    for i in range(1, shelves + 1):
        y = 0.08 + i * spacing
        parts.append(_box((-w / 2 + b, y - b, -d / 2 + 0.01), (w / 2 - b, y, d / 2), color))
        tops.append(y)
    ceilings = [t + spacing - b for t in tops[:-1]] + [h - b]
    rect = (-w / 2 + b, -d / 2 + 0.01, w / 2 - b, d / 2)
    surfaces = [_LocalSurface(rect, t, c - t, "shelf") for t, c in zip(tops, ceilings)]
    return _Model(parts, surfaces)


def _build_nightstand(rng, color, variant, n) -> _Model:
    """Body on short legs, a drawer front and a handle."""
    w, d, h = rng.uniform(0.4, 0.55), rng.uniform(0.35, 0.45), rng.uniform(0.5, 0.62)
    metal = _contrast(color, ("gray", "black"))
    parts = _legs(w / 2, d / 2, 0.08, 0.04, color, inset=0.01)
    parts.append(_box((-w / 2, 0.08, -d / 2), (w / 2, h, d / 2 - 0.01), color))
    parts.append(_box((-w / 2 + 0.02, h - 0.17, d / 2 - 0.01), (w / 2 - 0.02, h - 0.03, d / 2), color))
    parts.append(_handle(0.0, h - 0.1, d / 2, metal))
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2 - 0.01), h, 1.0)])


def _build_counter(rng, color, variant, n) -> _Model:
    """A kitchen run: recessed plinth, base cabinets with handles, a worktop in an accent colour."""
    w, d, h = rng.uniform(1.2, 2.4), 0.6, 0.9
    top_color = _contrast(color, ("gray", "white", "black"))
    metal = _contrast(color, ("gray", "black"))
    parts = [
        _box((-w / 2, 0.0, -d / 2), (w / 2, 0.1, d / 2 - 0.07), color),
        _box((-w / 2, 0.1 + _SEAM, -d / 2), (w / 2, h - 0.04, d / 2 - 0.02), color),
        _box((-w / 2, h - 0.04, -d / 2), (w / 2, h, d / 2), top_color),
    ]
    doors = max(1, int(w // 0.6))
    for i in range(doors):
        parts.append(_handle(-w / 2 + (i + 0.5) * w / doors, h - 0.15, d / 2 - 0.02, metal))
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2), h, 0.6)])


def _faucet(x: float, y: float, z: float, reach: float, n: int) -> list[_Part]:
    """A riser and a spout reaching towards +Z, standing on y at (x, z)."""
    return [
        _cylinder((x, y, z), 0.015, 0.2, "gray", n),
        _cylinder((x, y + 0.18, z), 0.012, reach, "gray", n, axis="z"),
    ]


def _build_sink(rng, color, variant, n) -> _Model:
    """A basin with a faucet; on a pedestal (bathroom) or, variant "basin", standing on a counter."""
    w, d = rng.uniform(0.45, 0.6), rng.uniform(0.38, 0.46)
    if variant == "basin":
        parts = _hollow_box((-w / 2, 0.0, -d / 2 + 0.06), (w / 2, 0.12, d / 2), 0.03, 0.03, color)
        return _Model(parts + _faucet(0.0, 0.0, -d / 2 + 0.03, 0.12, n))
    parts = [_box((-0.1, 0.0, -d / 2), (0.1, 0.7, -d / 2 + 0.22), color)]
    parts += _hollow_box((-w / 2, 0.7, -d / 2), (w / 2, 0.86, d / 2), 0.04, 0.05, color)
    return _Model(parts + _faucet(0.0, 0.86, -d / 2 + 0.02, 0.12, n))


def _build_toilet(rng, color, variant, n) -> _Model:
    """Bowl (frustum), seat, tank and its base (tank at -Z, against the wall)."""
    parts = [
        _box((-0.12, 0.0, -0.33), (0.12, 0.38, -0.1), color),
        _cylinder((0.0, 0.0, 0.05), 0.14, 0.38, color, n, top_radius=0.18),
        _cylinder((0.0, 0.38, 0.05), 0.19, 0.03, color, n),
        _box((-0.19, 0.38, -0.35), (0.19, 0.8, -0.15), color),
        _handle(-0.12, 0.74, -0.15, "gray", size=0.05),
    ]
    return _Model(parts)


def _build_bathtub(rng, color, variant, n) -> _Model:
    """A tub: solid base (its floor is above the agent's climb) and rims, with a faucet on one end."""
    w, d, h = rng.uniform(1.5, 1.8), rng.uniform(0.7, 0.8), rng.uniform(0.55, 0.6)
    parts = _hollow_box((-w / 2, 0.0, -d / 2), (w / 2, h, d / 2), 0.07, 0.3, color)
    parts.append(_cylinder((-w / 2 + 0.035, h, 0.0), 0.015, 0.15, "gray", n))
    return _Model(parts)


def _build_shower(rng, color, variant, n) -> _Model:
    """A raised tray, three panels (front and sides; the back is the wall), a pole and a head."""
    w, d = rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0)
    tray, top, t = 0.22, 2.0, 0.01
    parts = [
        _box((-w / 2, 0.0, -d / 2), (w / 2, tray, d / 2), "white"),
        _box((-w / 2, tray, d / 2 - t), (w / 2, top, d / 2), color),
        _box((-w / 2, tray, -d / 2), (-w / 2 + t, top, d / 2 - t), color),
        _box((w / 2 - t, tray, -d / 2), (w / 2, top, d / 2 - t), color),
        _cylinder((0.0, tray, -d / 2 + 0.03), 0.012, 1.75, "gray", n),
        _cylinder((0.0, 1.9, -d / 2 + 0.03), 0.07, 0.03, "gray", n),
    ]
    return _Model(parts)


def _build_fireplace(rng, color, variant, n) -> _Model:
    """Hearth, two pillars, upper body, mantel shelf and a dark firebox filling the opening."""
    w, d, h = rng.uniform(1.2, 1.6), rng.uniform(0.45, 0.55), rng.uniform(1.05, 1.2)
    dark = _contrast(color, ("black", "gray"))
    p = 0.25
    parts = [
        _box((-w / 2, 0.0, -d / 2), (w / 2, 0.06, d / 2), dark),
        _box((-w / 2, 0.06 + _SEAM, -d / 2), (-w / 2 + p, h - 0.08, d / 2 - 0.1), color),
        _box((w / 2 - p, 0.06 + _SEAM, -d / 2), (w / 2, h - 0.08, d / 2 - 0.1), color),
        _box((-w / 2 + p, 0.75, -d / 2), (w / 2 - p, h - 0.08, d / 2 - 0.1), color),
        _box((-w / 2, h - 0.08, -d / 2), (w / 2, h, d / 2 - 0.03), color),
        _box((-w / 2 + p, 0.06, -d / 2), (w / 2 - p, 0.75, d / 2 - 0.15), dark),
    ]
    return _Model(parts)


def _build_refrigerator(rng, color, variant, n) -> _Model:
    """Body, fridge and freezer doors, two handles."""
    w, d, h = rng.uniform(0.6, 0.8), rng.uniform(0.62, 0.7), rng.uniform(1.7, 1.9)
    metal = _contrast(color, ("gray", "black"))
    split = h * 0.62
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.03, h, color),
        _box((-w / 2 + 0.005, 0.04, d / 2 - 0.03), (w / 2 - 0.005, split - 0.005, d / 2), color),
        _box((-w / 2 + 0.005, split + 0.005, d / 2 - 0.03), (w / 2 - 0.005, h - 0.01, d / 2), color),
        _handle(w / 2 - 0.06, split - 0.3, d / 2, metal, vertical=True, size=0.35),
        _handle(w / 2 - 0.06, split + 0.2, d / 2, metal, vertical=True, size=0.25),
    ]
    return _Model(parts)


def _build_oven(rng, color, variant, n) -> _Model:
    """Body, glass door, handle, knob strip and four burners on top."""
    w, d, h = 0.6, 0.6, 0.9
    dark = _contrast(color, ("black", "gray"))
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        _box((-w / 2 + 0.05, 0.1, d / 2 - 0.02), (w / 2 - 0.05, 0.6, d / 2), dark),
        _box((-w / 2 + 0.08, 0.65, d / 2 - 0.02), (w / 2 - 0.08, 0.67, d / 2 + 0.02), "gray"),
        _box((-w / 2 + 0.03, 0.74, d / 2 - 0.02), (w / 2 - 0.03, 0.84, d / 2), dark),
    ]
    for sx in (-0.14, 0.14):
        for sz in (-0.13, 0.13):
            parts.append(_cylinder((sx, h, sz), 0.08, 0.01, "black", n))
    return _Model(parts)


def _build_microwave(rng, color, variant, n) -> _Model:
    """Body, glass door and a control panel."""
    w, d, h = rng.uniform(0.45, 0.55), rng.uniform(0.34, 0.4), rng.uniform(0.27, 0.32)
    dark = _contrast(color, ("black", "gray"))
    parts = [
        _box((-w / 2, 0.0, -d / 2), (w / 2, h, d / 2 - 0.01), color),
        _box((-w / 2 + 0.03, 0.04, d / 2 - 0.01), (w / 2 - 0.15, h - 0.04, d / 2), dark),
        _box((w / 2 - 0.12, 0.04, d / 2 - 0.01), (w / 2 - 0.03, h - 0.04, d / 2), _contrast(color, ("gray", "white"))),
    ]
    return _Model(parts)


def _build_dishwasher(rng, color, variant, n) -> _Model:
    """Body, door panel, control strip and handle."""
    w, d, h = 0.6, 0.58, 0.85
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        _box((-w / 2 + 0.005, 0.08, d / 2 - 0.02), (w / 2 - 0.005, h - 0.1, d / 2), color),
        _box((-w / 2 + 0.005, h - 0.09, d / 2 - 0.02), (w / 2 - 0.005, h - 0.01, d / 2), _contrast(color, ("black", "gray"))),
        _handle(0.0, h - 0.14, d / 2, "gray", size=0.3),
    ]
    return _Model(parts)


def _build_washing_machine(rng, color, variant, n) -> _Model:
    """Body, round door (ring + glass) and a control panel; its top holds bottles and towels."""
    w, d, h = 0.6, 0.58, 0.85
    parts = [
        *_plinth_body(-w / 2, w / 2, -d / 2, d / 2 - 0.02, h, color),
        _cylinder((0.0, 0.4, d / 2 - 0.02), 0.18, 0.02, "gray", n, axis="z"),
        _cylinder((0.0, 0.4, d / 2), 0.14, 0.01, "black", n, axis="z"),
        _box((-w / 2 + 0.03, h - 0.12, d / 2 - 0.02), (w / 2 - 0.03, h - 0.03, d / 2), _contrast(color, ("gray", "black"))),
    ]
    return _Model(parts, [_LocalSurface((-w / 2, -d / 2, w / 2, d / 2 - 0.02), h, 0.6)])


def _build_tv(rng, color, variant, n) -> _Model:
    """A panel with a dark screen; on a stand (neck + base) unless variant is "wall"."""
    w = rng.uniform(0.8, 1.3)
    sh = w * 0.58
    y0 = 0.0 if variant == "wall" else 0.1
    z0 = -0.025 if variant == "wall" else -0.04
    parts = [
        _box((-w / 2, y0, z0), (w / 2, y0 + sh, z0 + 0.04), color),
        _box((-w / 2 + 0.02, y0 + 0.02, z0 + 0.04), (w / 2 - 0.02, y0 + sh - 0.02, z0 + 0.045), "black"),
    ]
    if variant != "wall":
        parts.append(_box((-w * 0.2, 0.0, -0.1), (w * 0.2, 0.02, 0.1), color))
        parts.append(_box((-0.03, 0.02, -0.03), (0.03, y0, 0.0), color))
    return _Model(parts)


def _build_mirror(rng, color, variant, n) -> _Model:
    """A frame (four bars) around a glass panel; back at -Z (on the wall)."""
    w, h, f = rng.uniform(0.45, 0.8), rng.uniform(0.6, 1.0), 0.04
    glass = _contrast(color, ("white", "gray"))
    parts = [_box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.015), glass)]
    parts += _frame(w, h, f, 0.025, color)
    return _Model(parts)


def _frame(w: float, h: float, f: float, depth: float, color: str) -> list[_Part]:
    """Four bars framing a w x h rectangle (bottom at y = 0, back at z = 0)."""
    return [
        _box((-w / 2, 0.0, 0.0), (w / 2, f, depth), color),
        _box((-w / 2, h - f, 0.0), (w / 2, h, depth), color),
        _box((-w / 2, f, 0.0), (-w / 2 + f, h - f, depth), color),
        _box((w / 2 - f, f, 0.0), (w / 2, h - f, depth), color),
    ]


def _build_picture(rng, color, variant, n) -> _Model:
    """A framed canvas in another palette colour."""
    w, h, f = rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.7), 0.035
    canvas = str(rng.choice([c for c in PALETTE if c != color]))
    parts = [_box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.01), canvas)]
    parts += _frame(w, h, f, 0.03, color)
    return _Model(parts)


def _build_window(rng, color, variant, n) -> _Model:
    """A thin tinted pane with a frame and a mullion, on the inner face of an exterior wall."""
    w, h, f = rng.uniform(0.8, 1.4), float(variant or 1.1), 0.05
    trim = _contrast(color, ("white", "gray"))
    parts = [_box((-w / 2 + f, f, 0.0), (w / 2 - f, h - f, 0.01), color)]
    parts += _frame(w, h, f, 0.03, trim)
    parts.append(_box((-0.02, f, 0.0), (0.02, h - f, 0.025), trim))
    return _Model(parts)


def _build_clock(rng, color, variant, n) -> _Model:
    """A round face (disk) with two hands; on the wall, or ("table") on a small box stand."""
    r = rng.uniform(0.12, 0.18) if variant != "table" else rng.uniform(0.06, 0.08)
    face = _contrast(color, ("white", "black"))
    hand = _contrast(face, ("black", "white"))
    cy = r if variant != "table" else r + 0.02
    z0 = 0.0 if variant != "table" else 0.0
    parts = [
        _cylinder((0.0, cy, z0), r, 0.035, color, n, axis="z"),
        _cylinder((0.0, cy, z0 + 0.035), r * 0.85, 0.004, face, n, axis="z"),
        _box((-0.005, cy, z0 + 0.039), (0.005, cy + r * 0.7, z0 + 0.043), hand),
        _box((0.0, cy - 0.005, z0 + 0.039), (r * 0.5, cy + 0.005, z0 + 0.043), hand),
    ]
    if variant == "table":
        parts.append(_box((-r * 0.8, 0.0, -0.02), (r * 0.8, 0.02, 0.05), color))
    return _Model(parts)


def _build_towel(rng, color, variant, n) -> _Model:
    """Hanging (a rail on two brackets, the towel draped over it; back at -Z) or folded (a stack)."""
    w = rng.uniform(0.3, 0.5)
    if variant == "folded":
        d, t = rng.uniform(0.2, 0.25), 0.03
        return _Model([_box((-w / 2, i * t, -d / 2), (w / 2, (i + 1) * t, d / 2), color) for i in range(int(rng.integers(1, 4)))])
    h = rng.uniform(0.5, 0.7)
    top = h + 0.03
    parts = [
        _box((-w / 2 - 0.06, top - 0.02, 0.0), (-w / 2 - 0.03, top + 0.02, 0.05), "gray"),
        _box((w / 2 + 0.03, top - 0.02, 0.0), (w / 2 + 0.06, top + 0.02, 0.05), "gray"),
        _capsule((0.0, top, 0.05), w + 0.06, 0.012, "gray", 8, axis="x"),
        _box((-w / 2, 0.0, 0.062), (w / 2, top, 0.08), color),
        _box((-w / 2, top - 0.25, 0.02), (w / 2, top, 0.038), color),
    ]
    return _Model(parts)


def _build_laptop(rng, color, variant, n) -> _Model:
    """Base with a keyboard, and a lid with a screen opened ~105 degrees (hinge at the back, -Z)."""
    w, d = rng.uniform(0.3, 0.36), rng.uniform(0.21, 0.25)
    parts = [
        _box((-w / 2, 0.0, -d / 2), (w / 2, 0.02, d / 2), color),
        _box((-w / 2 + 0.02, 0.02, -d / 2 + 0.02), (w / 2 - 0.02, 0.022, 0.0), "black"),
    ]
    lid = [
        _box((-w / 2, 0.0, 0.0), (w / 2, d, 0.008), color),
        _box((-w / 2 + 0.01, 0.01, 0.008), (w / 2 - 0.01, d - 0.01, 0.01), "black"),
    ]
    a = math.radians(-15.0)  # lean back (towards -Z)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    hinge = np.array([0.0, 0.02, -d / 2])
    parts += [_Part(p.vertices @ rot.T + hinge, p.faces, p.color) for p in lid]
    return _Model(parts)


def _build_bottle(rng, color, variant, n) -> _Model:
    """Body, shoulder (frustum), neck and cap."""
    r, h = rng.uniform(0.03, 0.04), rng.uniform(0.14, 0.22)
    cap = _contrast(color, ("white", "black"))
    parts = [
        _cylinder((0.0, 0.0, 0.0), r, h, color, n),
        _cylinder((0.0, h, 0.0), r, 0.04, color, n, top_radius=0.012),
        _cylinder((0.0, h + 0.04, 0.0), 0.012, 0.03, color, n),
        _cylinder((0.0, h + 0.07, 0.0), 0.014, 0.015, cap, n),
    ]
    return _Model(parts)


def _build_vase(rng, color, variant, n) -> _Model:
    """A foot, a round body (ellipsoid) and a flared neck (frustum)."""
    r, h = rng.uniform(0.06, 0.09), rng.uniform(0.15, 0.25)
    parts = [
        _cylinder((0.0, 0.0, 0.0), r * 0.6, 0.02, color, n),
        _ellipsoid((0.0, 0.01, 0.0), (r, h / 2, r), color),
        _cylinder((0.0, h * 0.9, 0.0), r * 0.35, h * 0.35, color, n, top_radius=r * 0.55),
    ]
    return _Model(parts)


def _build_plant(rng, color, variant, n) -> _Model:
    """A pot (frustum) with soil and green foliage: one to three blobs, or a little conifer (cone)."""
    r, h = rng.uniform(0.06, 0.1), rng.uniform(0.1, 0.18)
    parts = [
        _cylinder((0.0, 0.0, 0.0), r, h, color, n, top_radius=r * 1.25),
        _cylinder((0.0, h, 0.0), r * 1.1, 0.01, "brown", n),
    ]
    if rng.random() < 0.3:
        return _Model(parts + [_cone((0.0, h + 0.01, 0.0), r * 1.3, rng.uniform(0.2, 0.35), "green", n)])
    for _ in range(int(rng.integers(1, 4))):
        fx, fz = rng.uniform(-0.3, 0.3, size=2) * r
        size = rng.uniform(1.1, 1.6) * r
        parts.append(_ellipsoid((fx, h + rng.uniform(0.0, 0.06), fz), (size, size * rng.uniform(1.0, 1.6), size), "green"))
    return _Model(parts)


def _build_lamp(rng, color, variant, n) -> _Model:
    """Base, pole and a shade (frustum) in the lamp's colour."""
    base_color = _contrast(color, ("black", "gray", "white"))
    pole_h, shade_r = rng.uniform(0.25, 0.4), rng.uniform(0.11, 0.15)
    parts = [
        _cylinder((0.0, 0.0, 0.0), rng.uniform(0.07, 0.09), 0.03, base_color, n),
        _cylinder((0.0, 0.03, 0.0), 0.01, pole_h, base_color, n),
        _cylinder((0.0, pole_h - 0.08, 0.0), shade_r, rng.uniform(0.15, 0.2), color, n, top_radius=shade_r * 0.6),
    ]
    return _Model(parts)


def _build_mug(rng, color, variant, n) -> _Model:
    """A cylinder with a C-shaped handle on +X."""
    r, h = rng.uniform(0.035, 0.045), rng.uniform(0.085, 0.105)
    t = 0.006
    parts = [
        _cylinder((0.0, 0.0, 0.0), r, h, color, n),
        _box((r - 0.002, h - 0.03, -t), (r + 0.03, h - 0.02, t), color),
        _box((r - 0.002, 0.02, -t), (r + 0.03, 0.03, t), color),
        _box((r + 0.02, 0.03, -t), (r + 0.03, h - 0.03, t), color),
    ]
    return _Model(parts)


def _build_book(rng, color, variant, n) -> _Model:
    """Two covers, a spine and white pages; lying flat or ("upright") standing with its spine at +Z."""
    w, l, t, c = rng.uniform(0.14, 0.2), rng.uniform(0.2, 0.27), rng.uniform(0.02, 0.05), 0.004
    pages = _contrast(color, ("white", "beige"))
    if variant == "upright":
        parts = [
            _box((-t / 2, 0.0, -w / 2), (-t / 2 + c, l, w / 2), color),
            _box((t / 2 - c, 0.0, -w / 2), (t / 2, l, w / 2), color),
            _box((-t / 2 + c, 0.0, w / 2 - c), (t / 2 - c, l, w / 2), color),
            _box((-t / 2 + c, 0.005, -w / 2 + 0.005), (t / 2 - c, l - 0.005, w / 2 - c), pages),
        ]
        return _Model(parts)
    parts = [
        _box((-w / 2, 0.0, -l / 2), (w / 2, c, l / 2), color),
        _box((-w / 2, t - c, -l / 2), (w / 2, t, l / 2), color),
        _box((-w / 2, c, -l / 2), (-w / 2 + c, t - c, l / 2), color),
        _box((-w / 2 + c, c, -l / 2 + 0.005), (w / 2 - 0.005, t - c, l / 2 - 0.005), pages),
    ]
    return _Model(parts)


def _build_pillow(rng, color, variant, n) -> _Model:
    """A flattened ellipsoid."""
    return _Model([_ellipsoid((0.0, 0.0, 0.0), (rng.uniform(0.2, 0.27), rng.uniform(0.06, 0.08), rng.uniform(0.14, 0.17)), color)])


def _build_bowl(rng, color, variant, n) -> _Model:
    """A flared frustum."""
    rb = rng.uniform(0.04, 0.05)
    return _Model([_cylinder((0.0, 0.0, 0.0), rb, rng.uniform(0.05, 0.07), color, n, top_radius=rb * rng.uniform(1.8, 2.2))])


def _build_trash_can(rng, color, variant, n) -> _Model:
    """A frustum bin with a lid."""
    r, h = rng.uniform(0.11, 0.14), rng.uniform(0.35, 0.45)
    lid = _contrast(color, ("black", "gray"))
    return _Model([_cylinder((0.0, 0.0, 0.0), r, h, color, n, top_radius=r * 1.15), _cylinder((0.0, h, 0.0), r * 1.2, 0.02, lid, n)])


def _build_front_door(rng, color, variant, n) -> _Model:
    """A closed door leaf with jambs, a head trim and a knob, mounted on a wall (back at -Z)."""
    w, h = float(variant.split(",")[0]), float(variant.split(",")[1])
    parts = [
        _box((-w / 2, 0.0, 0.0), (w / 2, h, 0.04), color),
        _box((-w / 2 - _TRIM, 0.0, 0.0), (-w / 2, h, 0.05), color),
        _box((w / 2, 0.0, 0.0), (w / 2 + _TRIM, h, 0.05), color),
        _box((-w / 2 - _TRIM, h, 0.0), (w / 2 + _TRIM, h + _TRIM, 0.05), color),
        _cylinder((w / 2 - 0.08, 1.0, 0.04), 0.025, 0.05, _contrast(color, ("gray", "yellow")), n, axis="z"),
    ]
    return _Model(parts)


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

# --------------------------------------------------------------------------------------------------
# recipes: what each room type holds


@dataclass(frozen=True)
class _Companion:
    """An item placed relative to the one just placed: "around" (chairs round a table), "beside" (along
    the same wall), or "front" (in front of it; a chair faces back towards it)."""

    category: str
    relation: str
    count: tuple[int, int] = (1, 1)
    probability: float = 1.0
    variant: str = ""


@dataclass(frozen=True)
class _FloorSpec:
    """A floor-standing item: against a wall ("wall") or anywhere ("free")."""

    category: str
    probability: float = 1.0
    count: tuple[int, int] = (1, 1)
    mode: str = "wall"
    variant: str = ""
    unless: str = ""  # skip when the room already holds this category
    companions: tuple[_Companion, ...] = ()


@dataclass(frozen=True)
class _WallSpec:
    """A wall-mounted item with its bottom edge in ``bottom`` (metres), optionally above an item."""

    category: str
    probability: float
    bottom: tuple[float, float]
    count: tuple[int, int] = (1, 1)
    variant: str = ""
    above: str = ""


@dataclass(frozen=True)
class _SmallSpec:
    """Small objects standing on the surfaces of the listed categories."""

    category: str
    count: tuple[int, int]
    supports: tuple[str, ...]
    probability: float = 1.0
    variant: str = ""
    unique: bool = False  # skip when the room already holds this category


@dataclass(frozen=True)
class _Recipe:
    floor: tuple[_FloorSpec, ...]
    wall: tuple[_WallSpec, ...]
    small: tuple[_SmallSpec, ...]
    windows: tuple[int, int]


_SHELVES = ("bookshelf",)
_PICTURE = _WallSpec("picture", 0.6, (1.3, 1.6))
_CLOCK = _WallSpec("clock", 0.4, (1.75, 1.95), variant="wall")

_RECIPES: dict[str, _Recipe] = {
    "living room": _Recipe(
        floor=(
            _FloorSpec("sofa", companions=(_Companion("table", "front", probability=0.8, variant="coffee"),)),
            _FloorSpec("cabinet", 0.9, variant="low"),
            _FloorSpec("armchair", 0.7, (1, 2)),
            _FloorSpec("fireplace", 0.5),
            _FloorSpec("bookshelf", 0.6),
            _FloorSpec("table", 0.3, variant="side"),
        ),
        wall=(_WallSpec("tv", 0.25, (1.0, 1.2), variant="wall"), _PICTURE, _CLOCK, _WallSpec("mirror", 0.2, (1.1, 1.3))),
        small=(
            _SmallSpec("tv", (1, 1), ("cabinet",), 0.9, unique=True),
            _SmallSpec("pillow", (1, 3), ("sofa", "armchair")),
            _SmallSpec("lamp", (0, 1), ("table", "cabinet")),
            _SmallSpec("plant", (0, 2), ("table", "cabinet") + _SHELVES),
            _SmallSpec("vase", (0, 1), ("table", "cabinet") + _SHELVES),
            _SmallSpec("book", (0, 4), ("table",) + _SHELVES),
            _SmallSpec("mug", (0, 1), ("table",)),
            _SmallSpec("clock", (0, 1), ("cabinet",) + _SHELVES, variant="table", unique=True),
            _SmallSpec("bowl", (0, 1), ("table",)),
        ),
        windows=(1, 3),
    ),
    "kitchen": _Recipe(
        floor=(
            _FloorSpec("counter", count=(1, 2)),
            _FloorSpec("refrigerator"),
            _FloorSpec("oven", 0.9),
            _FloorSpec("dishwasher", 0.6),
            _FloorSpec("cabinet", 0.3),
            _FloorSpec("table", 0.5, mode="free", variant="kitchen", companions=(_Companion("chair", "around", (2, 4)),)),
            _FloorSpec("trash can", 0.6),
        ),
        wall=(_CLOCK, _WallSpec("picture", 0.2, (1.3, 1.6))),
        small=(
            _SmallSpec("sink", (1, 1), ("counter",), 0.95, variant="basin"),
            _SmallSpec("microwave", (1, 1), ("counter",), 0.8),
            _SmallSpec("mug", (0, 3), ("counter", "table")),
            _SmallSpec("bottle", (0, 3), ("counter", "table")),
            _SmallSpec("bowl", (0, 2), ("counter", "table")),
            _SmallSpec("plant", (0, 1), ("counter", "table", "cabinet")),
            _SmallSpec("vase", (0, 1), ("table",)),
            _SmallSpec("towel", (0, 1), ("counter",), variant="folded"),
            _SmallSpec("book", (0, 1), ("counter",)),
        ),
        windows=(1, 2),
    ),
    "bedroom": _Recipe(
        floor=(
            _FloorSpec("bed", companions=(_Companion("nightstand", "beside", (1, 2), 0.9),)),
            _FloorSpec("wardrobe", 0.8),
            _FloorSpec("cabinet", 0.5, variant="dresser"),
            _FloorSpec("desk", 0.3, companions=(_Companion("chair", "front"),)),
            _FloorSpec("armchair", 0.2),
            _FloorSpec("bookshelf", 0.3),
        ),
        wall=(
            _WallSpec("mirror", 0.5, (1.0, 1.2)),
            _PICTURE,
            _WallSpec("clock", 0.3, (1.75, 1.95), variant="wall"),
            _WallSpec("tv", 0.2, (1.0, 1.2), variant="wall"),
        ),
        small=(
            _SmallSpec("pillow", (1, 2), ("bed",)),
            _SmallSpec("lamp", (1, 2), ("nightstand", "desk")),
            _SmallSpec("book", (0, 3), ("nightstand", "desk") + _SHELVES),
            _SmallSpec("clock", (0, 1), ("nightstand", "cabinet"), variant="table", unique=True),
            _SmallSpec("plant", (0, 1), ("cabinet", "desk", "nightstand") + _SHELVES),
            _SmallSpec("vase", (0, 1), ("cabinet",)),
            _SmallSpec("laptop", (0, 1), ("desk",)),
            _SmallSpec("mug", (0, 1), ("nightstand", "desk")),
            _SmallSpec("bottle", (0, 1), ("nightstand", "cabinet")),
        ),
        windows=(1, 2),
    ),
    "bathroom": _Recipe(
        floor=(
            _FloorSpec("toilet"),
            _FloorSpec("sink"),
            _FloorSpec("bathtub", 0.55),
            _FloorSpec("shower", unless="bathtub"),
            _FloorSpec("cabinet", 0.5),
            _FloorSpec("washing machine", 0.2),
            _FloorSpec("trash can", 0.5),
        ),
        wall=(
            _WallSpec("mirror", 0.9, (1.1, 1.3), above="sink"),
            _WallSpec("towel", 0.9, (0.8, 0.95), (1, 2), variant="hanging"),
            _WallSpec("picture", 0.2, (1.3, 1.6)),
        ),
        small=(
            _SmallSpec("bottle", (1, 3), ("cabinet", "washing machine")),
            _SmallSpec("towel", (0, 1), ("cabinet", "washing machine"), variant="folded"),
            _SmallSpec("plant", (0, 1), ("cabinet",)),
            _SmallSpec("vase", (0, 1), ("cabinet",)),
        ),
        windows=(0, 1),
    ),
    "office": _Recipe(
        floor=(
            _FloorSpec("desk", companions=(_Companion("chair", "front"),)),
            _FloorSpec("bookshelf", count=(1, 2)),
            _FloorSpec("cabinet", 0.5),
            _FloorSpec("armchair", 0.4),
        ),
        wall=(
            _WallSpec("picture", 0.7, (1.3, 1.6)),
            _WallSpec("clock", 0.6, (1.75, 1.95), variant="wall"),
            _WallSpec("tv", 0.1, (1.1, 1.2), variant="wall"),
        ),
        small=(
            _SmallSpec("laptop", (1, 1), ("desk",)),
            _SmallSpec("lamp", (0, 1), ("desk", "cabinet")),
            _SmallSpec("book", (1, 6), ("desk",) + _SHELVES),
            _SmallSpec("mug", (0, 2), ("desk",)),
            _SmallSpec("plant", (0, 2), ("desk", "cabinet") + _SHELVES),
            _SmallSpec("bottle", (0, 1), ("desk",)),
            _SmallSpec("vase", (0, 1), ("cabinet",) + _SHELVES),
        ),
        windows=(1, 2),
    ),
    "dining room": _Recipe(
        floor=(
            _FloorSpec("table", mode="free", variant="dining", companions=(_Companion("chair", "around", (4, 6)),)),
            _FloorSpec("cabinet", 0.8),
            _FloorSpec("bookshelf", 0.3),
        ),
        wall=(_WallSpec("picture", 0.8, (1.3, 1.6)), _CLOCK, _WallSpec("mirror", 0.2, (1.1, 1.3))),
        small=(
            _SmallSpec("vase", (0, 1), ("table",)),
            _SmallSpec("bowl", (0, 2), ("table", "cabinet")),
            _SmallSpec("bottle", (0, 2), ("table", "cabinet")),
            _SmallSpec("plant", (0, 1), ("cabinet",) + _SHELVES),
            _SmallSpec("lamp", (0, 1), ("cabinet",)),
            _SmallSpec("mug", (0, 2), ("table",)),
            _SmallSpec("book", (0, 2), _SHELVES + ("cabinet",)),
        ),
        windows=(1, 2),
    ),
    "hallway": _Recipe(
        floor=(
            _FloorSpec("cabinet", 0.6),
            _FloorSpec("table", 0.4, variant="console"),
            _FloorSpec("bookshelf", 0.3),
            _FloorSpec("stool", 0.4),
            _FloorSpec("armchair", 0.1),
        ),
        wall=(_WallSpec("mirror", 0.6, (1.0, 1.2)), _PICTURE, _CLOCK),
        small=(
            _SmallSpec("plant", (0, 1), ("cabinet", "table")),
            _SmallSpec("vase", (0, 1), ("cabinet", "table")),
            _SmallSpec("lamp", (0, 1), ("cabinet", "table")),
            _SmallSpec("book", (0, 2), _SHELVES + ("table",)),
            _SmallSpec("clock", (0, 1), ("cabinet",), variant="table", unique=True),
        ),
        windows=(0, 1),
    ),
    "laundry room": _Recipe(
        floor=(
            _FloorSpec("washing machine", count=(1, 2)),
            _FloorSpec("counter", 0.5),
            _FloorSpec("cabinet", 0.6),
            _FloorSpec("sink", 0.4),
            _FloorSpec("trash can", 0.5),
            _FloorSpec("stool", 0.2),
        ),
        wall=(
            _WallSpec("towel", 0.6, (0.8, 0.95), variant="hanging"),
            _WallSpec("clock", 0.3, (1.75, 1.95), variant="wall"),
            _WallSpec("mirror", 0.1, (1.1, 1.3)),
        ),
        small=(
            _SmallSpec("bottle", (1, 3), ("counter", "cabinet", "washing machine")),
            _SmallSpec("towel", (0, 2), ("counter", "cabinet", "washing machine"), variant="folded"),
            _SmallSpec("plant", (0, 1), ("cabinet", "counter")),
        ),
        windows=(0, 1),
    ),
}

# --------------------------------------------------------------------------------------------------
# rooms and doors

_SIDES = ("zmin", "xmin", "zmax", "xmax")  # index = yaw quarter of an item facing into the room from it
_DIRS = ((0, 1), (1, 0), (0, -1), (-1, 0))  # (dx, dz) of local +Z after q quarter turns about +Y

_Rect = tuple[float, float, float, float]  # x0, z0, x1, z1 (metres, world x/z)


@dataclass
class _Room:
    rect: _Rect  # wall centre lines
    exterior: dict[str, bool]
    type: str = ""
    name: str = ""


@dataclass(frozen=True)
class _Door:
    """A door on the wall line shared by rooms[0] and rooms[1] (None: the front door, a closed leaf).

    ``sides[k]`` is the side of rooms[k] the door is on, ``center`` its position along the wall (metres),
    ``gap`` the full opening including the two jambs."""

    rooms: tuple[int, int | None]
    sides: tuple[str, str | None]
    center: float
    gap: float


def _layout_rooms(rng: np.random.Generator, cfg: HouseConfig) -> list[_Room]:
    """Draw a footprint and split it into rooms (see the module docstring); world x/z, centred."""
    n = int(rng.integers(cfg.min_rooms, cfg.max_rooms + 1))
    min_side = cfg.min_room_size + cfg.wall_thickness
    for attempt in range(40):
        w, d = _draw_footprint(rng, n, cfg, grow=attempt / 39.0)
        rects = _split(rng, (-w / 2, -d / 2, w / 2, d / 2), n, min_side)
        if rects is not None:
            footprint = (-w / 2, -d / 2, w / 2, d / 2)
            return [_Room(r, _exterior_sides(r, footprint)) for r in rects]
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


def _split(rng: np.random.Generator, footprint: _Rect, n: int, min_side: float) -> list[_Rect] | None:
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


def _exterior_sides(r: _Rect, footprint: _Rect) -> dict[str, bool]:
    return {
        "xmin": abs(r[0] - footprint[0]) < _EPS,
        "zmin": abs(r[1] - footprint[1]) < _EPS,
        "xmax": abs(r[2] - footprint[2]) < _EPS,
        "zmax": abs(r[3] - footprint[3]) < _EPS,
    }


_SIZE_RANK = {  # larger ranks get larger rooms
    "living room": 7, "dining room": 5, "kitchen": 4, "bedroom": 4, "office": 3, "hallway": 2, "laundry room": 1,
    "bathroom": 0,
}  # fmt: skip


def _assign_room_types(rng: np.random.Generator, rooms: list[_Room]) -> None:
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


def _shared_walls(rooms: list[_Room]) -> list[tuple[int, int, str, str, float, float]]:
    """(i, j, side of i, side of j, start, end) for every wall segment two rooms share (metres along it)."""
    out = []
    for i, a in enumerate(rooms):
        for j in range(i + 1, len(rooms)):
            b = rooms[j]
            ax0, az0, ax1, az1 = a.rect
            bx0, bz0, bx1, bz1 = b.rect
            lo_z, hi_z = max(az0, bz0), min(az1, bz1)
            lo_x, hi_x = max(ax0, bx0), min(ax1, bx1)
            if abs(ax1 - bx0) < _EPS and hi_z > lo_z:
                out.append((i, j, "xmax", "xmin", lo_z, hi_z))
            elif abs(ax0 - bx1) < _EPS and hi_z > lo_z:
                out.append((i, j, "xmin", "xmax", lo_z, hi_z))
            elif abs(az1 - bz0) < _EPS and hi_x > lo_x:
                out.append((i, j, "zmax", "zmin", lo_x, hi_x))
            elif abs(az0 - bz1) < _EPS and hi_x > lo_x:
                out.append((i, j, "zmin", "zmax", lo_x, hi_x))
    return out


def _plan_doors(rng: np.random.Generator, rooms: list[_Room], cfg: HouseConfig) -> list[_Door]:
    """Doors on a random spanning tree of the room adjacency graph, plus maybe one extra."""
    gap = cfg.door_width + 2 * _TRIM
    need = gap + 2 * _DOOR_MARGIN
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
        doors.append(_Door((i, j), (si, sj), _door_center(rng, s0, s1, gap), gap))
    return doors


_FRONT_DOOR_ROOMS = ("hallway", "living room", "kitchen")


def _plan_front_door(rng: np.random.Generator, rooms: list[_Room], cfg: HouseConfig) -> _Door | None:
    """A closed front door on an exterior wall of the hallway, living room or kitchen (else any room)."""
    gap = cfg.door_width + 2 * _TRIM
    options = []
    for k, room in enumerate(rooms):
        for side in _SIDES:
            lo, hi = _side_span(room.rect, side)
            if room.exterior[side] and hi - lo >= gap + 2 * _DOOR_MARGIN:
                options.append((k, side, lo, hi))
    if not options:
        return None
    rank = {t: i for i, t in enumerate(_FRONT_DOOR_ROOMS)}
    best = min(rank.get(rooms[k].type, len(rank)) for k, *_ in options)
    options = [o for o in options if rank.get(rooms[o[0]].type, len(rank)) == best]
    k, side, lo, hi = options[int(rng.integers(len(options)))]
    return _Door((k, None), (side, None), _door_center(rng, lo, hi, gap), gap)


def _door_center(rng: np.random.Generator, s0: float, s1: float, gap: float) -> float:
    """A random door centre on the wall segment [s0, s1], ``_DOOR_MARGIN`` clear of both ends."""
    low = s0 + _DOOR_MARGIN + gap / 2
    return float(low + max(0.0, s1 - _DOOR_MARGIN - gap / 2 - low) * rng.random())


def _side_span(rect: _Rect, side: str) -> tuple[float, float]:
    """The extent of a room side along the wall (wall centre lines, metres)."""
    x0, z0, x1, z1 = rect
    return (x0, x1) if side in ("zmin", "zmax") else (z0, z1)


# --------------------------------------------------------------------------------------------------
# per-room placement state


@dataclass
class _Surface:
    """A support surface in the world: rect, top height, free height above, and what stands on it."""

    rect: _Rect
    height: float
    clearance: float
    kind: str
    owner: str
    q: int
    occupied: list[_Rect] = field(default_factory=list)


@dataclass
class _Item:
    """A placed object: its world-frame parts and box, and how it was placed."""

    category: str
    color: str
    parts: list[_Part]
    region: str
    lo: np.ndarray
    hi: np.ndarray
    q: int = 0
    side: str | None = None
    mounted: bool = False  # hangs on a wall (mirror, picture, window, front door...)

    @property
    def rect(self) -> _Rect:
        return (float(self.lo[0]), float(self.lo[2]), float(self.hi[0]), float(self.hi[2]))


def _item(
    category: str, color: str, parts: list[_Part], region: str, q: int = 0, side: str | None = None, mounted: bool = False
) -> _Item:
    v = np.concatenate([p.vertices for p in parts])
    return _Item(category, color, parts, region, v.min(axis=0), v.max(axis=0), q, side, mounted)


@dataclass
class _RoomState:
    room: _Room
    interior: _Rect  # inner wall faces
    openings: list[tuple[str, float, float, bool]]  # (side, centre along wall, full gap, is a real opening)
    keepout: list[_Rect]
    corridors: list[tuple[str, _Rect]]  # (side, rect through the door gap)
    anchors: list[tuple[float, float]]
    items: list[_Item] = field(default_factory=list)
    floor_rects: list[_Rect] = field(default_factory=list)
    surfaces: list[_Surface] = field(default_factory=list)


def _room_state(index: int, room: _Room, doors: list[_Door], cfg: HouseConfig) -> _RoomState:
    """The room's interior, its door openings, keep-out zones, door corridors and passability anchors."""
    h = cfg.wall_thickness / 2
    x0, z0, x1, z1 = room.rect
    interior = (x0 + h, z0 + h, x1 - h, z1 - h)
    st = _RoomState(room, interior, [], [], [], [])
    for door in doors:
        for k in (0, 1):
            if door.rooms[k] != index:
                continue
            side = door.sides[k]
            real = door.rooms[1] is not None
            st.openings.append((side, door.center, door.gap, real))
            st.keepout.append(_wall_rect(interior, side, door.center, door.gap + 0.2, 0.0, cfg.door_clearance))
            st.anchors.append(_wall_point(interior, side, door.center, 0.5))
            if real:
                st.corridors.append((side, _wall_rect(interior, side, door.center, cfg.door_width, -_NAV_PAD, 2 * _NAV_PAD)))
    return st


def _wall_rect(interior: _Rect, side: str, u: float, width: float, off: float, depth: float) -> _Rect:
    """A rect against a side's inner face: ``width`` along the wall centred at ``u``, from ``off`` to
    ``off + depth`` into the room (negative offsets reach into the wall)."""
    ix0, iz0, ix1, iz1 = interior
    a, b = u - width / 2, u + width / 2
    if side == "zmin":
        return (a, iz0 + off, b, iz0 + off + depth)
    if side == "zmax":
        return (a, iz1 - off - depth, b, iz1 - off)
    if side == "xmin":
        return (ix0 + off, a, ix0 + off + depth, b)
    return (ix1 - off - depth, a, ix1 - off, b)


def _wall_point(interior: _Rect, side: str, u: float, off: float) -> tuple[float, float]:
    r = _wall_rect(interior, side, u, 0.0, off, 0.0)
    return (r[0], r[1])


def _interior_span(interior: _Rect, side: str) -> tuple[float, float]:
    ix0, iz0, ix1, iz1 = interior
    return (ix0, ix1) if side in ("zmin", "zmax") else (iz0, iz1)


# --------------------------------------------------------------------------------------------------
# structure: floor, ceiling, walls with door gaps, door frames


def _room_structure(rng: np.random.Generator, st: _RoomState, cfg: HouseConfig) -> list[_Item]:
    """The room's floor slab, ceiling slab and one wall object per side (slabs between door gaps + lintels)."""
    room = st.room
    x0, z0, x1, z1 = room.rect
    wet = room.type in ("bathroom", "kitchen", "laundry room")
    floor_color = str(rng.choice(_WET_FLOOR_COLORS if wet else _COLORS["floor"]))
    wall_color = str(rng.choice(_COLORS["wall"]))
    items = [
        _item("floor", floor_color, [_box((x0, -0.05, z0), (x1, 0.0, z1), floor_color)], room.name),
        _item("ceiling", "white", [_box((x0, cfg.wall_height, z0), (x1, cfg.wall_height + 0.05, z1), "white")], room.name),
    ]
    for side in _SIDES:
        gaps = sorted((c - g / 2, c + g / 2) for s, c, g, real in st.openings if s == side and real)
        parts = _wall_parts(room, side, gaps, wall_color, cfg)
        items.append(_item("wall", wall_color, parts, room.name, side=side))
    return items


def _wall_parts(room: _Room, side: str, gaps: list[tuple[float, float]], color: str, cfg: HouseConfig) -> list[_Part]:
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

    def box(t0: float, t1: float, y0: float, y1: float) -> _Part:
        if side in ("zmin", "zmax"):
            return _box((t0, y0, n_lo), (t1, y1, n_hi), color)
        return _box((n_lo, y0, t0), (n_hi, y1, t1), color)

    parts, start = [], a
    for g0, g1 in gaps:
        if g0 > start + _EPS:
            parts.append(box(start, g0, 0.0, cfg.wall_height))
        parts.append(box(g0, g1, cfg.door_height + _TRIM, cfg.wall_height))
        start = g1
    if b > start + _EPS:
        parts.append(box(start, b, 0.0, cfg.wall_height))
    return parts


def _door_frames(rng: np.random.Generator, doors: list[_Door], rooms: list[_Room], cfg: HouseConfig) -> list[_Item]:
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
        color = str(rng.choice(_COLORS["door"]))
        spans = [  # (along-wall start, end, bottom, top) of the two jambs and the head
            (g0, g0 + _TRIM, 0.0, cfg.door_height),
            (g1 - _TRIM, g1, 0.0, cfg.door_height),
            (g0, g1, cfg.door_height, cfg.door_height + _TRIM),
        ]
        parts = []
        for t0, t1, y0, y1 in spans:
            if side in ("zmin", "zmax"):
                parts.append(_box((t0, y0, line - h), (t1, y1, line + h), color))
            else:
                parts.append(_box((line - h, y0, t0), (line + h, y1, t1), color))
        items.append(_item("door", color, parts, room.name))
    return items


# --------------------------------------------------------------------------------------------------
# transforms and placement checks


def _rotate_xz(q: int, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points' x/z turned by q quarter turns about +Y (counter-clockwise from above), exactly."""
    c, s = ((1, 0), (0, 1), (-1, 0), (0, -1))[q % 4]
    return c * x + s * z, -s * x + c * z


def _rotated_rect(model: _Model, q: int) -> tuple[_Rect, float]:
    """The model's footprint after q quarter turns (around its own origin) and its height."""
    lo, hi = model.bounds
    c, s = ((1, 0), (0, 1), (-1, 0), (0, -1))[q % 4]
    xs = (c * lo[0] + s * lo[2], c * hi[0] + s * hi[2])
    zs = (-s * lo[0] + c * lo[2], -s * hi[0] + c * hi[2])
    return (float(min(xs)), float(min(zs)), float(max(xs)), float(max(zs))), float(hi[1])


def _transform(model: _Model, q: int, t: tuple[float, float, float]) -> tuple[list[_Part], list[tuple[_LocalSurface, _Rect, float]]]:
    """World parts and surfaces (surface, world rect, world height) of the model turned by q and moved by t."""
    v = np.concatenate([p.vertices for p in model.parts])
    x, z = _rotate_xz(q, v[:, 0], v[:, 2])
    world = np.column_stack([x + t[0], v[:, 1] + t[1], z + t[2]])
    ends = np.cumsum([len(p.vertices) for p in model.parts])[:-1]
    parts = [_Part(w, p.faces, p.color) for w, p in zip(np.split(world, ends), model.parts)]
    surfaces = []
    for srf in model.surfaces:
        xs, zs = _rotate_xz(q, np.array([srf.rect[0], srf.rect[2]]), np.array([srf.rect[1], srf.rect[3]]))
        rect = (float(xs.min()) + t[0], float(zs.min()) + t[2], float(xs.max()) + t[0], float(zs.max()) + t[2])
        surfaces.append((srf, rect, srf.height + t[1]))
    return parts, surfaces


def _overlaps(a: _Rect, b: _Rect, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _inside(a: _Rect, b: _Rect) -> bool:
    return a[0] >= b[0] - _EPS and a[1] >= b[1] - _EPS and a[2] <= b[2] + _EPS and a[3] <= b[3] + _EPS


def _boxes_intersect(lo_a, hi_a, lo_b, hi_b, gap: float = 0.0) -> bool:
    return bool(np.all(lo_a < hi_b + gap) and np.all(lo_b < hi_a + gap))


def _floor_rect_ok(st: _RoomState, rect: _Rect, cfg: HouseConfig) -> bool:
    """Inside the room, clear of other floor items (with the gap) and of door keep-out zones."""
    if not _inside(rect, st.interior):
        return False
    if any(_overlaps(rect, r, cfg.furniture_gap) for r in st.floor_rects):
        return False
    return not any(_overlaps(rect, k) for k in st.keepout)


_NAV_RES = 0.05  # metres per cell of the passability grid
_NAV_PAD = 0.3  # grid margin around the interior, metres
_MIDDLE_FRACTION = 0.25  # share of the room's middle box that must stay reachable


def _grid_slice(lo: float, hi: float, origin: float, n: int) -> slice:
    """The grid cells (size ``_NAV_RES`` from ``origin``) whose centres lie in [lo, hi]."""
    i0 = math.ceil((lo - origin) / _NAV_RES - 0.5)
    i1 = math.floor((hi - origin) / _NAV_RES - 0.5) + 1
    return slice(min(max(i0, 0), n), min(max(i1, 0), n))


def _grow(rect: _Rect, dx: float, dz: float) -> _Rect:
    return (rect[0] - dx, rect[1] - dz, rect[2] + dx, rect[3] + dz)


def _passable(st: _RoomState, extra: _Rect | None, cfg: HouseConfig) -> bool:
    """Whether, with ``extra`` added, an agent of ``agent_radius`` still walks between every door of the
    room and its middle.

    A 5 cm grid of cell centres is *clear* when it is inside the interior (or a door corridor) shrunk
    by the radius and outside every floor item grown by it: a square (L-infinity) growth, so a clear
    centre is at least the radius from everything, and so is the segment to a clear neighbour. The
    door anchors must share one 4-connected clear component, which must also hold a quarter of the
    room's middle box (the central half in x and z)."""
    r = cfg.agent_radius + 0.02
    ix0, iz0, ix1, iz1 = st.interior
    ox, oz = ix0 - _NAV_PAD, iz0 - _NAV_PAD
    nx = int(math.ceil((ix1 - ix0 + 2 * _NAV_PAD) / _NAV_RES))
    nz = int(math.ceil((iz1 - iz0 + 2 * _NAV_PAD) / _NAV_RES))
    clear = np.zeros((nz, nx), dtype=bool)
    walkable = [_grow(st.interior, -r, -r)] + [
        _grow(c, -r, 0.0) if side in ("zmin", "zmax") else _grow(c, 0.0, -r) for side, c in st.corridors
    ]  # a door corridor is narrowed along its wall only
    blocked = [_grow(o, r, r) for o in st.floor_rects + ([extra] if extra else [])]
    for rect, value in [(w, True) for w in walkable] + [(b, False) for b in blocked]:
        clear[_grid_slice(rect[1], rect[3], oz, nz), _grid_slice(rect[0], rect[2], ox, nx)] = value
    labels, _ = ndimage.label(clear)
    ids = {int(labels[_grid_index(z, oz, nz), _grid_index(x, ox, nx)]) for x, z in st.anchors}
    if len(ids) != 1 or 0 in ids:
        return False
    mx, mz = (ix1 - ix0) / 4, (iz1 - iz0) / 4
    middle = labels[_grid_slice(iz0 + mz, iz1 - mz, oz, nz), _grid_slice(ix0 + mx, ix1 - mx, ox, nx)]
    return middle.size > 0 and float(np.mean(middle == ids.pop())) >= _MIDDLE_FRACTION


def _grid_index(v: float, origin: float, n: int) -> int:
    return min(max(int((v - origin) / _NAV_RES), 0), n - 1)


# --------------------------------------------------------------------------------------------------
# floor items


def _color(rng: np.random.Generator, category: str) -> str:
    return str(rng.choice(_COLORS[category]))


def _build(rng: np.random.Generator, category: str, color: str, variant: str, cfg: HouseConfig) -> _Model:
    return _BUILDERS[category](rng, color, variant, cfg.cylinder_sections)


def _commit(
    st: _RoomState, category: str, color: str, model: _Model, q: int, t: tuple[float, float, float],
    side: str | None, floor: bool,
) -> _Item:  # fmt: skip
    """Add a placed model to the room: its item, floor footprint and support surfaces."""
    parts, surfaces = _transform(model, q, t)
    item = _item(category, color, parts, st.room.name, q, side, mounted=side is not None and not floor)
    st.items.append(item)
    if floor:
        st.floor_rects.append(item.rect)
    for s, rect, height in surfaces:
        st.surfaces.append(_Surface(rect, height, s.clearance, s.kind, category, q))
    return item


def _translation(local: _Rect, target: _Rect, y: float = 0.0) -> tuple[float, float, float]:
    """The move that takes the rotated footprint ``local`` onto ``target`` (same size)."""
    return (target[0] - local[0], y, target[1] - local[1])


def _against_wall(st: _RoomState, side: str, local: _Rect, u: float, off: float) -> _Rect:
    """The footprint ``local`` (already turned to face into the room from ``side``) with its back
    ``off`` from the side's inner face, centred at ``u`` along the wall."""
    along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
    depth = local[3] - local[1] if side in ("zmin", "zmax") else local[2] - local[0]
    return _wall_rect(st.interior, side, u, along, off, depth)


def _wall_candidate(rng: np.random.Generator, st: _RoomState, local_of: Callable[[int], _Rect]) -> tuple[int, _Rect] | None:
    """A random (q, footprint) against a random side, snapping to a corner a third of the time."""
    lengths = np.array([np.subtract(*_interior_span(st.interior, s)[::-1]) for s in _SIDES])
    q = int(rng.choice(4, p=lengths / lengths.sum()))
    side = _SIDES[q]
    local = local_of(q)
    along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
    lo, hi = _interior_span(st.interior, side)
    if hi - lo < along:
        return None
    r = rng.random()
    u = lo + along / 2 if r < 0.17 else hi - along / 2 if r < 0.34 else rng.uniform(lo + along / 2, hi - along / 2)
    return q, _against_wall(st, side, local, float(u), 0.01)


def _free_candidate(rng: np.random.Generator, st: _RoomState, local_of: Callable[[int], _Rect]) -> tuple[int, _Rect] | None:
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
    rng: np.random.Generator, st: _RoomState, anchor: _Item, relation: str, local_of: Callable[[int], _Rect]
) -> tuple[int, _Rect] | None:
    """A (q, footprint) next to ``anchor``: beside it on its wall, in front of it, or around a table."""
    a = anchor.rect
    if relation == "beside":
        q = anchor.q
        local = local_of(q)
        side = _SIDES[q]
        along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
        a_lo, a_hi = (a[0], a[2]) if side in ("zmin", "zmax") else (a[1], a[3])
        gap = 0.06
        u = a_hi + gap + along / 2 if rng.random() < 0.5 else a_lo - gap - along / 2
        return q, _against_wall(st, side, local, float(u), 0.01)
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


def _next_to(a: _Rect, direction: int, local: _Rect, gap: float, lateral: float) -> _Rect:
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
    rng: np.random.Generator, st: _RoomState, category: str, variant: str, mode: str, cfg: HouseConfig,
    anchor: _Item | None = None,
) -> _Item | None:  # fmt: skip
    """Try random positions for one floor item; the first that passes every check is committed."""
    color = _color(rng, category)
    model = _build(rng, category, color, variant, cfg)
    for attempt in range(_FLOOR_ATTEMPTS):
        if attempt and attempt % 4 == 0:
            model = _build(rng, category, color, variant, cfg)  # try another size

        def local_of(q: int, model: _Model = model) -> _Rect:
            return _rotated_rect(model, q)[0]

        if anchor is not None:
            cand = _relative_candidate(rng, st, anchor, mode, local_of)
        elif mode == "free":
            cand = _free_candidate(rng, st, local_of)
        else:
            cand = _wall_candidate(rng, st, local_of)
        if cand is None:
            continue
        q, rect = cand
        if not _floor_rect_ok(st, rect, cfg) or not _passable(st, rect, cfg):
            continue
        side = _SIDES[q] if (anchor is None and mode == "wall") or mode == "beside" else None
        return _commit(st, category, color, model, q, _translation(local_of(q), rect), side, floor=True)
    return None


def _place_floor_items(rng: np.random.Generator, st: _RoomState, cfg: HouseConfig) -> None:
    """Every floor item of the room's recipe, with their companions."""
    for spec in _RECIPES[st.room.type].floor:
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


# --------------------------------------------------------------------------------------------------
# wall-mounted items and windows


def _wall_free(st: _RoomState, side: str, a: float, b: float, margin: float) -> bool:
    """Whether [a, b] along ``side`` lies inside the wall and ``margin`` clear of its door openings."""
    lo, hi = _interior_span(st.interior, side)
    if a < lo + 0.05 or b > hi - 0.05:
        return False
    return not any(s == side and a < c + g / 2 + margin and c - g / 2 - margin < b for s, c, g, _ in st.openings)


def _mount(
    st: _RoomState, model: _Model, side: str, u: float, bottom: float, cfg: HouseConfig
) -> tuple[_Rect, np.ndarray, np.ndarray] | None:
    """Footprint and 3D box of ``model`` flush on ``side``'s inner face at ``u`` with its bottom at
    ``bottom``, or None when it would leave the wall, cover a door or hit another item."""
    q = _SIDES.index(side)
    local, height = _rotated_rect(model, q)
    rect = _against_wall(st, side, local, u, 0.0)
    a, b = (rect[0], rect[2]) if side in ("zmin", "zmax") else (rect[1], rect[3])
    if not _wall_free(st, side, a, b, 0.15) or bottom + height > cfg.wall_height - 0.05:
        return None
    lo = np.array([rect[0], bottom, rect[1]])
    hi = np.array([rect[2], bottom + height, rect[3]])
    if any(_boxes_intersect(lo, hi, i.lo, i.hi, 0.01) for i in st.items):
        return None
    return rect, lo, hi


def _place_on_wall(
    rng: np.random.Generator, st: _RoomState, category: str, variant: str, bottoms: tuple[float, float],
    sides: list[str], cfg: HouseConfig, above: str = "",
) -> _Item | None:  # fmt: skip
    """Try random spots on ``sides`` (or above an item of category ``above``) for a wall item."""
    if not sides:
        return None
    color = _color(rng, category)
    model = _build(rng, category, color, variant, cfg)
    targets = [i for i in st.items if above and i.category == above and i.side in sides]
    for attempt in range(10):
        if targets and attempt < 3:
            anchor = targets[attempt % len(targets)]
            side = anchor.side
            u = (anchor.lo[0] + anchor.hi[0]) / 2 if side in ("zmin", "zmax") else (anchor.lo[2] + anchor.hi[2]) / 2
            bottom = float(anchor.hi[1]) + rng.uniform(0.2, 0.3)
        else:
            side = sides[int(rng.integers(len(sides)))]
            lo, hi = _interior_span(st.interior, side)
            u, bottom = rng.uniform(lo, hi), rng.uniform(*bottoms)
        placed = _mount(st, model, side, float(u), float(bottom), cfg)
        if placed is None:
            continue
        q = _SIDES.index(side)
        t = _translation(_rotated_rect(model, q)[0], placed[0], float(bottom))
        return _commit(st, category, color, model, q, t, side, floor=False)
    return None


def _place_windows(rng: np.random.Generator, st: _RoomState, cfg: HouseConfig) -> None:
    """Windows on the room's exterior sides (sill at 0.95 m)."""
    sides = [s for s in _SIDES if st.room.exterior[s]]
    lo, hi = _RECIPES[st.room.type].windows
    height = min(1.1, cfg.wall_height - 0.95 - 0.3)
    if height < 0.3:
        return
    for _ in range(int(rng.integers(lo, hi + 1))):
        _place_on_wall(rng, st, "window", f"{height:.3f}", (0.95, 0.95), sides, cfg)


def _place_wall_items(rng: np.random.Generator, st: _RoomState, cfg: HouseConfig) -> None:
    """Mirrors, pictures, clocks, wall TVs and hanging towels of the room's recipe."""
    for spec in _RECIPES[st.room.type].wall:
        if rng.random() >= spec.probability:
            continue
        for _ in range(int(rng.integers(spec.count[0], spec.count[1] + 1))):
            _place_on_wall(rng, st, spec.category, spec.variant, spec.bottom, list(_SIDES), cfg, spec.above)


def _front_door(rng: np.random.Generator, st: _RoomState, door: _Door, cfg: HouseConfig) -> _Item:
    """The closed front door leaf, flush on the inner face of its exterior wall."""
    color = _color(rng, "door")
    model = _build(rng, "door", color, f"{cfg.door_width},{cfg.door_height}", cfg)
    side = door.sides[0]
    q = _SIDES.index(side)
    local = _rotated_rect(model, q)[0]
    rect = _against_wall(st, side, local, door.center, 0.0)
    parts, _ = _transform(model, q, _translation(local, rect))
    item = _item("door", color, parts, st.room.name, q, side, mounted=True)
    st.items.append(item)
    return item


# --------------------------------------------------------------------------------------------------
# small objects on surfaces

_TURNABLE = ("mug", "bottle", "vase", "plant", "bowl", "book", "towel")


def _place_small(rng: np.random.Generator, st: _RoomState, spec: _SmallSpec, cfg: HouseConfig) -> _Item | None:
    """One small object on a random free spot of a supporting surface, bottom at the surface height."""
    surfaces = [s for s in st.surfaces if s.owner in spec.supports]
    if not surfaces:
        return None
    color = _color(rng, spec.category)
    mounted = [i for i in st.items if i.mounted]
    for _ in range(10):
        s = surfaces[int(rng.integers(len(surfaces)))]
        variant = spec.variant or ("upright" if spec.category == "book" and s.kind == "shelf" else "")
        model = _build(rng, spec.category, color, variant, cfg)
        q = (s.q + int(rng.integers(4))) % 4 if spec.category in _TURNABLE and variant != "upright" else s.q
        local, height = _rotated_rect(model, q)
        w, d = local[2] - local[0], local[3] - local[1]
        x0, z0, x1, z1 = s.rect
        if height > s.clearance - 0.02 or w > x1 - x0 - 0.04 or d > z1 - z0 - 0.04:
            continue
        x, z = rng.uniform(x0 + 0.02, x1 - 0.02 - w), rng.uniform(z0 + 0.02, z1 - 0.02 - d)
        rect = (x, z, x + w, z + d)
        if any(_overlaps(rect, o, 0.02) for o in s.occupied):
            continue
        lo, hi = np.array([rect[0], s.height, rect[1]]), np.array([rect[2], s.height + height, rect[3]])
        if any(_boxes_intersect(lo, hi, i.lo, i.hi, 0.01) for i in mounted):
            continue
        s.occupied.append(rect)
        return _commit(st, spec.category, color, model, q, _translation(local, rect, s.height), None, floor=False)
    return None


def _place_small_items(rng: np.random.Generator, st: _RoomState, cfg: HouseConfig) -> None:
    """Every small object of the room's recipe."""
    for spec in _RECIPES[st.room.type].small:
        if rng.random() >= spec.probability:
            continue
        if spec.unique and any(i.category == spec.category for i in st.items):
            continue
        for _ in range(int(rng.integers(spec.count[0], spec.count[1] + 1))):
            _place_small(rng, st, spec, cfg)


# --------------------------------------------------------------------------------------------------
# assembly


def _assemble(items: list[_Item], regions: list[Region], name: str) -> Scene:
    """One mesh of all items: instance ids 1..N in order, per-face palette colours, exact boxes."""
    parts = [(iid, part) for iid, item in enumerate(items, start=1) for part in item.parts]
    n_vertices = np.array([len(p.vertices) for _, p in parts])
    n_faces = np.array([len(p.faces) for _, p in parts])
    offsets = np.concatenate([[0], np.cumsum(n_vertices)[:-1]])
    names = list(PALETTE)
    rgb = np.array([PALETTE[c] for c in names], dtype=np.uint8)
    color_index = np.array([names.index(p.color) for _, p in parts])
    part_instance = np.array([iid for iid, _ in parts], dtype=np.int32)
    v = np.concatenate([p.vertices for _, p in parts]).astype(np.float32)
    f = np.concatenate([p.faces for _, p in parts]) + np.repeat(offsets, n_faces)[:, None]
    vertex_instance = np.repeat(part_instance, n_vertices)
    starts = np.searchsorted(vertex_instance, np.arange(1, len(items) + 1))
    lo = np.minimum.reduceat(v, starts, axis=0).astype(np.float64)
    hi = np.maximum.reduceat(v, starts, axis=0).astype(np.float64)
    objects = {
        iid: SceneObject(iid, item.category, lo[iid - 1], hi[iid - 1], item.color, item.region)
        for iid, item in enumerate(items, start=1)
    }
    return Scene(
        vertices=v,
        faces=f.astype(np.int32),
        face_colors=rgb[np.repeat(color_index, n_faces)],
        face_instance=np.repeat(part_instance, n_faces),
        objects=objects,
        regions=regions,
        name=name,
    )
