"""The map planner on hand-made occupancy grids, driven by a kinematic grid world."""

import numpy as np

from envs.types import Action, Pose
from perception.occupancy import FREE, OCCUPIED, UNKNOWN
from policies import MapPlannerPolicy, Policy
from policies.map_planner import PlanStatus
from policies.steering import path_length
from tests.policies.grid_world import GridWorld, empty_room, grid_of, observation, wall_room

START = Pose.from_yaw(np.array([1.0, 0.0, 1.0]), 0.0)


def test_path_goes_around_the_wall_and_the_loop_reaches_the_goal():
    cells = wall_room()
    planner = MapPlannerPolicy(lambda: grid_of(cells))
    assert isinstance(planner, Policy)
    goal = np.array([3.0, 0.0, 1.0])
    assert planner.act(observation(START), goal) != Action.STOP
    assert planner.last_status == PlanStatus.FOLLOWING
    assert 4.0 < path_length(planner.path) < 5.5  # around the wall's end at z = 3, not through it (2 m)
    assert planner.path[:, 2].max() > 3.0
    world = GridWorld(cells == OCCUPIED, START)
    actions = world.run(planner, goal)
    assert actions[-1] == Action.STOP and planner.last_status == PlanStatus.REACHED
    assert np.hypot(*(world.pose.position - goal)[[0, 2]]) < planner.goal_radius + 0.05
    assert world.collisions == 0


def test_unknown_space_is_traversable():
    cells = np.full((80, 80), UNKNOWN, dtype=np.int8)
    planner = MapPlannerPolicy(lambda: grid_of(cells))
    goal = np.array([3.0, 0.0, 3.0])
    assert planner.act(observation(START), goal) != Action.STOP
    assert len(planner.path) == 2  # a straight line through the unknown
    world = GridWorld(np.zeros_like(cells, bool), START)
    world.run(planner, goal)
    assert planner.last_status == PlanStatus.REACHED


def test_goal_outside_the_grid_pads_it():
    planner = MapPlannerPolicy(lambda: grid_of(np.zeros((10, 10), np.int8)))  # 0.5 m of free floor
    assert planner.act(observation(Pose.from_yaw(np.array([0.25, 0.0, 0.25]), 0.0)), np.array([3.0, 0.0, -2.0])) != Action.STOP
    assert planner.last_status == PlanStatus.FOLLOWING


def test_goal_inside_an_obstacle_is_snapped_to_the_nearest_reachable_cell():
    cells = empty_room()
    cells[50:66, 50:66] = OCCUPIED  # a 0.8 m box with its centre at (2.9, 2.9)
    goal = np.array([2.9, 0.0, 2.9])
    planner = MapPlannerPolicy(lambda: grid_of(cells))
    planner.act(observation(START), goal)
    stand_in = planner.goal
    assert 0.5 < np.hypot(*(stand_in - goal)[[0, 2]]) < planner.max_goal_snap
    world = GridWorld(cells == OCCUPIED, START)
    world.run(planner, goal)
    assert planner.last_status == PlanStatus.REACHED
    assert np.hypot(*(world.pose.position - stand_in)[[0, 2]]) < planner.goal_radius + 0.05
    assert world.collisions == 0


def test_goal_in_unknown_space_cut_off_by_obstacles_is_snapped():
    """A mug seen on a table whose top the frames never showed: unknown cells ringed by occupied ones."""
    cells = empty_room()
    cells[44:72, 44:72] = OCCUPIED  # the table's edge, 0.1 m wide, around a 1.2 m middle
    cells[46:70, 46:70] = UNKNOWN  # the unseen middle, farther from the edge than the inflation
    goal = np.array([2.925, 0.0, 2.925])
    planner = MapPlannerPolicy(lambda: grid_of(cells), max_goal_snap=1.5)
    r, c = planner.planning_grid(grid_of(cells), START.position).world_to_cell(goal[None])[0]
    assert not planner.planning_grid(grid_of(cells), START.position).blocked[r, c]
    assert planner.act(observation(START), goal) != Action.STOP
    assert 0.5 < np.hypot(*(planner.goal - goal)[[0, 2]]) < planner.max_goal_snap
    cells[46:70, 46:70] = FREE  # seen free and cut off: a closed room, not a stand-in
    planner.reset()
    assert planner.act(observation(START), goal) == Action.STOP and planner.last_status == PlanStatus.UNREACHABLE


def test_enclosed_goal_is_unreachable():
    cells = empty_room()
    cells[50:70, 50] = cells[50:70, 69] = cells[50, 50:70] = cells[69, 50:70] = OCCUPIED  # a closed 1 m square
    planner = MapPlannerPolicy(lambda: grid_of(cells))
    assert planner.act(observation(START), np.array([3.0, 0.0, 3.0])) == Action.STOP
    assert planner.last_status == PlanStatus.UNREACHABLE and planner.goal is None


def test_occupied_cells_under_the_agent_are_ignored():
    cells = empty_room()
    cells[19:22, 19:22] = OCCUPIED  # noise where the agent stands
    planner = MapPlannerPolicy(lambda: grid_of(cells))
    assert planner.act(observation(START), np.array([1.0, 0.0, 3.0])) != Action.STOP
    assert planner.last_status == PlanStatus.FOLLOWING


def test_collision_with_an_unmapped_obstacle_marks_it_and_replans():
    truth = wall_room() == OCCUPIED
    truth[55:60, 30:39] = True  # a bar the map does not show, blocking the straight way to the gap
    planner = MapPlannerPolicy(lambda: grid_of(wall_room()))
    world = GridWorld(truth, Pose.from_yaw(np.array([1.6, 0.0, 2.3]), 0.0))
    goal = np.array([3.0, 0.0, 2.0])
    world.run(planner, goal, max_steps=300)
    assert world.collisions >= 1 and len(planner.obstacle_marks) == world.collisions
    assert planner.last_status == PlanStatus.REACHED
    assert np.hypot(*(world.pose.position - goal)[[0, 2]]) < planner.goal_radius + 0.05


def test_reset_forgets_the_episode():
    planner = MapPlannerPolicy(lambda: grid_of(empty_room()))
    planner.act(observation(START), np.array([3.0, 0.0, 3.0]))
    planner.reset()
    assert planner.last_status == PlanStatus.IDLE and planner.replans == 0 and len(planner.path) == 0
