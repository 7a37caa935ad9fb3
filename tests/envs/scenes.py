"""Hand-built scenes whose geometry the tests know exactly (metres, Y up)."""

from __future__ import annotations

import numpy as np
import trimesh

from envs.scene import Region, Scene, SceneObject

FLOOR_ID, DIVIDER_ID, BOX_ID = 1, 2, 3


def box_scene(parts: list[tuple[int, str, tuple[float, float, float], tuple[float, float, float], tuple[int, int, int]]], name: str) -> Scene:
    """A scene of axis-aligned boxes: (instance id, category, min corner, max corner, colour) each."""
    vertices, faces, colors, ids, objects = [], [], [], [], {}
    offset = 0
    for instance, category, lo, hi, color in parts:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        m = trimesh.creation.box(extents=hi - lo)
        m.apply_translation((lo + hi) / 2)
        vertices.append(m.vertices)
        faces.append(m.faces + offset)
        colors.append(np.tile(color, (len(m.faces), 1)))
        ids.append(np.full(len(m.faces), instance))
        objects[instance] = SceneObject(instance, category, lo, hi, region="room")
        offset += len(m.vertices)
    return Scene(
        np.concatenate(vertices),
        np.concatenate(faces),
        np.concatenate(colors),
        np.concatenate(ids),
        objects,
        [Region("room", np.array([0.0, 0.0, 0.0]), np.array([6.0, 2.0, 4.0]))],
        name=name,
    )


def divided_room() -> Scene:
    """A 6 x 4 m floor (top at y = 0) split at x = 3 by a 0.1 m thick, 2 m high wall running from
    z = 0 to z = 3, leaving a 1 m gap at z in [3, 4]; no outer walls (the floor's edge bounds it)."""
    return box_scene(
        [
            (FLOOR_ID, "floor", (0.0, -0.1, 0.0), (6.0, 0.0, 4.0), (150, 150, 150)),
            (DIVIDER_ID, "wall", (2.95, 0.0, 0.0), (3.05, 2.0, 3.0), (200, 50, 50)),
        ],
        "divided_room",
    )


def sealed_rooms() -> Scene:
    """The same floor with the dividing wall running the whole depth: two unconnected halves."""
    return box_scene(
        [
            (FLOOR_ID, "floor", (0.0, -0.1, 0.0), (6.0, 0.0, 4.0), (150, 150, 150)),
            (DIVIDER_ID, "wall", (2.95, 0.0, -0.5), (3.05, 2.0, 4.5), (200, 50, 50)),
        ],
        "sealed_rooms",
    )
