"""Frontier detection on hand-made grids, and the explorer uncovering a grid world it sees around itself."""

import numpy as np

from envs.types import Action, Pose
from perception.occupancy import FREE, OCCUPIED, UNKNOWN
from policies import FrontierExplorer, Policy
from policies.frontier import ExploreStatus, find_frontiers, frontier_cells
from policies.planning_grid import PlanningGrid
from tests.policies.grid_world import RESOLUTION, GridWorld, grid_of, observation, wall_room

AGENT = np.array([1.0, 0.0, 1.0])


def planning_of(cells):
    return PlanningGrid.build(grid_of(cells), AGENT, inflation=0.2)


def test_frontier_is_the_free_edge_of_open_unknown_space():
    cells = np.full((80, 80), UNKNOWN, dtype=np.int8)
    cells[:, :40] = FREE  # the left half seen, the right half not
    cells[[0, -1], :40] = cells[:, 0] = OCCUPIED  # walled except towards the unknown half
    cells[10:14, 10:14] = UNKNOWN  # an enclosed hole: no frontier
    planning = planning_of(cells)
    frontier = frontier_cells(planning)
    columns = np.unique(planning.cell_to_world(np.argwhere(frontier))[:, 0])
    assert np.allclose(columns, [1.975])  # x of column 39, the last free one
    frontiers = find_frontiers(planning, frontier, planning.travel_cost(AGENT), min_cells=10)
    assert len(frontiers) == 1 and frontiers[0].size == 78
    assert abs(frontiers[0].goal[0] - 1.975) < 1e-9 and abs(frontiers[0].goal[2] - 2.0) < 2 * RESOLUTION


def test_frontiers_are_clustered_sorted_by_travel_cost_and_small_ones_dropped():
    cells = np.full((80, 80), OCCUPIED, dtype=np.int8)
    cells[5:75, 5:75] = FREE
    cells[30:50, 75:80] = FREE  # a 1 m opening in the east wall leads into unknown
    cells[30:50, 79] = UNKNOWN
    cells[75:80, 60:64] = FREE  # a 0.2 m crack in the south wall: too small
    cells[79, 60:64] = UNKNOWN
    cells[0:5, 10:30] = FREE  # a 1 m opening in the north wall, nearer the agent
    cells[0, 10:30] = UNKNOWN
    planning = planning_of(cells)
    frontiers = find_frontiers(planning, frontier_cells(planning), planning.travel_cost(AGENT), min_cells=10)
    assert [round(f.goal[2]) for f in frontiers] == [0, 2]  # north (z = 0) first, then east (z = 2)
    assert frontiers[0].cost < frontiers[1].cost


class RevealingMap:
    """An occupancy grid that knows the true cells within ``sight`` metres of the agent's positions so far."""

    def __init__(self, truth, sight=1.2):
        self.truth, self.sight = truth, sight
        self.known = np.zeros(truth.shape, bool)
        rows, cols = np.indices(truth.shape)
        self.centres = np.stack([(cols + 0.5) * RESOLUTION, (rows + 0.5) * RESOLUTION], axis=-1)

    def see_from(self, position):
        self.known |= np.linalg.norm(self.centres - position[[0, 2]], axis=-1) < self.sight

    def grid(self):
        return grid_of(np.where(self.known, self.truth, UNKNOWN))


def test_explorer_uncovers_the_world_and_reports_done():
    truth = wall_room()
    world_map = RevealingMap(truth)
    explorer = FrontierExplorer(world_map.grid)
    assert isinstance(explorer, Policy)
    world = GridWorld(truth == OCCUPIED, Pose.from_yaw(AGENT, 0.0))
    for _ in range(400):
        world_map.see_from(world.pose.position)
        action = explorer.act(observation(world.pose))
        if action == Action.STOP:
            break
        world.step(action)
    assert explorer.last_status == ExploreStatus.DONE and explorer.frontier_goal is None
    assert world_map.known.mean() > 0.95
    assert world.collisions == 0
