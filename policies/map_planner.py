"""``MapPlannerPolicy``: drives to a goal on the agent's own occupancy grid (no privileged simulator state)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import numpy as np
from scipy import ndimage

from envs.simulator import AgentConfig
from envs.types import Action
from perception.occupancy import FREE, OccupancyGrid
from policies.base import agent_pose_of
from policies.planning_grid import PlanningGrid
from policies.steering import ARRIVE_FRACTION, Steering, path_length, step_end


class PlanStatus(str, Enum):
    """What the planner's last ``act`` found."""

    IDLE = "idle"  # no act since construction or reset
    FOLLOWING = "following"  # a path exists; the action follows it
    REACHED = "reached"  # within goal_radius of the goal (or of its snapped stand-in): STOP
    UNREACHABLE = "unreachable"  # the grid separates the agent from the goal: STOP


class MapPlannerPolicy:
    """Plans on the occupancy grid ``grid_source()`` returns (e.g. a ``FeatureMap``'s bound
    ``occupancy_grid``) and follows the plan with discrete actions.

    Each call fetches the grid and re-plans (fast marching from the goal, see ``PlanningGrid``) when
    the goal or the collision marks changed, when the agent left the planned region, or when the
    grid changed so that the current path is no longer clear on it; otherwise it re-reads the path
    from the stored cost field (a grown map costs no new field while the path stays clear), and
    steers with clearance checked on the latest grid. Occupied cells are inflated by
    ``inflation`` metres (default: the agent's radius plus 2.5 cm), unknown cells are traversable at
    ``unknown_cost`` times the cost of free ones, and the cells under the agent are always free.
    A goal in a blocked cell, or in unknown space that obstacles cut off from the agent (the unseen
    top of a table a mug was seen on), is replaced by the nearest reachable cell within
    ``max_goal_snap`` metres; a free cell cut off (a closed room) is unreachable. A forward step that left the agent in place (a collision) marks an obstacle just ahead
    of it, kept for the episode. STOP (``last_status``) when the x/z distance to the goal, or the
    planned path's length, is below ``goal_radius`` metres, when no step gets closer to the goal's
    stand-in, or when the goal is unreachable on the grid. The last stretch (within three forward
    steps) is planned as a whole to land within ``ARRIVE_FRACTION * goal_radius`` (``Steering``).

    Attributes after each ``act``: ``last_status`` (``PlanStatus``), ``goal`` (3,) the point the
    plan leads to (the goal or its snapped stand-in; None when unreachable), ``path`` (K, 3)
    waypoints from the agent (world frame, metres, at the grid's floor height), ``replans`` (how
    many plans were made this episode), ``obstacle_marks`` (M, 3) world points where it collided.
    """

    def __init__(
        self,
        grid_source: Callable[[], OccupancyGrid],
        agent_config: AgentConfig = AgentConfig(),
        goal_radius: float = 0.2,
        inflation: float | None = None,
        unknown_cost: float = 1.25,
        max_goal_snap: float = 1.0,
    ) -> None:
        self.grid_source = grid_source
        self.agent_config = agent_config
        self.goal_radius = goal_radius
        self.inflation = agent_config.radius + 0.025 if inflation is None else inflation
        self.unknown_cost = unknown_cost
        self.max_goal_snap = max_goal_snap
        self._steering = Steering(agent_config, arrive_radius=ARRIVE_FRACTION * goal_radius)
        self.reset()

    def reset(self) -> None:
        self._steering.reset()
        self.last_status = PlanStatus.IDLE
        self.goal: np.ndarray | None = None
        self.path = np.zeros((0, 3))
        self.replans = 0
        self.obstacle_marks = np.zeros((0, 3))
        self._plan_key: tuple | None = None  # (goal, collision marks) of the current plan
        self._grid_key: tuple | None = None  # the occupancy grid ``_latest`` was built from
        self._latest: PlanningGrid | None = None  # planning grid of the latest occupancy grid: steering checks clearance on it
        self._grid: PlanningGrid | None = None  # the planning grid the cost field was made on
        self._cost: np.ma.MaskedArray | None = None

    def planning_grid(self, grid: OccupancyGrid, position: np.ndarray, cover: np.ndarray | None = None) -> PlanningGrid:
        """``grid`` prepared for an agent at ``position`` (3,): padded to hold ``cover`` (N, 3),
        inflated, with this episode's collision marks."""
        return PlanningGrid.build(grid, position, self.inflation, cover=cover, obstacles=self.obstacle_marks, unknown_cost=self.unknown_cost)

    def act(self, observation: Mapping[str, Any], goal: np.ndarray) -> Action:
        """The next action towards ``goal`` (3,), a world point in metres."""
        pose = agent_pose_of(observation)
        position, target = pose.position, np.asarray(goal, dtype=np.float64).reshape(3)
        if self._steering.forward_blocked(position):
            ahead = step_end(position, pose.yaw, self.agent_config.radius + 0.05)
            self.obstacle_marks = np.concatenate([self.obstacle_marks, ahead[None]])
        if math.hypot(*(target - position)[[0, 2]]) < self.goal_radius:
            return self._stop(PlanStatus.REACHED)
        grid = self.grid_source()
        grid_key = (grid.cells.tobytes(), grid.origin.tobytes(), grid.resolution)
        plan_key = (target.tobytes(), len(self.obstacle_marks))
        new_goal, new_grid = plan_key != self._plan_key, grid_key != self._grid_key
        if new_goal or new_grid:
            self._grid_key = grid_key
            self._latest = self.planning_grid(grid, position, cover=target[None])
        if new_goal or not self._follow(position) or (new_grid and not self._latest.path_clear(self.path)):
            self._plan_key = plan_key
            if not self._plan(position, target) or not self._follow(position):
                return self._stop(PlanStatus.UNREACHABLE)
        if path_length(self.path) < self.goal_radius:
            return self._stop(PlanStatus.REACHED)
        action = self._steering.act(position, pose.yaw, self.path, self._latest.segment_clear)
        self.last_status = PlanStatus.REACHED if action == Action.STOP else PlanStatus.FOLLOWING
        return action

    def _plan(self, position: np.ndarray, target: np.ndarray) -> bool:
        """Make a cost field on the latest planning grid towards ``target`` (or its snapped
        stand-in); False when unreachable."""
        self.replans += 1
        self._grid = planning = self._latest
        self.goal = self._reachable_goal(planning, position, target)
        self._cost = None if self.goal is None else planning.travel_cost(self.goal)
        return self.goal is not None

    def _follow(self, position: np.ndarray) -> bool:
        """Read the path from ``position`` off the stored plan; False when there is none from there."""
        if self._cost is None:
            return False
        self.path = self._grid.path(self._cost, position, self.goal)
        return len(self.path) > 0

    def _reachable_goal(self, planning: PlanningGrid, position: np.ndarray, target: np.ndarray) -> np.ndarray | None:
        """``target`` when the agent can reach its cell; for a blocked or cut-off unknown cell, the
        nearest reachable cell's centre within ``max_goal_snap`` metres; else None."""
        reachable = planning.reachable_from(position)
        r, c = planning.world_to_cell(target[None])[0]
        if reachable[r, c]:
            return np.array([target[0], planning.floor_height, target[2]])
        if not reachable.any() or (not planning.blocked[r, c] and planning.states[r, c] == FREE):
            return None  # a free cell the grid separates from the agent
        distance, nearest = ndimage.distance_transform_edt(~reachable, return_indices=True)
        if distance[r, c] * planning.resolution > self.max_goal_snap:
            return None
        return planning.cell_to_world(nearest[:, r, c][None])[0]

    def _stop(self, status: PlanStatus) -> Action:
        self.last_status = status
        if status == PlanStatus.UNREACHABLE:
            self.goal, self.path = None, np.zeros((0, 3))
        return Action.STOP
