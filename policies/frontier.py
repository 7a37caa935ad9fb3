"""``FrontierExplorer``: explores the unknown parts of the agent's own occupancy grid, frontier by frontier."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from scipy import ndimage

from envs.simulator import AgentConfig
from envs.types import Action
from perception.occupancy import FREE, UNKNOWN, OccupancyGrid
from policies.base import agent_pose_of
from policies.map_planner import MapPlannerPolicy, PlanStatus
from policies.planning_grid import PlanningGrid

_EIGHT_NEIGHBOURS = np.ones((3, 3), bool)


class ExploreStatus(str, Enum):
    """What the explorer's last ``act`` found."""

    IDLE = "idle"  # no act since construction or reset
    EXPLORING = "exploring"  # driving to ``frontier_goal``
    DONE = "done"  # no reachable frontier left: STOP


@dataclass(frozen=True)
class Frontier:
    """A cluster of frontier cells: ``goal`` (3,) world point (metres, floor height) of its reachable
    cell nearest the cluster's centroid, ``size`` its number of cells, ``cost`` metres of travel
    from the agent to ``goal``."""

    goal: np.ndarray
    size: int
    cost: float


def frontier_cells(planning: PlanningGrid) -> np.ndarray:
    """(rows, cols) bool: free cells 8-adjacent to unknown space that is open to the outside (an
    unknown component touching the padded grid's border). Enclosed unknown holes (floor the camera
    never saw under itself or behind furniture, sparse far-away samples) make no frontier."""
    unknown = planning.states == UNKNOWN
    labels, _ = ndimage.label(unknown)
    border = np.unique(np.concatenate([labels[[0, -1], :].ravel(), labels[:, [0, -1]].ravel()]))
    open_unknown = np.isin(labels, border[border > 0])
    return (planning.states == FREE) & ndimage.binary_dilation(open_unknown, structure=_EIGHT_NEIGHBOURS)


def find_frontiers(planning: PlanningGrid, frontier: np.ndarray, cost: np.ma.MaskedArray, min_cells: int) -> list[Frontier]:
    """The 8-connected clusters of ``frontier`` (``frontier_cells(planning)``) with at least
    ``min_cells`` cells and a reachable cell, nearest first; ``cost`` is
    ``planning.travel_cost(agent position)``."""
    labels, n = ndimage.label(frontier, structure=_EIGHT_NEIGHBOURS)
    values = np.ma.filled(cost, np.inf)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    out = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if sizes[k] < min_cells:
            continue
        cells = np.argwhere(labels[box] == k) + [box[0].start, box[1].start]
        reachable = cells[np.isfinite(values[cells[:, 0], cells[:, 1]])]
        if len(reachable) == 0:
            continue
        centre = reachable[np.argmin(np.linalg.norm(reachable - cells.mean(axis=0), axis=1))]
        out.append(Frontier(planning.cell_to_world(centre[None])[0], len(cells), float(values[centre[0], centre[1]])))
    return sorted(out, key=lambda f: f.cost)


class FrontierExplorer:
    """Drives to the nearest frontier (by travel cost on the planning grid) with a ``MapPlannerPolicy``
    until no reachable frontier remains.

    It first looks around (turning left a full circle). Then each call fetches the grid once, keeps
    the current ``frontier_goal`` while a frontier cell lies within ``keep_radius`` metres of it,
    else ranks the frontiers (``find_frontiers``) and picks the nearest whose goal is at least
    ``keep_radius`` from every goal tried before. A goal is tried once the planner stops there
    (reached: the agent then looks around again, so that the camera sees the floor its blind spot
    hid; or unreachable) or after ``max_steps_per_goal`` actions. STOP with ``last_status`` DONE
    when no frontier is left. ``goal`` is ignored.

    Attributes after each ``act``: ``last_status`` (``ExploreStatus``), ``frontier_goal`` (3,)
    world point or None, ``frontiers`` (list of ``Frontier``, as ranked the last time a goal was
    chosen), ``planner`` (the ``MapPlannerPolicy``).
    """

    def __init__(
        self,
        grid_source: Callable[[], OccupancyGrid],
        agent_config: AgentConfig = AgentConfig(),
        goal_radius: float = 0.3,
        min_frontier_cells: int = 10,
        keep_radius: float = 0.5,
        max_steps_per_goal: int = 60,
    ) -> None:
        self.grid_source = grid_source
        self.min_frontier_cells = min_frontier_cells
        self.keep_radius = keep_radius
        self.max_steps_per_goal = max_steps_per_goal
        self._grid: OccupancyGrid | None = None  # fetched once per act, shared with the planner
        self.planner = MapPlannerPolicy(lambda: self._grid, agent_config, goal_radius)
        self._full_turn = max(1, round(360.0 / agent_config.turn_angle_deg))  # turns in a look around
        self.reset()

    def reset(self) -> None:
        self.planner.reset()
        self.last_status = ExploreStatus.IDLE
        self.frontier_goal: np.ndarray | None = None
        self.frontiers: list[Frontier] = []
        self._tried = np.zeros((0, 3))
        self._steps_on_goal = 0
        self._turns_left = self._full_turn  # look around first

    def act(self, observation: Mapping[str, Any], goal: np.ndarray | None = None) -> Action:
        """The next exploring action; ``goal`` is ignored."""
        if self._turns_left > 0:  # looking around
            self._turns_left -= 1
            self.last_status = ExploreStatus.EXPLORING
            return Action.TURN_LEFT
        position = agent_pose_of(observation).position
        self._grid = self.grid_source()
        planning = self.planner.planning_grid(self._grid, position)
        frontier = frontier_cells(planning)
        if self.frontier_goal is not None and not self._near(planning.cell_to_world(np.argwhere(frontier)), self.frontier_goal):
            self.frontier_goal = None
        ranked = False  # whether ``frontiers`` was found on this call's grid
        while True:  # ends: each pass returns, or marks a goal tried, and a ranked list has finitely many
            if self.frontier_goal is None:
                if not ranked:  # travel costs only when a goal is to be chosen (fast marching is the cost)
                    self.frontiers = find_frontiers(planning, frontier, planning.travel_cost(position), self.min_frontier_cells)
                    ranked = True
                self.frontier_goal = self._next_goal()
                self._steps_on_goal = 0
            if self.frontier_goal is None:
                break
            action = self.planner.act(observation, self.frontier_goal) if self._steps_on_goal < self.max_steps_per_goal else Action.STOP
            self.last_status = ExploreStatus.EXPLORING
            if action != Action.STOP:
                self._steps_on_goal += 1
                return action
            self._tried = np.concatenate([self._tried, self.frontier_goal[None]])
            self.frontier_goal = None
            if self.planner.last_status == PlanStatus.REACHED:
                self._turns_left = self._full_turn - 1
                return Action.TURN_LEFT
        self.last_status = ExploreStatus.DONE
        return Action.STOP

    def _next_goal(self) -> np.ndarray | None:
        """The nearest frontier's goal at least ``keep_radius`` from every tried goal."""
        return next((f.goal for f in self.frontiers if not self._near(self._tried, f.goal)), None)

    def _near(self, points: np.ndarray, point: np.ndarray) -> bool:
        """Whether any of ``points`` (N, 3) lies within ``keep_radius`` (x/z) of ``point`` (3,)."""
        return bool((np.hypot(*(points - point)[:, [0, 2]].T) < self.keep_radius).any())
