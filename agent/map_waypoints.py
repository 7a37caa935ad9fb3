"""Waypoints read off the 3D-LLM's map from where its location pointer points.

The pointer head (``agent.location_pointer``) puts its weight on the map points a step means: the
points of the named room, or of the named object. The location tokens it writes then follow a
mixture around those points, which is neither where a room step is reached (the room's middle) nor
where an object step is (a place from which the object is in view). :func:`waypoints_from_map`
reads both from the map's geometry instead:

- a room step ("go to the kitchen"): the middle of the room box that the map's walls bound around
  the weighted mean of the pointed points (``agent.room_extent``);
- an object step ("find the red mug"): the place within reach of the pointed object first met
  walking from the previous step's waypoint (the start for the first step), through the cells the
  map's points at body height leave free (``agent.approach_points``).

A grounding answer's room box is read likewise (:func:`box_from_map`): the box of the walls around
the points the pointer chose.

Each waypoint keeps the height its tokens give; each moved step's ``box`` is what it was read from
(the room's box, or the pointed object's), so a later planner can tell the object from the place
to stand (``agent.grounded_planner.target_hint``). Held-out figures in ``docs/planner_ablations.md``
("Waypoints from the map's geometry").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from agent.approach_points import ApproachConfig, approach_point, body_points, pointed_object
from agent.decomposition import Step
from agent.pointer_targets import room_waypoints_from_pointer, weights_by_step
from agent.room_extent import WALL_PHRASE, RoomBoxConfig, room_box, wall_points
from agent.waypoint_format import WAYPOINT_SOURCES

ROOM_SIDE = 2.0
"""Metres: a written grounding box at least this wide in x and z is taken for a room's (``box_from_map``)."""


def map_walls(model: Any, features: Sequence[np.ndarray], min_cosine: float = RoomBoxConfig.wall_cosine) -> list[np.ndarray | None]:
    """Per scene, which of its map features (N, C) read as wall (``agent.room_extent.wall_points``)
    by the embedding of ``WALL_PHRASE`` from ``model.embed_phrases`` (the phrase encoder, in the
    maps' feature space); all None for a model without one, or whose maps' features are not in its
    phrase encoder's space (another width)."""
    if not hasattr(model, "embed_phrases"):
        return [None] * len(features)
    try:
        wall = model.embed_phrases([WALL_PHRASE])[0].float().cpu().numpy()  # (C,)
    except ValueError:  # the phrase encoder's width is not the features': no text reads them
        return [None] * len(features)
    return [wall_points(f, wall, min_cosine) for f in features]


def waypoints_from_map(
    steps: Sequence[Step],
    weights: Sequence[np.ndarray],
    points: np.ndarray,
    walls: np.ndarray,
    start: np.ndarray,
    rooms: RoomBoxConfig = RoomBoxConfig(),
    objects: ApproachConfig = ApproachConfig(),
) -> tuple[list[Step], list[str]]:
    """``steps`` with each room ("go to") and object ("find") step's waypoint read from the map
    (module doc): ``weights`` one (N,) array per step that wrote three location tokens, in order
    (``ThreeDLLM.generate_with_weights``), over ``points`` (N, 3) world metres of which ``walls``
    (N,) bool are walls; ``start`` (3,) the agent's position, on the floor. Returns the steps and a
    note per moved step. Steps are returned unchanged when the weights cannot be matched to the steps
    (another count of triples, or weights of another size)."""
    steps = list(steps)
    points = np.asarray(points, dtype=np.float64)
    of_step = weights_by_step(steps, weights, len(points))
    if of_step is None:
        return steps, []
    start = np.asarray(start, dtype=np.float64)
    blocked = body_points(points, float(start[1]), objects)  # (N,)
    previous = start
    out, notes = [], []
    for step in steps:
        w = of_step.get(id(step))
        moved, extent = None, None
        if w is not None and step.waypoint is not None and float(w.sum()) > 0:
            if step.action == "go to":
                moved, extent = pointed_room(points, walls, w, rooms)
                source = "the walls around the pointed points" if extent is not None else "the pointed points' mean"
            elif step.action == "find" and (box := pointed_object(points, w, objects)) is not None:
                moved = approach_point(points, blocked, walls, box[0][[0, 2]], box[1][[0, 2]], previous, objects)
                source, extent = "the way to the pointed object", np.concatenate(box)
        if moved is not None:
            waypoint = np.array([moved[0], step.waypoint[1], moved[1]])
            notes.append(f"step {step.index}: waypoint of {step.target!r} read from {source} ({np.hypot(*(waypoint - step.waypoint)[[0, 2]]):.2f} m from the tokens)")
            step = replace(step, waypoint=waypoint, box=extent)
        out.append(step)
        if step.waypoint is not None:
            previous = step.waypoint
    return out, notes


def pointed_room(points: np.ndarray, walls: np.ndarray, weights: np.ndarray, rooms: RoomBoxConfig = RoomBoxConfig()) -> tuple[np.ndarray, np.ndarray | None]:
    """The room the pointer's ``weights`` (N,), summing above 0, point at among ``points`` (N, 3)
    world metres of which ``walls`` (N,) bool are walls: its middle (2,) x/z and its box (6,)
    xmin ymin zmin xmax ymax zmax, floor to ceiling as the map's points reach, from the walls around
    the pointed points' weighted mean (``agent.room_extent.room_box``); that mean and None when no
    point is a wall."""
    mean = (weights @ points[:, [0, 2]]) / float(weights.sum())  # (2,) x/z
    room = room_box(points, walls, np.array([mean[0], 0.0, mean[1]]), rooms)
    if room is None:
        return mean, None
    low, high = float(points[:, 1].min()), float(points[:, 1].max())
    return (room[0] + room[1]) / 2, np.array([room[0][0], low, room[0][1], room[1][0], high, room[1][1]])


def box_from_map(
    box: np.ndarray | None, weights: Sequence[np.ndarray], points: np.ndarray, walls: np.ndarray, room_side: float = ROOM_SIDE, rooms: RoomBoxConfig = RoomBoxConfig()
) -> tuple[np.ndarray | None, str | None]:
    """A grounding answer's box read off the map, and a note when it was: ``box`` (6,) xmin ymin
    zmin xmax ymax zmax world metres as written (None when unreadable), ``weights`` the pointer's
    (N,) per location triple of the answer (``ThreeDLLM.generate_with_weights``) over ``points``
    (N, 3), of which ``walls`` (N,) bool are walls. A room's box (written at least ``room_side``
    wide in x and z) becomes the box of walls around the points its first triple's weights point at
    (:func:`pointed_room`); an object's stays as written, as the map's sample holds too few of a
    small object's points to give its extent (``docs/planner_ablations.md``)."""
    points = np.asarray(points, dtype=np.float64)
    if box is None or not weights or len(weights[0]) != len(points) or not float(np.sum(weights[0])) > 0:
        return box, None
    box = np.asarray(box, dtype=np.float64)
    if min(box[3] - box[0], box[5] - box[2]) < room_side:
        return box, None
    _, room = pointed_room(points, np.asarray(walls, dtype=bool), np.asarray(weights[0], dtype=np.float64), rooms)
    return (box, None) if room is None else (room, "room box read from the walls around the pointed points")


def read_waypoints(
    source: str, steps: Sequence[Step], weights: Sequence[np.ndarray], points: np.ndarray, walls: np.ndarray | None, start: np.ndarray | None
) -> tuple[list[Step], list[str]]:
    """``steps`` with their waypoints read as ``source`` (``agent.waypoint_format.WAYPOINT_SOURCES``)
    says: "map" by :func:`waypoints_from_map` from ``start`` (3,) (``walls`` None: no point is a
    wall, so room steps stay at the pointed points' mean; without ``start``, as "pointer"),
    "pointer" by ``room_waypoints_from_pointer``, "tokens" as written. Returns the steps and a note
    per moved step."""
    if source not in WAYPOINT_SOURCES:
        raise ValueError(f"the waypoint source must be one of {WAYPOINT_SOURCES}, got {source!r}")
    if source == "tokens" or not weights:
        return list(steps), []
    if source == "map" and start is not None:
        walls = np.zeros(len(points), dtype=bool) if walls is None else walls
        return waypoints_from_map(steps, weights, points, walls, start)
    return room_waypoints_from_pointer(steps, weights, np.asarray(points, dtype=np.float64))
