"""Which map points a decomposition step (or a grounding answer) means, for supervising the location pointer directly.

The location pointer (``agent.location_pointer``) learns its weights ``alpha`` over the map's points
only through the location tokens they lead to. A room step's tokens are the room's anchor, the
navigable point nearest its centre: open floor, which no point's feature names, so the pointer is
never told that "go to the bedroom" means the points *of* the bedroom, and the held-out room
waypoints end up in other rooms. The generator knows what each step refers to and records its box
(``meta["steps"][i]["extent"]``, ``agent.language_data``); these functions turn the boxes into masks
over a scene's points and score the pointer's weights against them:

- a room step's points are those inside the room's box in x/z (any height: floor, walls, furniture);
- an object step's points are those inside the object's box grown by ``OBJECT_MARGIN`` (the maps'
  surface points lie on it, up to a voxel).

The pointer-target loss of one step is ``-log sum_{p in mask} alpha_p`` at the position before its
first location token: the pointer's probability of choosing one of the step's own points. A
grounding answer (a box: two location triples) gets the same target, the points of its room or
object (``meta["box"]``), at each of its triples, so that its weights say where the box is
(``agent.map_waypoints.box_from_map``).

At planning time the same weights say where a room is: :func:`room_waypoints_from_pointer` puts a
room step's waypoint at the weighted mean (x/z) of the map's points under them. The location tokens
themselves are trained on the room's anchor, which no map point marks, so the written tokens follow
the LM more than the pointer there; the pointer's weights, trained on the room's own points, put
the waypoint inside the named room far more often (``docs/planner_ablations.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from agent.decomposition import Step
from envs.scene import Region

OBJECT_MARGIN = 0.15
"""Metres an object's box grows by on every side before its map points are read from it."""


def step_point_masks(meta: Mapping[str, Any] | None, points: np.ndarray) -> np.ndarray | None:
    """(S, N) bool: for each of a decomposition record's S steps (``meta["steps"]``, in answer order)
    which of the scene's points (N, 3) world metres it refers to; None when the record has no steps or
    a step has no ``extent`` (data written before extents were recorded)."""
    steps = (meta or {}).get("steps")
    if not steps or any("extent" not in s for s in steps):
        return None
    return np.stack([extent_points(step.get("kind") == "room", step["extent"], points) for step in steps])


def grounding_point_masks(meta: Mapping[str, Any] | None, points: np.ndarray) -> np.ndarray | None:
    """(2, N) bool: the scene's points (N, 3) world metres that a grounding record's box refers to
    (``meta["box"]``, xmin ymin zmin xmax ymax zmax; a room's when ``meta["kind"]`` is "room"), once
    for each of the answer's two location triples (its corners); None without a box."""
    box = (meta or {}).get("box")
    if box is None or len(box) != 6:
        return None
    mask = extent_points(meta.get("kind") == "room", [box[:3], box[3:]], points)  # (N,)
    return np.stack([mask, mask])


def record_point_masks(task: str, meta: Mapping[str, Any] | None, points: np.ndarray) -> np.ndarray | None:
    """The pointer's targets of a record of ``task``, one (N,) mask per location triple of its answer
    (:func:`step_point_masks`, :func:`grounding_point_masks`); None for other tasks."""
    if task == "decomposition":
        return step_point_masks(meta, points)
    if task == "grounding":
        return grounding_point_masks(meta, points)
    return None


def extent_points(room: bool, extent: Sequence[Sequence[float]], points: np.ndarray) -> np.ndarray:
    """(N,) bool: which ``points`` (N, 3) lie in ``extent`` ([lower (3,), upper (3,)] world metres): a
    room's in x/z at any height (floor, walls, furniture), an object's in its box grown by
    ``OBJECT_MARGIN`` (the maps' surface points lie on it, up to a voxel)."""
    lower, upper = (np.asarray(c, dtype=np.float64) for c in extent)  # (3,), (3,)
    if room:
        return Region("room", lower, upper).contains(points)
    return np.all((points >= lower - OBJECT_MARGIN) & (points <= upper + OBJECT_MARGIN), axis=1)


def step_region(step: Mapping[str, Any]) -> Region:
    """A room step's recorded ``extent`` as the scene ``Region`` it is (``Region.contains`` tests x/z)."""
    lower, upper = (np.asarray(c, dtype=np.float64) for c in step["extent"])
    return Region(str(step.get("target", "")), lower, upper)


def pointer_target_loss(log_alpha: torch.Tensor, masks: torch.Tensor) -> torch.Tensor | None:
    """Mean over steps of ``-log sum_{p in mask} alpha_p``; log_alpha (S, N) log-weights over points,
    masks (S, N) bool. Steps whose mask is empty are left out; None when none is left."""
    keep = masks.any(dim=1)  # (S,)
    if not bool(keep.any()):
        return None
    chosen = log_alpha[keep].float().masked_fill(~masks[keep], float("-inf"))  # (S', N)
    return -torch.logsumexp(chosen, dim=1).mean()


def group_targets(rows: Sequence[int], masks: Sequence[np.ndarray | None], width: int, device: torch.device) -> tuple[list[int], torch.Tensor] | None:
    """Match the pointer's groups to step masks: ``rows`` (G,) the batch row of each location group,
    in order within each row; ``masks`` one (S, N_r) array (or None) per batch row. Returns the
    indices of the groups that have a step mask and those masks padded to the batch's ``width`` points
    (G', width), or None (cut to the first ``width`` points where a mask has more: the points the
    model read, ``SceneEncoderConfig.max_points``). A row whose number of groups differs from its
    number of steps gets no target."""
    counts: dict[int, int] = {}
    for r in rows:
        counts[r] = counts.get(r, 0) + 1
    chosen, rows_masks = [], []
    seen: dict[int, int] = {}
    for g, r in enumerate(rows):
        k = seen.get(r, 0)
        seen[r] = k + 1
        mask = masks[r] if r < len(masks) else None
        if mask is None or len(mask) != counts[r]:
            continue
        chosen.append(g)
        rows_masks.append(mask[k])
    if not chosen:
        return None
    padded = np.zeros((len(chosen), width), dtype=bool)
    for i, m in enumerate(rows_masks):
        padded[i, : len(m)] = m[:width]
    return chosen, torch.as_tensor(padded, device=device)


def room_waypoints_from_pointer(steps: Sequence[Step], weights: Sequence[np.ndarray], points: np.ndarray) -> tuple[list[Step], list[str]]:
    """``steps`` with each room step's ("go to") waypoint moved to the mean x/z of ``points`` (N, 3)
    world metres under the pointer weights (N,) of its location triple (``weights``: one per step that
    wrote three location tokens, in order, ``ThreeDLLM.generate_with_weights``); its height stays as
    written. Returns the steps and a note per moved step. Steps are returned unchanged when the
    weights cannot be matched to the steps (another count of triples, or weights of another size)."""
    steps = list(steps)
    of_step = weights_by_step(steps, weights, len(points))
    if of_step is None:
        return steps, []
    out, notes = [], []
    for step in steps:
        w = of_step.get(id(step))
        if w is not None and step.action == "go to" and step.waypoint is not None and float(w.sum()) > 0:
            x, z = (np.asarray(w, dtype=np.float64) @ points[:, [0, 2]]) / float(w.sum())
            waypoint = np.array([x, step.waypoint[1], z])
            notes.append(f"step {step.index}: waypoint of {step.target!r} read from the pointer ({np.hypot(*(waypoint - step.waypoint)[[0, 2]]):.2f} m from the tokens)")
            step = replace(step, waypoint=waypoint)
        out.append(step)
    return out, notes


def weights_by_step(steps: Sequence[Step], weights: Sequence[np.ndarray], points: int) -> dict[int, np.ndarray] | None:
    """The pointer's weights (``points``,) of each step that wrote three location tokens, by the
    step's ``id``: ``weights`` holds one array per such step, in order
    (``ThreeDLLM.generate_with_weights``). None when they cannot be matched: another count of
    triples, a step with another number of tokens, or weights of another size."""
    written = [s for s in steps if len(s.bins) == 3]
    if len(written) != len(weights) or any(len(s.bins) not in (0, 3) for s in steps) or any(len(w) != points for w in weights):
        return None
    return {id(s): np.asarray(w, dtype=np.float64) for s, w in zip(written, weights)}
