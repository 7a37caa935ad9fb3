"""``OracleFollower``: follows the simulator's geodesic shortest path (privileged; an upper bound)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.simulator import AgentConfig, Navigation
from envs.types import Action
from policies.base import agent_pose_of
from policies.steering import ARRIVE_FRACTION, Steering, path_length


class OracleFollower:
    """Follows the simulator's shortest path to the nearest of the goals (privileged: it is handed
    the simulator's ``navigation``; an upper bound for comparisons).

    Each call follows the string-pulled shortest path with ``Steering`` (the clear step that ends
    nearest the next waypoint; see there). STOP once the geodesic distance to the goal is below
    ``goal_radius`` metres, when the goal is unreachable, or when no step gets closer to the goal
    itself; the last stretch (within three forward steps) is planned as a whole to land within
    ``ARRIVE_FRACTION * goal_radius`` (``Steering``).
    """

    def __init__(self, navigation: Navigation, agent_config: AgentConfig = AgentConfig(), goal_radius: float = 0.2) -> None:
        self.navigation = navigation
        self.agent_config = agent_config
        self.goal_radius = goal_radius
        self._steering = Steering(agent_config, arrive_radius=ARRIVE_FRACTION * goal_radius)

    def reset(self) -> None:
        self._steering.reset()

    def act(self, observation: Mapping[str, Any], goal: np.ndarray) -> Action:
        pose = agent_pose_of(observation)
        goals = np.atleast_2d(np.asarray(goal, dtype=np.float64))  # (N, 3): head for the nearest
        path = self.navigation.shortest_path(pose.position, goals)  # (K, 3), empty when unreachable
        if len(path) == 0:
            return Action.STOP  # unreachable: nothing better to do
        if path_length(path) < self.goal_radius:
            return Action.STOP
        return self._steering.act(pose.position, pose.yaw, path, self.navigation.straight_line_clear)
