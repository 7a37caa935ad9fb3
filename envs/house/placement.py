"""Placement: a model turned by quarter turns, moved onto a footprint in a room, and recorded there."""

from __future__ import annotations

import numpy as np

from envs.house.geometry import Rect, wall_rect
from envs.house.models import LocalSurface, Model
from envs.house.primitives import Part
from envs.house.room_state import Item, RoomState, Surface, item_from_parts


def _rotate_xz(q: int, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points' x/z turned by q quarter turns about +Y (counter-clockwise from above), exactly."""
    c, s = ((1, 0), (0, 1), (-1, 0), (0, -1))[q % 4]
    return c * x + s * z, -s * x + c * z


def rotated_rect(model: Model, q: int) -> tuple[Rect, float]:
    """The model's footprint after q quarter turns (around its own origin) and its height."""
    lo, hi = model.bounds
    c, s = ((1, 0), (0, 1), (-1, 0), (0, -1))[q % 4]
    xs = (c * lo[0] + s * lo[2], c * hi[0] + s * hi[2])
    zs = (-s * lo[0] + c * lo[2], -s * hi[0] + c * hi[2])
    return (float(min(xs)), float(min(zs)), float(max(xs)), float(max(zs))), float(hi[1])


def transform(model: Model, q: int, t: tuple[float, float, float]) -> tuple[list[Part], list[tuple[LocalSurface, Rect, float]]]:
    """World parts and surfaces (surface, world rect, world height) of the model turned by q and moved by t."""
    v = np.concatenate([p.vertices for p in model.parts])
    x, z = _rotate_xz(q, v[:, 0], v[:, 2])
    world = np.column_stack([x + t[0], v[:, 1] + t[1], z + t[2]])
    ends = np.cumsum([len(p.vertices) for p in model.parts])[:-1]
    parts = [Part(w, p.faces, p.color) for w, p in zip(np.split(world, ends), model.parts)]
    surfaces = []
    for srf in model.surfaces:
        xs, zs = _rotate_xz(q, np.array([srf.rect[0], srf.rect[2]]), np.array([srf.rect[1], srf.rect[3]]))
        rect = (float(xs.min()) + t[0], float(zs.min()) + t[2], float(xs.max()) + t[0], float(zs.max()) + t[2])
        surfaces.append((srf, rect, srf.height + t[1]))
    return parts, surfaces


def commit(
    st: RoomState, category: str, color: str, model: Model, q: int, t: tuple[float, float, float],
    side: str | None, floor: bool,
) -> Item:  # fmt: skip
    """Add a placed model to the room: its item, floor footprint and support surfaces."""
    parts, surfaces = transform(model, q, t)
    item = item_from_parts(category, color, parts, st.room.name, q, side, mounted=side is not None and not floor)
    st.items.append(item)
    if floor:
        st.floor_rects.append(item.rect)
    for s, rect, height in surfaces:
        st.surfaces.append(Surface(rect, height, s.clearance, s.kind, category, q))
    return item


def translation(local: Rect, target: Rect, y: float = 0.0) -> tuple[float, float, float]:
    """The move that takes the rotated footprint ``local`` onto ``target`` (same size)."""
    return (target[0] - local[0], y, target[1] - local[1])


def against_wall(st: RoomState, side: str, local: Rect, u: float, off: float) -> Rect:
    """The footprint ``local`` (already turned to face into the room from ``side``) with its back
    ``off`` from the side's inner face, centred at ``u`` along the wall."""
    along = local[2] - local[0] if side in ("zmin", "zmax") else local[3] - local[1]
    depth = local[3] - local[1] if side in ("zmin", "zmax") else local[2] - local[0]
    return wall_rect(st.interior, side, u, along, off, depth)
