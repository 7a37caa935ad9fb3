"""Where on the agent's own occupancy grid to stand: inside a room, or where a target is in view.

Pure functions of an ``perception.occupancy.OccupancyGrid`` (world frame, Y up, metres). A cell is
*clear* when it is free and at least ``clearance`` metres from every occupied cell (the agent's
body fits there).
"""

from __future__ import annotations

import math

import numpy as np

from perception.occupancy import OCCUPIED, OccupancyGrid


def clear_points(grid: OccupancyGrid, clearance: float) -> np.ndarray:
    """(K, 3) centres of the grid's clear cells, at floor height."""
    from scipy import ndimage

    free = grid.free
    if not free.any():
        return np.zeros((0, 3))
    occupied = grid.occupied
    distance = ndimage.distance_transform_edt(~occupied) * grid.resolution if occupied.any() else np.full(free.shape, np.inf)
    return grid.cell_to_world(np.argwhere(free & (distance >= clearance)))


def nearest_clear_point(grid: OccupancyGrid, point: np.ndarray, clearance: float, max_distance: float, near_point: float = 0.1) -> np.ndarray | None:
    """The clear cell centre (3,) nearest ``point`` (3,) (x/z) with ``point`` in sight of it
    (``in_sight`` with ``near_point`` as ``near_target``: not across a wall), if one is within
    ``max_distance`` metres."""
    centres = clear_points(grid, clearance)
    d = np.hypot(centres[:, 0] - point[0], centres[:, 2] - point[2])
    for k in np.argsort(d):
        if d[k] > max_distance:
            break
        if in_sight(grid, centres[k], point, near_point):
            return centres[k]
    return None


def viewing_distance(target_height: float, camera_height: float, vfov: float, least: float = 0.45, most: float = 0.85) -> float:
    """Metres (x/z) from a target at ``target_height`` (world Y) at which a level camera at
    ``camera_height`` with vertical field of view ``vfov`` (radians) has it in view, plus 0.1 m,
    within [``least``, ``most``]: a low book or a high picture is out of view from close by."""
    return float(np.clip(abs(target_height - camera_height) / math.tan(vfov / 2) + 0.1, least, most))


def in_sight(grid: OccupancyGrid, stand: np.ndarray, target: np.ndarray, near_target: float = 0.25) -> bool:
    """Whether the straight x/z line from ``stand`` (3,) to ``target`` (3,) crosses no occupied
    cell, except within ``near_target`` metres of the target (the target's own cells; a wall that
    close behind a picture does not count either, so the side is left to ``viewing_point``'s
    ``toward``). The grid has no heights: a mug in the middle of a table is out of sight from
    everywhere by this test."""
    length = float(np.hypot(*(target - stand)[[0, 2]]))
    if length <= near_target:
        return True
    t = np.arange(0.0, length - near_target, grid.resolution / 2) / length  # (S,)
    samples = stand[None, :] + t[:, None] * (target - stand)[None, :]  # (S, 3)
    return not bool((grid.state_at(samples) == OCCUPIED).any())


def viewing_point(
    grid: OccupancyGrid,
    target: np.ndarray,
    toward: np.ndarray,
    distance: float,
    clearance: float,
    band: float = 0.1,
) -> np.ndarray | None:
    """A clear cell centre (3,) about ``distance`` metres (x/z, within ``band``) from ``target``
    (3,) with the target in sight (``in_sight``), the one nearest ``toward`` (3,); None when
    there is none."""
    centres = clear_points(grid, clearance)
    if len(centres) == 0:
        return None
    d = np.hypot(centres[:, 0] - target[0], centres[:, 2] - target[2])
    ring = centres[np.abs(d - distance) <= band]  # (R, 3)
    order = np.argsort(np.hypot(ring[:, 0] - toward[0], ring[:, 2] - toward[2]))
    for k in order:
        if in_sight(grid, ring[k], target):
            return ring[k]
    return None
