"""Episode generation: determinism, bounds, view points, instructions, validation and splits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from envs.embedded import EmbeddedSimulator
from envs.episode_generator import (
    EpisodeGenerator,
    InstructionConfig,
    ObjectNavConfig,
    PointNavConfig,
    SemanticRenderer,
    ViewPointConfig,
    box_distance_xz,
    centre_iou,
    instruction_text,
    split_scene_ids,
    validate_episode,
)
from envs.episodes import AgentState, NavigationGoal, ObjectGoal, ObjectNavEpisode, ObjectViewLocation, PointNavEpisode, Subgoal
from envs.measures import measures_for_episode
from envs.scene import Region, Scene, SceneObject
from envs.simulator import SensorConfig, camera_pose
from envs.types import Action, Pose

SENSOR = SensorConfig(width=64, height=64)
FAST_VIEWS = ViewPointConfig(spacing=0.2)

RED_CHAIR, BLUE_CHAIR, MUG, LAMP = 5, 6, 7, 8


def _scene(parts, regions, name) -> Scene:
    """Boxes (instance id, category, colour name, min corner, max corner, region) -> a Scene."""
    vertices, faces, ids, objects = [], [], [], {}
    offset = 0
    for instance, category, color, lo, hi, region in parts:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        m = trimesh.creation.box(extents=hi - lo, transform=trimesh.transformations.translation_matrix((lo + hi) / 2))
        vertices.append(m.vertices)
        faces.append(m.faces + offset)
        ids.append(np.full(len(m.faces), instance))
        objects[instance] = SceneObject(instance, category, lo, hi, color, region)
        offset += len(m.vertices)
    f = np.concatenate(faces)
    return Scene(np.concatenate(vertices), f, np.full((len(f), 3), 150), np.concatenate(ids), objects, regions, name)


def two_rooms(wall_hi_z: float = 4.0, with_lamp: bool = False) -> Scene:
    """A 6 x 6 m floor split at x = 3 by a wall from z = 0 to ``wall_hi_z`` (a 2 m gap when 4):
    the kitchen (x < 3) with a red chair, the bedroom (x > 3) with a blue chair and a mug."""
    parts = [
        (1, "floor", "gray", (0, -0.1, 0), (6, 0, 6), None),
        (2, "wall", "white", (2.9, 0, 0), (3.1, 2, wall_hi_z), None),
        (RED_CHAIR, "chair", "red", (1.0, 0, 1.0), (1.5, 0.9, 1.5), "kitchen"),
        (BLUE_CHAIR, "chair", "blue", (4.5, 0, 1.0), (5.0, 0.9, 1.5), "bedroom"),
        (MUG, "mug", "red", (4.5, 0, 4.5), (4.7, 0.25, 4.7), "bedroom"),
    ]
    if with_lamp:  # far off the floor: no navigable point within 1 m
        parts.append((LAMP, "lamp", "white", (9.0, 0.5, 9.0), (9.2, 1.0, 9.2), None))
    regions = [Region("kitchen", np.array([0.0, 0, 0]), np.array([3.0, 2.5, 6])), Region("bedroom", np.array([3.0, 0, 0]), np.array([6.0, 2.5, 6]))]
    return _scene(parts, regions, "test:two_rooms")


@pytest.fixture(scope="module")
def sim() -> EmbeddedSimulator:
    return EmbeddedSimulator(two_rooms(with_lamp=True), sensor_config=SENSOR)


@pytest.fixture(scope="module")
def gen(sim) -> EpisodeGenerator:
    return EpisodeGenerator(sim, view_config=FAST_VIEWS)


def fresh(sim) -> EpisodeGenerator:
    return EpisodeGenerator(sim, view_config=FAST_VIEWS)


def is_yaw_rotation(q) -> bool:
    return abs(q[0]) < 1e-12 and abs(q[2]) < 1e-12 and math.isclose(np.linalg.norm(q), 1.0, abs_tol=1e-9)


# ------------------------------------------------------------------------------------ PointNav


def test_pointnav_deterministic_and_in_bounds(sim, gen):
    config = PointNavConfig(min_distance=1.0, max_distance=6.0)
    a = gen.pointnav_episodes(12, np.random.default_rng(3), config)
    b = fresh(sim).pointnav_episodes(12, np.random.default_rng(3), config)
    c = gen.pointnav_episodes(12, np.random.default_rng(4), config)
    assert a == b and a != c
    assert len({e.episode_id for e in a}) == 12
    nav = sim.navigation
    for e in a:
        d = validate_episode(e, nav)
        assert 1.0 <= e.info["geodesic_distance"] <= 6.0
        assert d == pytest.approx(e.info["geodesic_distance"])
        assert nav.is_navigable(np.array(e.goals[0].position)) and e.goals[0].radius == 0.2
        assert is_yaw_rotation(e.start_rotation)


class FixedRng:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_pointnav_geodesic_ratio_rule(gen):
    config = PointNavConfig()
    s, t = np.array([1.0, 0, 2.5]), np.array([1.0, 0, 4.5])  # straight: ratio 1, kept with p = 20 * 0.02^2 = 0.008
    assert gen._compatible(s, t, config, FixedRng(0.5)) is None
    assert gen._compatible(s, t, config, FixedRng(0.005)) == pytest.approx(2.0)
    around = np.array([5.0, 0, 2.5])  # behind the wall: ratio > 1.1, kept whatever the draw
    assert gen._compatible(s, around, config, FixedRng(0.999)) > 1.1 * np.linalg.norm(around - s)
    too_far = PointNavConfig(max_distance=1.5)
    assert gen._compatible(s, t, too_far, FixedRng(0.0)) is None


def test_pointnav_rejects_other_islands():
    sealed = EmbeddedSimulator(two_rooms(wall_hi_z=6.0), sensor_config=SENSOR)
    g = EpisodeGenerator(sealed, view_config=FAST_VIEWS)
    assert g._compatible(np.array([1.0, 0, 2.5]), np.array([5.0, 0, 2.5]), PointNavConfig(), FixedRng(0.0)) is None
    for e in g.pointnav_episodes(5, np.random.default_rng(0)):
        start, goal = np.array(e.start_position), np.array(e.goals[0].position)
        assert (start[0] < 3) == (goal[0] < 3)


# ------------------------------------------------------------------------------------ ObjectNav


def test_view_points_are_navigable_and_see_the_object(sim, gen):
    obj = sim.scene.objects[RED_CHAIR]
    vps = gen.view_points(obj)
    assert len(vps) > 20
    nav = sim.navigation
    for vp in vps:
        p = np.array(vp.agent_state.position)
        assert nav.is_navigable(p)
        assert box_distance_xz(p, obj.bbox_min, obj.bbox_max)[0] <= 1.0 + 1e-9
        agent = vp.agent_state.pose
        to_object = obj.center - p
        assert np.dot(agent.forward[[0, 2]], to_object[[0, 2]] / np.linalg.norm(to_object[[0, 2]])) > 0.999  # faces it
        semantic = sim.render(camera_pose(agent, sim.agent_config.sensor_height, 0.0)).semantic
        assert (semantic == RED_CHAIR).sum() >= FAST_VIEWS.min_pixels
        assert 0.0 <= vp.iou <= 1.0
    # the lattice points within 1 m that the wall hides are not view points: none lies across the wall
    assert all(vp.agent_state.position[0] < 3.0 for vp in vps)


def test_semantic_renderer_matches_the_simulator(sim):
    renderer = SemanticRenderer(sim.scene, SENSOR.intrinsics)
    for yaw in (0.0, 1.0, 2.5, -2.0):
        cam = camera_pose(Pose.from_yaw([1.0, 0.0, 3.0], yaw), 0.88, 0.0)
        assert np.array_equal(renderer.render(cam), sim.render(cam).semantic)


def test_centre_iou():
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True  # exactly the centre rectangle
    assert centre_iou(mask) == 1.0
    assert centre_iou(np.zeros((8, 8), bool)) == 0.0


def test_objectnav_deterministic_goals_and_bounds(sim, gen):
    config = ObjectNavConfig(min_distance=1.0, max_distance=10.0)
    a = gen.objectnav_episodes(6, np.random.default_rng(1), config)
    assert a == fresh(sim).objectnav_episodes(6, np.random.default_rng(1), config)
    nav = sim.navigation
    for e in a:
        assert e.object_category in ("chair", "mug")  # floor/wall are structural, the lamp is unreachable
        want = sorted(o.instance_id for o in sim.scene.objects.values() if o.category == e.object_category)
        assert sorted(g.object_id for g in e.goals) == want  # every instance, each with view points
        assert all(g.view_points for g in e.goals)
        d = validate_episode(e, nav)
        assert 1.0 <= d <= 10.0 and d == pytest.approx(e.info["geodesic_distance"])
        assert e.info["closest_goal_object_id"] in want
        assert is_yaw_rotation(e.start_rotation)


def test_unknown_or_unreachable_category(gen):
    with pytest.raises(KeyError, match="piano.*chair"):
        gen.objectnav_episode(np.random.default_rng(0), ObjectNavConfig(categories=("piano",)))
    with pytest.raises(ValueError, match="lamp"):
        gen.objectnav_episode(np.random.default_rng(0), ObjectNavConfig(categories=("lamp",)))
    assert gen.object_goals("lamp") == ()
    with pytest.raises(KeyError, match="kitchen"):
        gen.room_goals("garage")


# ------------------------------------------------------------------------------------ validation


def test_validate_episode(sim):
    nav = sim.navigation
    good = PointNavEpisode(episode_id="a", scene_id="t", start_position=[1, 0, 3], start_rotation=[0, 0, 0, 1], goals=[NavigationGoal([2, 0, 3])])
    assert validate_episode(good, nav) == pytest.approx(1.0)
    in_wall = PointNavEpisode(episode_id="b", scene_id="t", start_position=[3, 0, 1], start_rotation=[0, 0, 0, 1], goals=[NavigationGoal([2, 0, 3])])
    with pytest.raises(ValueError, match="episode 'b'.*not navigable.*nearest navigable point"):
        validate_episode(in_wall, nav)
    sealed = EmbeddedSimulator(two_rooms(wall_hi_z=6.0), sensor_config=SENSOR).navigation
    across = PointNavEpisode(episode_id="c", scene_id="t", start_position=[1, 0, 3], start_rotation=[0, 0, 0, 1], goals=[NavigationGoal([5, 0, 3])])
    with pytest.raises(ValueError, match="no goal is reachable"):
        validate_episode(across, sealed)
    blind = ObjectNavEpisode(
        episode_id="d", scene_id="t", start_position=[1, 0, 3], start_rotation=[0, 0, 0, 1], object_category="mug",
        goals=[ObjectGoal(position=[4.6, 0.1, 4.6], object_id=MUG, object_category="mug")],
    )
    with pytest.raises(ValueError, match="view points"):
        validate_episode(blind, nav)
    vp = ObjectViewLocation(AgentState([4.0, 0.0, 4.0]))
    seen = ObjectNavEpisode(**{**blind.__dict__, "goals": (ObjectGoal(position=[4.6, 0.1, 4.6], object_id=MUG, object_category="mug", view_points=[vp]),)})
    assert validate_episode(seen, nav) > 3.0


# ------------------------------------------------------------------------------------ instructions


def test_instruction_episodes(sim, gen):
    config = InstructionConfig(min_subgoals=1, max_subgoals=4)
    a = gen.instruction_episodes(8, np.random.default_rng(7), config)
    assert a == fresh(sim).instruction_episodes(8, np.random.default_rng(7), config)
    counts = set()
    nav = sim.navigation
    for e in a:
        counts.add(len(e.subgoals))
        assert 1 <= len(e.subgoals) <= 4
        validate_episode(e, nav)
        text = e.instruction.lower()
        at = 0
        for prev, sg in zip((None,) + e.subgoals[:-1], e.subgoals):
            assert prev is None or (prev.kind, prev.target, prev.color) != (sg.kind, sg.target, sg.color)
            if sg.kind == "object":
                # chairs come in red and blue: the colour is named; the only mug needs none
                assert (sg.color is not None) == (sg.target == "chair")
                want = [o.instance_id for o in sim.scene.objects.values() if o.category == sg.target and (sg.color is None or o.color == sg.color)]
                assert sorted(g.object_id for g in sg.goals) == sorted(want)
            else:
                assert sg.extents and all(sg.contains(np.array(g.position)) for g in sg.goals)
            at = text.find(sg.describe()[len("the ") :], at)
            assert at >= 0, (sg, text)
        assert e.reference_path[0] == e.start_position
        assert e.info["geodesic_distance"] > 0
    assert len(counts) > 1


def test_instruction_reference_path_is_followed_to_success(sim, gen):
    """An agent walking the reference path and calling STOP whenever the current subgoal is
    satisfied reaches every subgoal in order with an SPL near 1."""
    for e in gen.instruction_episodes(4, np.random.default_rng(11), InstructionConfig(min_subgoals=2, max_subgoals=3)):
        m = measures_for_episode(e)
        info = m.reset(sim.navigation, e, np.array(e.start_position))
        for p in e.reference_path[1:]:
            p = np.array(p)
            info = m.update(p, Action.MOVE_FORWARD)
            while info["success"] < 1.0 and info["distance_to_subgoal"] < 0.1:
                info = m.update(p, Action.STOP)
        assert info["success"] == 1.0 and info["subgoals_reached"] == len(e.subgoals)
        assert info["spl"] > 0.95


def test_instruction_text_templates():
    room = Subgoal(kind="room", target="kitchen", goals=[NavigationGoal([0, 0, 0])], extents=[([0, 0, 0], [1, 1, 1])])
    mug = Subgoal(kind="object", target="mug", color="red", goals=[ObjectGoal(position=[0, 0, 0], object_id=1, object_category="mug")])
    sofa = Subgoal(kind="object", target="sofa", goals=[ObjectGoal(position=[0, 0, 0], object_id=2, object_category="sofa")])
    texts = {instruction_text([room, mug, sofa], np.random.default_rng(s)) for s in range(40)}
    assert len(texts) > 10  # several paraphrases
    for t in texts:
        assert t.find("kitchen") < t.find("red mug") < t.find("sofa")
    assert instruction_text([room], np.random.default_rng(0)).endswith("the kitchen")


# ------------------------------------------------------------------------------------ splits


def test_split_scene_ids():
    seeds = list(range(100))
    s = split_scene_ids(seeds)
    assert [len(s[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(s["train"] + s["val"] + s["test"]) == seeds
    assert not set(s["train"]) & set(s["val"]) and not set(s["val"]) & set(s["test"]) and not set(s["train"]) & set(s["test"])
    assert split_scene_ids(list(reversed(seeds))) == {k: sorted(v, reverse=True) for k, v in s.items()}  # order-free
    assert split_scene_ids(seeds) == s  # deterministic
    assert split_scene_ids(seeds, salt="other") != s
    small = split_scene_ids([f"house:{i}" for i in range(10)])
    assert [len(small[k]) for k in ("train", "val", "test")] == [8, 1, 1]
    tiny = split_scene_ids([1, 2, 3])
    assert sorted(len(v) for v in tiny.values()) == [1, 1, 1]
    with pytest.raises(ValueError, match="sum to 1"):
        split_scene_ids(seeds, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="unique"):
        split_scene_ids([1, 1, 2])


# ------------------------------------------------------------------------------------ a generated house


def test_generated_house_episodes():
    from envs.house import generate_house

    scene = generate_house(3)
    house_sim = EmbeddedSimulator(scene, sensor_config=SENSOR)
    gen_a = EpisodeGenerator(house_sim, view_config=ViewPointConfig(spacing=0.25))
    gen_b = EpisodeGenerator(house_sim, view_config=ViewPointConfig(spacing=0.25))
    assert gen_a.scene_id == "house:3"
    assert gen_a.pointnav_episodes(4, np.random.default_rng(0)) == gen_b.pointnav_episodes(4, np.random.default_rng(0))
    on = gen_a.objectnav_episodes(2, np.random.default_rng(0))
    assert on == gen_b.objectnav_episodes(2, np.random.default_rng(0))
    for e in on:
        assert e.object_category in scene.categories and e.object_category not in ("wall", "floor", "ceiling", "door", "window")
        validate_episode(e, house_sim.navigation)
        vp = e.goals[0].view_points[0]
        semantic = house_sim.render(camera_pose(vp.agent_state.pose, 0.88, 0.0)).semantic
        assert (semantic == e.goals[0].object_id).any()
    ins = gen_a.instruction_episodes(2, np.random.default_rng(0), InstructionConfig(max_subgoals=2))
    room_names = {r.name for r in scene.regions}
    for e in ins:
        validate_episode(e, house_sim.navigation)
        assert all(sg.target in room_names for sg in e.subgoals if sg.kind == "room")


def test_generated_episodes_round_trip_through_a_dataset(tmp_path, gen):
    from envs.dataset import load_dataset, save_dataset

    rng = np.random.default_rng(5)
    for name, episodes in (
        ("p.json.gz", gen.pointnav_episodes(3, rng)),
        ("o.json.gz", gen.objectnav_episodes(3, rng, ObjectNavConfig(categories=("chair", "mug")))),
        ("i.json", gen.instruction_episodes(3, rng)),
    ):
        assert load_dataset(save_dataset(episodes, tmp_path / name)) == episodes
