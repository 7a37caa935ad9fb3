"""A kinematic stand-in for the simulator on a hand-made top-down world, for the map policies' tests.

World: a 4 x 4 m floor at y = 0, 5 cm cells, row i = z, column j = x (as ``perception.occupancy``).
"""

from __future__ import annotations

import math

import numpy as np

from envs.simulator import AgentConfig
from envs.types import Action, Pose
from perception.occupancy import FREE, OCCUPIED, OccupancyGrid

RESOLUTION = 0.05
SIZE = 80  # cells per side: 4 m


def grid_of(cells: np.ndarray) -> OccupancyGrid:
    """An ``OccupancyGrid`` with origin (0, 0), 5 cm cells, floor at y = 0."""
    return OccupancyGrid(cells, np.zeros(2), RESOLUTION, 0.0, (0.2, 0.88))


def empty_room(state: np.int8 = FREE) -> np.ndarray:
    """(80, 80) cells of ``state`` with occupied borders."""
    cells = np.full((SIZE, SIZE), state, dtype=np.int8)
    cells[[0, -1], :] = OCCUPIED
    cells[:, [0, -1]] = OCCUPIED
    return cells


def wall_room() -> np.ndarray:
    """The empty room with a wall at x in [1.95, 2.05) from z = 0 to z = 3 (a 1 m gap at z > 3)."""
    cells = empty_room()
    cells[:60, 39:41] = OCCUPIED
    return cells


def observation(pose: Pose) -> dict:
    return {"position": pose.position, "rotation": pose.rotation}


class GridWorld:
    """Moves an agent over ``obstacles`` (rows, cols) bool: turns always succeed, a forward step
    collides (and leaves the agent in place) when any point of it comes within the agent's radius of
    an obstacle cell's centre."""

    def __init__(self, obstacles: np.ndarray, start: Pose, agent_config: AgentConfig = AgentConfig()) -> None:
        self.obstacle_points = np.argwhere(obstacles)[:, ::-1] * RESOLUTION + RESOLUTION / 2  # (N, 2) x, z
        self.pose = start
        self.agent_config = agent_config
        self.collisions = 0

    def step(self, action: Action) -> None:
        turn = math.radians(self.agent_config.turn_angle_deg)
        if action == Action.TURN_LEFT:
            self.pose = Pose.from_yaw(self.pose.position, self.pose.yaw + turn)
        elif action == Action.TURN_RIGHT:
            self.pose = Pose.from_yaw(self.pose.position, self.pose.yaw - turn)
        elif action == Action.MOVE_FORWARD:
            end = self.pose.position + self.agent_config.forward_step * np.array([-math.sin(self.pose.yaw), 0.0, -math.cos(self.pose.yaw)])
            along = np.linspace(0, 1, 6)[:, None] * (end - self.pose.position)[[0, 2]] + self.pose.position[[0, 2]]
            gaps = np.linalg.norm(along[:, None] - self.obstacle_points[None], axis=2)
            if gaps.size and gaps.min() < self.agent_config.radius:
                self.collisions += 1
            else:
                self.pose = Pose.from_yaw(end, self.pose.yaw)

    def run(self, policy, goal: np.ndarray | None, max_steps: int = 200) -> list[Action]:
        """Step ``policy`` until it stops (or ``max_steps``); the actions taken."""
        actions = []
        for _ in range(max_steps):
            action = policy.act(observation(self.pose), goal)
            actions.append(action)
            if action == Action.STOP:
                break
            self.step(action)
        return actions

