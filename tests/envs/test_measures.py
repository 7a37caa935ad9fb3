"""Measures against hand-computed episodes on a tiny hand-built scene (a 6 m floor and a wall)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from envs.episodes import (
    AgentState,
    InstructionEpisode,
    NavigationGoal,
    ObjectGoal,
    ObjectNavEpisode,
    ObjectViewLocation,
    PointNavEpisode,
    Subgoal,
)
from envs.measures import (
    SPL,
    Collisions,
    DistanceToGoal,
    Measures,
    NumSteps,
    SoftSPL,
    Success,
    measures_for_episode,
    path_efficiency,
)
from envs.navigation import NavGrid
from envs.scene import Scene
from envs.types import Action

STOP, FWD = Action.STOP, Action.MOVE_FORWARD


def _box(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(extents=hi - lo, transform=trimesh.transformations.translation_matrix((lo + hi) / 2))
    return np.asarray(m.vertices), np.asarray(m.faces)


def floor_scene(wall_hi_z: float) -> Scene:
    """A 6 x 6 m floor at y = 0 (x, z in [0, 6]) with a 0.2 m thick wall at x in [2.9, 3.1] from z = 0
    to ``wall_hi_z`` (6 closes the floor into two islands)."""
    floor_v = np.array([[0, 0, 0], [6, 0, 0], [6, 0, 6], [0, 0, 6]], float)
    floor_f = np.array([[0, 3, 2], [0, 2, 1]])
    wall_v, wall_f = _box([2.9, 0, 0], [3.1, 2, wall_hi_z])
    vertices = np.concatenate([floor_v, wall_v])
    faces = np.concatenate([floor_f, wall_f + len(floor_v)])
    return Scene(vertices, faces, np.full((len(faces), 3), 128), np.zeros(len(faces)), name="test:floor")


@pytest.fixture(scope="module")
def nav() -> NavGrid:
    return NavGrid.from_scene(floor_scene(4.0))


@pytest.fixture(scope="module")
def split_nav() -> NavGrid:
    return NavGrid.from_scene(floor_scene(6.0))


class EuclideanNav:
    """A Navigation stub whose geodesic distance is the exact Euclidean one (for threshold edges)."""

    def geodesic_distance(self, start, goals):
        g = np.atleast_2d(np.asarray(goals, float))
        return float(np.min(np.linalg.norm(g - np.asarray(start, float), axis=1)))


def P(x, z):
    return np.array([x, 0.0, z])


def pointnav(start, goal, d0=None) -> PointNavEpisode:
    return PointNavEpisode(
        episode_id="0",
        scene_id="test:floor",
        start_position=start,
        start_rotation=[0, 0, 0, 1],
        goals=[NavigationGoal(goal, 0.2)],
        info={} if d0 is None else {"geodesic_distance": d0},
    )


def run(measures: Measures, nav, episode, steps):
    """Reset at the episode's start, then apply ``steps`` = [(position, action, collided)]."""
    out = [measures.reset(nav, episode, np.asarray(episode.start_position))]
    for pos, action, collided in steps:
        out.append(measures.update(pos, action, collided))
    return out


# ------------------------------------------------------------------------------------ PointNav


def test_pointnav_detour_then_stop_near_goal(nav):
    ep = pointnav(P(1, 1), P(1, 3))  # d0 = 2 m in a straight line
    steps = [(P(1.5, 1), FWD, False), (P(1.5, 2.9), FWD, True), (P(1.0, 2.9), FWD, False), (P(1.0, 2.9), STOP, False)]
    out = run(measures_for_episode(ep), nav, ep, steps)
    assert out[0]["distance_to_goal"] == pytest.approx(2.0)
    assert out[0]["success"] == 0 and out[0]["spl"] == 0 and out[0]["soft_spl"] == 0
    assert out[1]["distance_to_goal"] == pytest.approx(math.hypot(0.5, 2.0))
    assert out[1]["soft_spl"] == 0.0  # further than at the start: soft success clipped at 0
    assert out[3]["distance_to_goal"] == pytest.approx(0.1)
    assert out[3]["success"] == 0.0  # close, but STOP not called yet
    last = out[4]
    assert last["success"] == 1.0
    path = 0.5 + 1.9 + 0.5
    assert last["spl"] == pytest.approx(2.0 / path)
    assert last["soft_spl"] == pytest.approx((1 - 0.1 / 2.0) * 2.0 / path)
    assert last["collisions"] == 1.0 and last["is_collision"] == 0.0
    assert out[2]["is_collision"] == 1.0
    assert last["num_steps"] == 4.0


def test_pointnav_straight_path_spl_is_one(nav):
    ep = pointnav(P(1, 1), P(1, 3))
    steps = [(P(1, 1 + 0.25 * k), FWD, False) for k in range(1, 9)] + [(P(1, 3), STOP, False)]
    last = run(measures_for_episode(ep), nav, ep, steps)[-1]
    assert last["distance_to_goal"] == pytest.approx(0.0, abs=1e-9)
    assert last["success"] == 1.0 and last["spl"] == pytest.approx(1.0) and last["soft_spl"] == pytest.approx(1.0)


def test_stop_far_from_goal_fails(nav):
    ep = pointnav(P(1, 1), P(1, 3))
    out = run(measures_for_episode(ep), nav, ep, [(P(1, 2), FWD, False), (P(1, 2), STOP, False)])
    last = out[-1]
    assert last["distance_to_goal"] == pytest.approx(1.0)
    assert last["success"] == 0.0 and last["spl"] == 0.0
    assert last["soft_spl"] == pytest.approx((1 - 1.0 / 2.0) * 1.0)  # path 1 < d0 2


def test_success_threshold_is_strict():
    for d, expected in [(0.2, 0.0), (0.19999, 1.0), (0.25, 0.0)]:
        ep = pointnav(P(0, 0), P(d, 0))  # the agent stays at the start, exactly d from the goal
        m = measures_for_episode(ep)
        assert m.reset(EuclideanNav(), ep, P(0, 0))["distance_to_goal"] == d
        assert m.update(P(0, 0), STOP)["success"] == expected, d


def test_objectnav_default_threshold_and_stop_is_sticky():
    goal = ObjectGoal(position=P(5, 5), object_id=7, object_category="chair", view_points=[ObjectViewLocation(AgentState(P(5, 4)))])
    ep = ObjectNavEpisode(episode_id="1", scene_id="s", start_position=P(5, 0), start_rotation=[0, 0, 0, 1], object_category="chair", goals=[goal])
    m = measures_for_episode(ep)
    assert m.reset(EuclideanNav(), ep, P(5, 0))["distance_to_goal"] == pytest.approx(4.0)  # to the view point
    assert m.update(P(5, 3.85), STOP)["success"] == 0.0  # 0.15 m: PointNav's 0.2 would pass, ObjectNav's 0.1 not
    # habitat's is_stop_called stays set until reset: success reads the current distance afterwards
    assert m.update(P(5, 3.95), FWD)["success"] == 1.0


def test_d0_zero(nav):
    ep = pointnav(P(1, 1), P(1, 1))
    stay = run(measures_for_episode(ep), nav, ep, [(P(1, 1), Action.TURN_LEFT, False), (P(1, 1), STOP, False)])[-1]
    assert stay["distance_to_goal"] == 0.0
    assert stay["success"] == 1.0 and stay["spl"] == 1.0 and stay["soft_spl"] == 1.0
    wander = run(measures_for_episode(ep), nav, ep, [(P(1, 1.5), FWD, False), (P(1, 1), FWD, False), (P(1, 1), STOP, False)])[-1]
    assert wander["success"] == 1.0 and wander["spl"] == 0.0 and wander["soft_spl"] == 0.0
    assert path_efficiency(0.0, 0.0) == 1.0 and path_efficiency(0.0, 1.0) == 0.0 and path_efficiency(2.0, 4.0) == 0.5


def test_objectnav_measures_to_view_points_not_object_centre(nav):
    vps = [ObjectViewLocation(AgentState(P(1, 4), [0, 0, 0, 1]), 0.5), ObjectViewLocation(AgentState(P(2, 4.5)), None)]
    goal = ObjectGoal(position=P(1, 5.5), object_id=3, object_category="sofa", view_points=vps)
    ep = ObjectNavEpisode(episode_id="1", scene_id="test:floor", start_position=P(1, 1), start_rotation=[0, 0, 0, 1], object_category="sofa", goals=[goal])
    out = run(measures_for_episode(ep), nav, ep, [(P(1, 2.5), FWD, False), (P(1, 3.95), FWD, False), (P(1, 3.95), STOP, False)])
    assert out[0]["distance_to_goal"] == pytest.approx(3.0, abs=0.03)  # to (1, 4), not to the centre (4.5 m)
    assert out[1]["distance_to_goal"] == pytest.approx(1.5, abs=0.03)
    assert out[-1]["success"] == 1.0  # 0.05 m < 0.1 m from a view point
    assert out[-1]["spl"] == 1.0  # path 2.95 m < d0 3 m (it stopped short): d0 / max(d0, path) = 1


def test_objectnav_without_view_points_is_an_error(nav):
    goal = ObjectGoal(position=P(1, 5), object_id=3, object_category="sofa")
    ep = ObjectNavEpisode(episode_id="9", scene_id="s", start_position=P(1, 1), start_rotation=[0, 0, 0, 1], object_category="sofa", goals=[goal])
    with pytest.raises(ValueError, match="view points"):
        measures_for_episode(ep).reset(nav, ep, P(1, 1))


def test_geodesic_around_the_wall(nav):
    ep = pointnav(P(1, 1), P(5, 1))
    d = measures_for_episode(ep).reset(nav, ep, P(1, 1))["distance_to_goal"]
    # the inflated wall (radius 0.18) ends at z = 4.18: the path is at least 2 * |(1,1) -> (3,4.18)|
    lower = 2 * math.hypot(2.0, 3.18)
    assert lower <= d <= lower + 0.5


def test_unreachable_goal(split_nav):
    ep = pointnav(P(1, 1), P(5, 1))
    m = Measures([DistanceToGoal()])
    assert m.reset(split_nav, ep, P(1, 1))["distance_to_goal"] == math.inf
    with pytest.raises(ValueError, match="unreachable"):
        measures_for_episode(ep).reset(split_nav, ep, P(1, 1))


# ------------------------------------------------------------------------------------ collection


def test_dependency_order_and_errors(nav):
    ep = pointnav(P(1, 1), P(1, 3))
    m = Measures([SoftSPL(), SPL(), NumSteps(), Success(0.2), Collisions(), DistanceToGoal()])
    names = [x.name for x in m.measures]
    assert names.index("distance_to_goal") < names.index("success") < names.index("spl")
    assert names.index("distance_to_goal") < names.index("soft_spl")
    assert set(m.reset(nav, ep, P(1, 1))) == {"distance_to_goal", "success", "spl", "soft_spl", "collisions", "is_collision", "num_steps"}
    with pytest.raises(ValueError, match="distance_to_goal"):
        Measures([Success(0.2)])
    with pytest.raises(ValueError, match="two measures"):
        Measures([NumSteps(), NumSteps()])
    with pytest.raises(RuntimeError):
        Measures([NumSteps()]).update(P(0, 0), STOP)


def test_collisions_count():
    m = Measures([Collisions(), NumSteps()])
    ep = pointnav(P(0, 0), P(1, 0))
    m.reset(EuclideanNav(), ep, P(0, 0))
    flags = [True, True, False, True, False]
    outs = [m.update(P(0, 0), FWD, f) for f in flags]
    assert [o["is_collision"] for o in outs] == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert [o["collisions"] for o in outs] == [1.0, 2.0, 2.0, 3.0, 3.0]
    assert outs[-1]["num_steps"] == 5.0
    assert m.reset(EuclideanNav(), ep, P(0, 0))["collisions"] == 0.0


# ------------------------------------------------------------------------------------ instructions


def instruction_episode() -> InstructionEpisode:
    kitchen = Subgoal(
        kind="room",
        target="kitchen",
        goals=[NavigationGoal(P(1.5, 5.0)), NavigationGoal(P(2.0, 5.5))],
        extents=[(P(0, 4.5), np.array([2.9, 3.0, 6.0]))],
    )
    mug = Subgoal(
        kind="object",
        target="mug",
        color="red",
        goals=[ObjectGoal(position=P(0.5, 1), object_id=5, object_category="mug", view_points=[ObjectViewLocation(AgentState(P(1, 1)))])],
    )
    return InstructionEpisode(
        episode_id="i0",
        scene_id="test:floor",
        start_position=P(1, 3),
        start_rotation=[0, 0, 0, 1],
        instruction="go to the kitchen, then find the red mug",
        subgoals=[kitchen, mug],
        info={"geodesic_distance": 1.5 + 3.5},  # (1,3) -> kitchen's edge at z = 4.5, then -> (1,1)
    )


def test_subgoals_must_be_reached_in_order(nav):
    ep = instruction_episode()
    m = measures_for_episode(ep)
    r = m.reset(nav, ep, P(1, 3))
    assert r["subgoals_reached"] == 0 and r["subgoals_total"] == 2 and r["subgoal_fraction"] == 0
    assert r["distance_to_subgoal"] == pytest.approx(math.hypot(0.5, 2.0), abs=0.03)  # nearest room point (1.5, 5)
    assert r["distance_to_goal"] == pytest.approx(2.0, abs=0.03)  # the last subgoal: the mug's view point

    # STOP at the mug first: it is visited, but not reached in order
    m.update(P(1, 2), FWD)
    out = m.update(P(1, 1), STOP)
    assert out["subgoals_reached"] == 0 and out["subgoals_visited"] == 1 and out["success"] == 0.0
    # walk into the kitchen without stopping: nothing is reached
    m.update(P(1, 3), FWD)
    out = m.update(P(1, 4.6), FWD)
    assert out["distance_to_subgoal"] == 0.0  # inside the room's extent
    assert out["subgoals_reached"] == 0
    out = m.update(P(1, 4.6), STOP)
    assert out["subgoals_reached"] == 1 and out["subgoal_fraction"] == 0.5 and out["success"] == 0.0
    assert out["distance_to_subgoal"] == pytest.approx(3.6, abs=0.03)  # now the mug
    # a STOP away from the mug does nothing
    out = m.update(P(1, 2), STOP)
    assert out["subgoals_reached"] == 1
    out = m.update(P(1, 1.05), STOP)
    assert out["subgoals_reached"] == 2 and out["subgoal_fraction"] == 1.0 and out["success"] == 1.0
    assert out["distance_to_subgoal"] == 0.0
    path = 1 + 1 + 2 + 1.6 + 0 + 2.6 + 0.95
    assert out["spl"] == pytest.approx(5.0 / path)


def test_one_stop_reaches_one_subgoal(nav):
    ep = instruction_episode()
    # both subgoals satisfied at the same spot: the mug's view point inside the kitchen
    mug = Subgoal(kind="object", target="mug", goals=[ObjectGoal(position=P(1, 5.5), object_id=5, object_category="mug", view_points=[ObjectViewLocation(AgentState(P(1, 5)))])])
    ep = InstructionEpisode(
        episode_id="i1", scene_id="s", start_position=P(1, 3), start_rotation=[0, 0, 0, 1], instruction="x", subgoals=[ep.subgoals[0], mug], info={"geodesic_distance": 2.0}
    )
    m = measures_for_episode(ep)
    m.reset(nav, ep, P(1, 3))
    assert m.update(P(1, 5), STOP)["subgoals_reached"] == 1
    out = m.update(P(1, 5), STOP)
    assert out["subgoals_reached"] == 2 and out["success"] == 1.0
    assert out["spl"] == pytest.approx(1.0)
