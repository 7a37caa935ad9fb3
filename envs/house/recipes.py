"""Recipes: the floor, wall and small items each room type holds, and how many windows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Companion:
    """An item placed relative to the one just placed: "around" (chairs round a table), "beside" (along
    the same wall), or "front" (in front of it; a chair faces back towards it)."""

    category: str
    relation: str
    count: tuple[int, int] = (1, 1)
    probability: float = 1.0
    variant: str = ""


@dataclass(frozen=True)
class FloorSpec:
    """A floor-standing item: against a wall ("wall") or anywhere ("free")."""

    category: str
    probability: float = 1.0
    count: tuple[int, int] = (1, 1)
    mode: str = "wall"
    variant: str = ""
    unless: str = ""  # skip when the room already holds this category
    companions: tuple[Companion, ...] = ()


@dataclass(frozen=True)
class WallSpec:
    """A wall-mounted item with its bottom edge in ``bottom`` (metres), optionally above an item."""

    category: str
    probability: float
    bottom: tuple[float, float]
    count: tuple[int, int] = (1, 1)
    variant: str = ""
    above: str = ""


@dataclass(frozen=True)
class SmallSpec:
    """Small objects standing on the surfaces of the listed categories."""

    category: str
    count: tuple[int, int]
    supports: tuple[str, ...]
    probability: float = 1.0
    variant: str = ""
    unique: bool = False  # skip when the room already holds this category


@dataclass(frozen=True)
class Recipe:
    """What a room type holds: floor, wall and small items, and a range of window counts."""

    floor: tuple[FloorSpec, ...]
    wall: tuple[WallSpec, ...]
    small: tuple[SmallSpec, ...]
    windows: tuple[int, int]


_SHELVES = ("bookshelf",)
_PICTURE = WallSpec("picture", 0.6, (1.3, 1.6))
_CLOCK = WallSpec("clock", 0.4, (1.75, 1.95), variant="wall")

RECIPES: dict[str, Recipe] = {
    "living room": Recipe(
        floor=(
            FloorSpec("sofa", companions=(Companion("table", "front", probability=0.8, variant="coffee"),)),
            FloorSpec("cabinet", 0.9, variant="low"),
            FloorSpec("armchair", 0.7, (1, 2)),
            FloorSpec("fireplace", 0.5),
            FloorSpec("bookshelf", 0.6),
            FloorSpec("table", 0.3, variant="side"),
        ),
        wall=(WallSpec("tv", 0.25, (1.0, 1.2), variant="wall"), _PICTURE, _CLOCK, WallSpec("mirror", 0.2, (1.1, 1.3))),
        small=(
            SmallSpec("tv", (1, 1), ("cabinet",), 0.9, unique=True),
            SmallSpec("pillow", (1, 3), ("sofa", "armchair")),
            SmallSpec("lamp", (0, 1), ("table", "cabinet")),
            SmallSpec("plant", (0, 2), ("table", "cabinet") + _SHELVES),
            SmallSpec("vase", (0, 1), ("table", "cabinet") + _SHELVES),
            SmallSpec("book", (0, 4), ("table",) + _SHELVES),
            SmallSpec("mug", (0, 1), ("table",)),
            SmallSpec("clock", (0, 1), ("cabinet",) + _SHELVES, variant="table", unique=True),
            SmallSpec("bowl", (0, 1), ("table",)),
        ),
        windows=(1, 3),
    ),
    "kitchen": Recipe(
        floor=(
            FloorSpec("counter", count=(1, 2)),
            FloorSpec("refrigerator"),
            FloorSpec("oven", 0.9),
            FloorSpec("dishwasher", 0.6),
            FloorSpec("cabinet", 0.3),
            FloorSpec("table", 0.5, mode="free", variant="kitchen", companions=(Companion("chair", "around", (2, 4)),)),
            FloorSpec("trash can", 0.6),
        ),
        wall=(_CLOCK, WallSpec("picture", 0.2, (1.3, 1.6))),
        small=(
            SmallSpec("sink", (1, 1), ("counter",), 0.95, variant="basin"),
            SmallSpec("microwave", (1, 1), ("counter",), 0.8),
            SmallSpec("mug", (0, 3), ("counter", "table")),
            SmallSpec("bottle", (0, 3), ("counter", "table")),
            SmallSpec("bowl", (0, 2), ("counter", "table")),
            SmallSpec("plant", (0, 1), ("counter", "table", "cabinet")),
            SmallSpec("vase", (0, 1), ("table",)),
            SmallSpec("towel", (0, 1), ("counter",), variant="folded"),
            SmallSpec("book", (0, 1), ("counter",)),
        ),
        windows=(1, 2),
    ),
    "bedroom": Recipe(
        floor=(
            FloorSpec("bed", companions=(Companion("nightstand", "beside", (1, 2), 0.9),)),
            FloorSpec("wardrobe", 0.8),
            FloorSpec("cabinet", 0.5, variant="dresser"),
            FloorSpec("desk", 0.3, companions=(Companion("chair", "front"),)),
            FloorSpec("armchair", 0.2),
            FloorSpec("bookshelf", 0.3),
        ),
        wall=(
            WallSpec("mirror", 0.5, (1.0, 1.2)),
            _PICTURE,
            WallSpec("clock", 0.3, (1.75, 1.95), variant="wall"),
            WallSpec("tv", 0.2, (1.0, 1.2), variant="wall"),
        ),
        small=(
            SmallSpec("pillow", (1, 2), ("bed",)),
            SmallSpec("lamp", (1, 2), ("nightstand", "desk")),
            SmallSpec("book", (0, 3), ("nightstand", "desk") + _SHELVES),
            SmallSpec("clock", (0, 1), ("nightstand", "cabinet"), variant="table", unique=True),
            SmallSpec("plant", (0, 1), ("cabinet", "desk", "nightstand") + _SHELVES),
            SmallSpec("vase", (0, 1), ("cabinet",)),
            SmallSpec("laptop", (0, 1), ("desk",)),
            SmallSpec("mug", (0, 1), ("nightstand", "desk")),
            SmallSpec("bottle", (0, 1), ("nightstand", "cabinet")),
        ),
        windows=(1, 2),
    ),
    "bathroom": Recipe(
        floor=(
            FloorSpec("toilet"),
            FloorSpec("sink"),
            FloorSpec("bathtub", 0.55),
            FloorSpec("shower", unless="bathtub"),
            FloorSpec("cabinet", 0.5),
            FloorSpec("washing machine", 0.2),
            FloorSpec("trash can", 0.5),
        ),
        wall=(
            WallSpec("mirror", 0.9, (1.1, 1.3), above="sink"),
            WallSpec("towel", 0.9, (0.8, 0.95), (1, 2), variant="hanging"),
            WallSpec("picture", 0.2, (1.3, 1.6)),
        ),
        small=(
            SmallSpec("bottle", (1, 3), ("cabinet", "washing machine")),
            SmallSpec("towel", (0, 1), ("cabinet", "washing machine"), variant="folded"),
            SmallSpec("plant", (0, 1), ("cabinet",)),
            SmallSpec("vase", (0, 1), ("cabinet",)),
        ),
        windows=(0, 1),
    ),
    "office": Recipe(
        floor=(
            FloorSpec("desk", companions=(Companion("chair", "front"),)),
            FloorSpec("bookshelf", count=(1, 2)),
            FloorSpec("cabinet", 0.5),
            FloorSpec("armchair", 0.4),
        ),
        wall=(
            WallSpec("picture", 0.7, (1.3, 1.6)),
            WallSpec("clock", 0.6, (1.75, 1.95), variant="wall"),
            WallSpec("tv", 0.1, (1.1, 1.2), variant="wall"),
        ),
        small=(
            SmallSpec("laptop", (1, 1), ("desk",)),
            SmallSpec("lamp", (0, 1), ("desk", "cabinet")),
            SmallSpec("book", (1, 6), ("desk",) + _SHELVES),
            SmallSpec("mug", (0, 2), ("desk",)),
            SmallSpec("plant", (0, 2), ("desk", "cabinet") + _SHELVES),
            SmallSpec("bottle", (0, 1), ("desk",)),
            SmallSpec("vase", (0, 1), ("cabinet",) + _SHELVES),
        ),
        windows=(1, 2),
    ),
    "dining room": Recipe(
        floor=(
            FloorSpec("table", mode="free", variant="dining", companions=(Companion("chair", "around", (4, 6)),)),
            FloorSpec("cabinet", 0.8),
            FloorSpec("bookshelf", 0.3),
        ),
        wall=(WallSpec("picture", 0.8, (1.3, 1.6)), _CLOCK, WallSpec("mirror", 0.2, (1.1, 1.3))),
        small=(
            SmallSpec("vase", (0, 1), ("table",)),
            SmallSpec("bowl", (0, 2), ("table", "cabinet")),
            SmallSpec("bottle", (0, 2), ("table", "cabinet")),
            SmallSpec("plant", (0, 1), ("cabinet",) + _SHELVES),
            SmallSpec("lamp", (0, 1), ("cabinet",)),
            SmallSpec("mug", (0, 2), ("table",)),
            SmallSpec("book", (0, 2), _SHELVES + ("cabinet",)),
        ),
        windows=(1, 2),
    ),
    "hallway": Recipe(
        floor=(
            FloorSpec("cabinet", 0.6),
            FloorSpec("table", 0.4, variant="console"),
            FloorSpec("bookshelf", 0.3),
            FloorSpec("stool", 0.4),
            FloorSpec("armchair", 0.1),
        ),
        wall=(WallSpec("mirror", 0.6, (1.0, 1.2)), _PICTURE, _CLOCK),
        small=(
            SmallSpec("plant", (0, 1), ("cabinet", "table")),
            SmallSpec("vase", (0, 1), ("cabinet", "table")),
            SmallSpec("lamp", (0, 1), ("cabinet", "table")),
            SmallSpec("book", (0, 2), _SHELVES + ("table",)),
            SmallSpec("clock", (0, 1), ("cabinet",), variant="table", unique=True),
        ),
        windows=(0, 1),
    ),
    "laundry room": Recipe(
        floor=(
            FloorSpec("washing machine", count=(1, 2)),
            FloorSpec("counter", 0.5),
            FloorSpec("cabinet", 0.6),
            FloorSpec("sink", 0.4),
            FloorSpec("trash can", 0.5),
            FloorSpec("stool", 0.2),
        ),
        wall=(
            WallSpec("towel", 0.6, (0.8, 0.95), variant="hanging"),
            WallSpec("clock", 0.3, (1.75, 1.95), variant="wall"),
            WallSpec("mirror", 0.1, (1.1, 1.3)),
        ),
        small=(
            SmallSpec("bottle", (1, 3), ("counter", "cabinet", "washing machine")),
            SmallSpec("towel", (0, 2), ("counter", "cabinet", "washing machine"), variant="folded"),
            SmallSpec("plant", (0, 1), ("cabinet", "counter")),
        ),
        windows=(0, 1),
    ),
}
