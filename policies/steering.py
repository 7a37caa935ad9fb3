"""``Steering``: turns a path into one discrete action (shared by the oracle follower and the map planner).

Points are world-frame metres (Y up, only x/z matter); yaw 0 faces -Z, positive yaw turns left.
"""

from __future__ import annotations

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
    """

    def __init__(self, agent_config: AgentConfig = AgentConfig()) -> None:
        self.agent_config = agent_config
        self._heading: float | None = None  # the yaw the last turn was heading for
        self._last_forward_from: np.ndarray | None = None  # where the last MOVE_FORWARD started

    def reset(self) -> None:
        self._heading = None
        self._last_forward_from = None

    def forward_blocked(self, position: np.ndarray) -> bool:
        """Whether the last action was a MOVE_FORWARD from ``position`` that left the agent there."""
        return self._last_forward_from is not None and bool(np.allclose(self._last_forward_from, position, atol=1e-6))

    def act(self, position: np.ndarray, yaw: float, path: np.ndarray, segment_clear: SegmentClear) -> Action:
        """The next action along ``path`` (K >= 2, 3) from the agent at ``position`` (3,), heading ``yaw`` (radians)."""
        step = self.agent_config.forward_step
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


def step_end(position: np.ndarray, yaw: float, step: float) -> np.ndarray:
    """Where a forward step of ``step`` metres at heading ``yaw`` (0 faces -Z) ends."""
    return position + step * np.array([-math.sin(yaw), 0.0, -math.cos(yaw)])


def angle_difference(a: float, b: float) -> float:
    """``a - b`` wrapped to [-pi, pi) radians."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def path_length(path: np.ndarray) -> float:
    """Length (metres, x/z) of a polyline (K, 3)."""
    return float(np.linalg.norm(np.diff(path[:, [0, 2]], axis=0), axis=1).sum())
