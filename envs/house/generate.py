"""The entry points: ``generate_house`` (seed -> furnished ``Scene``) and ``parse_house_id``."""

from __future__ import annotations

import re

import numpy as np

from envs.house.assemble import assemble_scene
from envs.house.config import HouseConfig
from envs.house.floor_items import place_floor_items
from envs.house.layout import assign_room_types, layout_rooms, plan_doors, plan_front_door
from envs.house.room_state import Item, new_room_state
from envs.house.small_items import place_small_items
from envs.house.structure import door_frames, room_structure
from envs.house.wall_items import place_front_door, place_wall_items, place_windows
from envs.scene import Region, Scene

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
    piece of furniture and small object (see the ``envs.house`` package docstring for the algorithm).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"house seed must be a non-negative integer, got {seed!r}")
    cfg = config if config is not None else HouseConfig()
    rng = np.random.default_rng(int(seed))
    rooms = layout_rooms(rng, cfg)
    assign_room_types(rng, rooms)
    doors = plan_doors(rng, rooms, cfg)
    front = plan_front_door(rng, rooms, cfg)
    states = [new_room_state(k, room, doors + ([front] if front else []), cfg) for k, room in enumerate(rooms)]
    items: list[Item] = []
    for st in states:
        items.extend(room_structure(rng, st, cfg))
    items.extend(door_frames(rng, doors, rooms, cfg))
    if front is not None:
        items.append(place_front_door(rng, states[front.rooms[0]], front, cfg))
    for st in states:
        if cfg.furnish:
            place_floor_items(rng, st, cfg)
        place_windows(rng, st, cfg)
        if cfg.furnish:
            place_wall_items(rng, st, cfg)
            place_small_items(rng, st, cfg)
        items.extend(st.items)
    regions = [
        Region(r.name, np.array([r.rect[0], 0.0, r.rect[1]]), np.array([r.rect[2], cfg.wall_height, r.rect[3]]))
        for r in rooms
    ]
    return assemble_scene(items, regions, f"house:{int(seed)}")
