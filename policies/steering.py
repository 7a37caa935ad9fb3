"""``Steering``: turns a path into one discrete action (shared by the oracle follower and the map planner).

Points are world-frame metres (Y up, only x/z matter); yaw 0 faces -Z, positive yaw turns left.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from envs.simulator import AgentConfig
from envs.types import Action

SegmentClear = Callable[[np.ndarray, np.ndarray], bool]
"""Whether the agent can walk the straight segment (start (3,), end (3,)) without colliding."""


class Steering:
    """Follows a path one discrete action at a time.

    Each call takes the path's next waypoint a forward step can make progress on and, among the
    headings the agent can reach by turning, picks the one whose forward step is clear and ends
    nearest that waypoint: MOVE_FORWARD when that is the current heading, else a turn towards it.
    STOP when no clear step gets closer to the path's end (it lies within half a step). After a turn
    it steps forward if it can, so float noise in the observed pose cannot make it turn back and
    forth; a forward step that left the agent where it was (a collision) is not tried again.

    With ``arrive_radius`` (metres), the last stretch is planned as a whole: once the path's end is
    within ``APPROACH_FORWARD_STEPS`` forward steps, it follows the shortest action sequence that
    ends within ``arrive_radius`` of the end (``approach_actions``), since single greedy steps of a
    quarter metre can only promise to stop within half a step of it; STOP once there.
    """

    def __init__(self, agent_config: AgentConfig = AgentConfig(), arrive_radius: float | None = None) -> None:
        if arrive_radius is not None and not arrive_radius > 0:
            raise ValueError(f"arrive_radius must be positive metres or None, got {arrive_radius!r}")
        self.agent_config = agent_config
        self.arrive_radius = arrive_radius
        self.reset()

    def reset(self) -> None:
        self._heading: float | None = None  # the yaw the last turn was heading for
        self._last_forward_from: np.ndarray | None = None  # where the last MOVE_FORWARD started
        self._approach: list[Action] = []  # the rest of the planned final approach
        self._approach_to: np.ndarray | None = None  # the path end it leads to

    def forward_blocked(self, position: np.ndarray) -> bool:
        """Whether the last action was a MOVE_FORWARD from ``position`` that left the agent there."""
        return self._last_forward_from is not None and bool(np.allclose(self._last_forward_from, position, atol=1e-6))

    def act(self, position: np.ndarray, yaw: float, path: np.ndarray, segment_clear: SegmentClear) -> Action:
        """The next action along ``path`` (K >= 2, 3) from the agent at ``position`` (3,), heading ``yaw`` (radians)."""
        step = self.agent_config.forward_step
        if self.arrive_radius is not None and np.hypot(*(path[-1] - position)[[0, 2]]) <= APPROACH_FORWARD_STEPS * step:
            action = self._final_approach(position, yaw, path[-1], segment_clear)
            if action is not None:
                return action
        far = [i for i in range(1, len(path)) if np.hypot(*(path[i] - position)[[0, 2]]) > step / 2]
        target_index = far[0] if far else len(path) - 1  # the next waypoint a step can make progress on
        target = path[target_index]
        turn = math.radians(self.agent_config.turn_angle_deg)
        blocked_ahead = self.forward_blocked(position)
        committed, self._heading = self._heading, None
        self._last_forward_from = None
        if not blocked_ahead and committed is not None and abs(angle_difference(yaw, committed)) < turn / 2:
            # finish what the last turn started, so float noise in the pose cannot flip the choice
            if segment_clear(position, step_end(position, yaw, step)):
                self._last_forward_from = position
                return Action.MOVE_FORWARD
        n_headings = max(1, int(round(2 * math.pi / turn)))
        best_turns, best_gap = None, np.hypot(*(target - position)[[0, 2]])
        for k in sorted(range(-(n_headings // 2), n_headings // 2 + 1), key=abs):
            if k == 0 and blocked_ahead:
                continue
            end = step_end(position, yaw + k * turn, step)
            gap = float(np.hypot(*(target - end)[[0, 2]]))
            if gap < best_gap - 1e-6 and segment_clear(position, end):
                best_turns, best_gap = k, gap
        if best_turns is None:  # no clear step gets closer
            return Action.STOP if target_index == len(path) - 1 else Action.TURN_LEFT
        if best_turns == 0:
            self._last_forward_from = position
            return Action.MOVE_FORWARD
        self._heading = yaw + best_turns * turn
        return Action.TURN_LEFT if best_turns > 0 else Action.TURN_RIGHT

    def _final_approach(self, position: np.ndarray, yaw: float, end: np.ndarray, segment_clear: SegmentClear) -> Action | None:
        """The next action of the planned final approach to ``end`` (planned anew when the end moved
        or a forward step collided); STOP within ``arrive_radius``; None when no approach lands there."""
        if np.hypot(*(end - position)[[0, 2]]) <= self.arrive_radius:
            self._approach = []
            return Action.STOP
        same_end = self._approach_to is not None and np.allclose(self._approach_to, end, atol=1e-6)
        if not (self._approach and same_end and not self.forward_blocked(position)):
            turn = math.radians(self.agent_config.turn_angle_deg)
            plan = approach_actions(position, yaw, end, self.agent_config.forward_step, turn, self.arrive_radius, segment_clear)
            self._approach, self._approach_to = (plan or []), end.copy()
            if not plan:
                return None
        action = self._approach.pop(0)
        self._heading = None
        self._last_forward_from = position if action == Action.MOVE_FORWARD else None
        return action


ARRIVE_FRACTION = 0.75
"""Policies plan their final approach to land within this fraction of their goal radius (a margin
for the pose the simulator reports and for geodesic against straight-line distance)."""

APPROACH_FORWARD_STEPS = 3
"""Forward steps (at most) of a planned final approach (``approach_actions``)."""


def approach_actions(
    position: np.ndarray,
    yaw: float,
    target: np.ndarray,
    step: float,
    turn: float,
    radius: float,
    segment_clear: SegmentClear,
    max_forward: int = APPROACH_FORWARD_STEPS,
    max_checked: int = 64,
) -> list[Action] | None:
    """The shortest sequence of turns (``turn`` radians each) and forward steps (``step`` metres) from
    ``position`` (3,) at heading ``yaw`` whose forward steps are all clear and whose end lies within
    ``radius`` metres (x/z) of ``target`` (3,); ties go to the end nearer the target. None when no
    sequence of at most ``max_forward`` forward steps does (among the ``max_checked`` cheapest)."""
    n = max(1, int(round(2 * math.pi / turn)))
    angles = yaw + turn * np.arange(n)  # heading k: k turns left of the current one
    directions = step * np.stack([-np.sin(angles), -np.cos(angles)], axis=1)  # (n, 2) x/z of a step
    start, goal = np.asarray(position, np.float64)[[0, 2]], np.asarray(target, np.float64)[[0, 2]]
    candidates = []  # (cost, gap, headings)
    for m in range(1, max_forward + 1):
        headings = np.array(list(itertools.product(range(n), repeat=m)))  # (n^m, m)
        ends = start + directions[headings].sum(axis=1)  # (n^m, 2)
        gaps = np.hypot(*(ends - goal).T)
        changes = np.diff(np.concatenate([np.zeros((len(headings), 1), int), headings], axis=1), axis=1) % n
        costs = np.minimum(changes, n - changes).sum(axis=1) + m  # turns + forward steps
        for i in np.flatnonzero(gaps <= radius):
            candidates.append((int(costs[i]), float(gaps[i]), headings[i]))
    for _, _, headings in sorted(candidates, key=lambda c: (c[0], c[1]))[:max_checked]:
        points = [np.asarray(position, np.float64)]
        for k in headings:
            points.append(step_end(points[-1], yaw + k * turn, step))
        if all(segment_clear(a, b) for a, b in zip(points[:-1], points[1:])):
            return _actions_for(headings, n)
    return None


def _actions_for(headings: np.ndarray, n: int) -> list[Action]:
    """Turns and forward steps that walk one step along each heading index (relative to the current yaw)."""
    actions, current = [], 0
    for k in headings:
        change = (int(k) - current) % n
        left = change if change <= n // 2 else change - n  # > 0: turn left, < 0: right
        actions += [Action.TURN_LEFT] * left + [Action.TURN_RIGHT] * (-left) + [Action.MOVE_FORWARD]
        current = int(k)
    return actions


def step_end(position: np.ndarray, yaw: float, step: float) -> np.ndarray:
    """Where a forward step of ``step`` metres at heading ``yaw`` (0 faces -Z) ends."""
    return position + step * np.array([-math.sin(yaw), 0.0, -math.cos(yaw)])


def angle_difference(a: float, b: float) -> float:
    """``a - b`` wrapped to [-pi, pi) radians."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def path_length(path: np.ndarray) -> float:
    """Length (metres, x/z) of a polyline (K, 3)."""
    return float(np.linalg.norm(np.diff(path[:, [0, 2]], axis=0), axis=1).sum())
