"""Names a generated house uses: room types, palette colours, object categories and each category's colours."""

from __future__ import annotations

import numpy as np

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

COLORS: dict[str, tuple[str, ...]] = {
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
WET_FLOOR_COLORS = ("white", "gray", "beige")  # bathrooms, kitchens, laundry rooms


def pick_color(rng: np.random.Generator, category: str) -> str:
    """A random main colour (a ``PALETTE`` name) for an item of ``category``."""
    return str(rng.choice(COLORS[category]))
