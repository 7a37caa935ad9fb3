"""``OracleFollower``: follows the simulator's geodesic shortest path (privileged; an upper bound)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.simulator import AgentConfig, Navigation
from envs.types import Action
from policies.base import agent_pose_of


class OracleFollower:
    """Follows the simulator's shortest path to the nearest of the goals (privileged: it is handed
    the simulator's ``navigation``; an upper bound for comparisons).

    Each call takes the next waypoint of the string-pulled shortest path (a point in a straight
    navigable line from the agent) and, among the headings the agent can reach by turning, picks
    the one whose forward step is clear and ends nearest that waypoint: MOVE_FORWARD when that is
    the current heading, else a turn towards it. STOP once the geodesic distance to the goal is
    below ``goal_radius`` metres, or when no step gets closer to the goal itself (it lies within
    half a step). After a turn it steps forward if it can, so float noise in the observed pose
    cannot make it turn back and forth.
    """

    def __init__(self, navigation: Navigation, agent_config: AgentConfig = AgentConfig(), goal_radius: float = 0.2) -> None:
        self.navigation = navigation
        self.agent_config = agent_config
        self.goal_radius = goal_radius

        self._heading: float | None = None  # the yaw the last turn was heading for
        self._last_forward_from: np.ndarray | None = None  # where the last MOVE_FORWARD started

    def reset(self) -> None:
        self._heading = None
        self._last_forward_from = None

    def act(self, observation: Mapping[str, Any], goal: np.ndarray) -> Action:
        pose = agent_pose_of(observation)
        goals = np.atleast_2d(np.asarray(goal, dtype=np.float64))  # (N, 3): head for the nearest
        path = self.navigation.shortest_path(pose.position, goals)  # (K, 3), empty when unreachable
        if len(path) == 0:
            return Action.STOP  # unreachable: nothing better to do
        distance = float(np.linalg.norm(np.diff(path[:, [0, 2]], axis=0), axis=1).sum())
        if distance < self.goal_radius:
            return Action.STOP
        step = self.agent_config.forward_step
        far = [i for i in range(1, len(path)) if np.hypot(*(path[i] - pose.position)[[0, 2]]) > step / 2]
        target_index = far[0] if far else len(path) - 1  # the next waypoint a step can make progress on
        target = path[target_index]
        turn = math.radians(self.agent_config.turn_angle_deg)
        committed, self._heading = self._heading, None
        blocked, self._last_forward_from = self._last_forward_from, None
        # a forward step that left the agent where it was collided: do not try that heading again
        blocked_ahead = blocked is not None and np.allclose(blocked, pose.position, atol=1e-6)
        if not blocked_ahead and committed is not None and abs(_angle_difference(pose.yaw, committed)) < turn / 2:
            # finish what the last turn started, so float noise in the pose cannot flip the choice
            if self.navigation.straight_line_clear(pose.position, _step_end(pose.position, pose.yaw, step)):
                self._last_forward_from = pose.position
                return Action.MOVE_FORWARD
        n_headings = max(1, int(round(2 * math.pi / turn)))
        best_turns, best_gap = None, np.hypot(*(target - pose.position)[[0, 2]])
        for k in sorted(range(-(n_headings // 2), n_headings // 2 + 1), key=abs):
            end = _step_end(pose.position, pose.yaw + k * turn, step)
            gap = float(np.hypot(*(target - end)[[0, 2]]))
            if k == 0 and blocked_ahead:
                continue
            if gap < best_gap - 1e-6 and self.navigation.straight_line_clear(pose.position, end):
                best_turns, best_gap = k, gap
        if best_turns is None:  # no clear step gets closer
            return Action.STOP if target_index == len(path) - 1 else Action.TURN_LEFT
        if best_turns == 0:
            self._last_forward_from = pose.position
            return Action.MOVE_FORWARD
        self._heading = pose.yaw + best_turns * turn
        return Action.TURN_LEFT if best_turns > 0 else Action.TURN_RIGHT


def _step_end(position: np.ndarray, yaw: float, step: float) -> np.ndarray:
    """Where a forward step of ``step`` metres at heading ``yaw`` (0 faces -Z) ends."""
    return position + step * np.array([-math.sin(yaw), 0.0, -math.cos(yaw)])


def _angle_difference(a: float, b: float) -> float:
    return (a - b + math.pi) % (2 * math.pi) - math.pi
