"""Assembly: all placed items merged into one ``Scene`` mesh with instance ids, face colours and object boxes."""

from __future__ import annotations

import numpy as np

from envs.house.room_state import Item
from envs.house.vocabulary import PALETTE
from envs.scene import Region, Scene, SceneObject


def assemble_scene(items: list[Item], regions: list[Region], name: str) -> Scene:
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
