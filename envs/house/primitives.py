"""Mesh primitives as ``Part``s: box, cylinder/frustum, cone, ellipsoid and capsule, from cached unit templates."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import trimesh
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Part:
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


def box(lo: ArrayLike, hi: ArrayLike, color: str) -> Part:
    """An axis-aligned box between corners ``lo`` and ``hi`` (exact corner coordinates)."""
    corners, faces = _unit_mesh("box", 0)
    vertices = np.where(corners > 0.5, np.asarray(hi, dtype=np.float64), np.asarray(lo, dtype=np.float64))
    return Part(vertices, faces, color)


def cylinder(
    base: ArrayLike, radius: float, length: float, color: str, n: int, axis: str = "y", top_radius: float | None = None
) -> Part:
    """A cylinder (or frustum, with ``top_radius``) from the centre of its first cap ``base`` along +axis."""
    unit, faces = _unit_mesh("cylinder", n)
    r = np.where(unit[:, 1] > 0.5, radius if top_radius is None else top_radius, radius)
    local = np.column_stack([unit[:, 0] * r, unit[:, 1] * length, unit[:, 2] * r])
    return Part(_orient(local, axis) + np.asarray(base, dtype=np.float64), faces, color)


def cone(base: ArrayLike, radius: float, height: float, color: str, n: int) -> Part:
    """An upright cone: base circle centred at ``base``, apex ``height`` above."""
    unit, faces = _unit_mesh("cone", n)
    return Part(unit * np.array([radius, height, radius]) + np.asarray(base, dtype=np.float64), faces, color)


def ellipsoid(bottom: ArrayLike, radii: ArrayLike, color: str) -> Part:
    """An icosphere ellipsoid with semi-axes ``radii`` whose lowest point is exactly ``bottom`` (x, y, z)."""
    unit, faces = _unit_mesh("sphere", 0)
    bx, by, bz = bottom
    y = (unit[:, 1] - unit[:, 1].min()) * radii[1] + by
    vertices = np.column_stack([unit[:, 0] * radii[0] + bx, y, unit[:, 2] * radii[2] + bz])
    return Part(vertices, faces, color)


def capsule(center: ArrayLike, length: float, radius: float, color: str, n: int, axis: str = "x") -> Part:
    """A capsule of straight length ``length`` and ``radius``, centred at ``center``, along ``axis``."""
    unit, faces = _unit_mesh("capsule", n)
    v = unit * radius
    v[:, 1] += np.sign(unit[:, 1]) * (length / 2.0 - radius / 2.0)
    return Part(_orient(v, axis) + np.asarray(center, dtype=np.float64), faces, color)
