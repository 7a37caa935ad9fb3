"""MapGroundedPlanner: object steps get their waypoints from the agent's map, room steps keep theirs."""

from dataclasses import replace

import numpy as np
import pytest

from agent.decomposition import Step
from agent.grounded_planner import MapGroundedPlanner, UnseenTargetPlanner, target_queries
from agent.planner import Plan
from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception.maps import cosine_relevance

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedPlanner:
    def __init__(self, steps):
        self.steps = steps
        self.calls = 0

    def plan(self, feature_map, instruction, start=None):
        self.calls += 1
        return Plan(instruction, list(self.steps), "fixed", 0.0)


@pytest.fixture(scope="module")
def turn_in_place():
    """House 1: its scene, the 12 frames of a full turn in place at 96 x 96, the extractor, the start."""
    from perception.semantic_text import SemanticTextExtractor
    from perception.text_encoder import SentenceEncoder

    scene = generate_house(1)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=96, height=96))
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path())
    start = sim.navigation.sample_navigable_point(np.random.default_rng(0), sim.navigation.largest_island())
    frames = [sim.reset(Pose.from_yaw(start, 0.0))] + [sim.step(Action.TURN_LEFT)[0] for _ in range(11)]
    sim.close()
    return scene, frames, extractor, start


def mapped(frames, extractor):
    from perception.maps import MapConfig
    from perception.pointcloud_map import PointCloudMap

    feature_map = PointCloudMap(extractor, MapConfig())
    for frame in frames:
        feature_map.integrate(frame, extractor(frame))
    return feature_map


def held_object(scene, feature_map):
    """An object (not structure) some map point lies on (inside its box, 5 cm margin)."""
    points = feature_map.points()
    return next(
        o for o in scene.objects.values()
        if o.category not in ("wall", "floor", "ceiling", "door", "window")
        and np.all((points >= o.bbox_min - 0.05) & (points <= o.bbox_max + 0.05), axis=1).any()
    )


@pytest.fixture(scope="module")
def looked_around(turn_in_place):
    scene, frames, extractor, start = turn_in_place
    return scene, mapped(frames, extractor), start


def test_object_steps_move_to_the_target_in_the_map_and_rooms_stay(looked_around):
    scene, feature_map, start = looked_around
    points = feature_map.points()
    ids = [o for o in scene.objects.values() if o.category not in ("wall", "floor", "ceiling", "door", "window")]
    # an object the map holds: some map point lies inside its box
    held = [o for o in ids if np.all((points >= o.bbox_min - 0.05) & (points <= o.bbox_max + 0.05), axis=1).any()]
    assert held, "the look-around saw no object"
    target = held[0]
    wrong = np.asarray(start) + np.array([30.0, 0.0, 30.0])  # far outside the house
    room_waypoint = np.asarray(start, dtype=np.float64)
    steps = [Step(1, "go to", "kitchen", room_waypoint), Step(2, "find", target.category, wrong)]
    plan = MapGroundedPlanner(FixedPlanner(steps)).plan(feature_map, "go to the kitchen, then find it", start)
    assert np.array_equal(plan.steps[0].waypoint, room_waypoint)  # room steps keep the inner waypoint
    moved = plan.steps[1].waypoint
    centre = (np.asarray(target.bbox_min) + np.asarray(target.bbox_max)) / 2
    same_category = [o for o in scene.objects.values() if o.category == target.category]
    nearest = min(np.hypot(*(moved - (np.asarray(o.bbox_min) + np.asarray(o.bbox_max)) / 2)[[0, 2]]) for o in same_category)
    assert nearest < 1.5, (moved, centre)  # next to an instance of the category, at floor height
    assert abs(moved[1] - feature_map.floor_height) < 1e-6
    assert len(plan.notes) == 1 and "taken from the map" in plan.notes[0] and not plan.problems


def test_a_target_the_map_does_not_hold_keeps_its_waypoint(looked_around):
    scene, feature_map, start = looked_around
    waypoint = np.asarray(start, dtype=np.float64)
    planner = MapGroundedPlanner(FixedPlanner([Step(1, "find", "spaceship", waypoint)]), min_relevance=0.95)
    plan = planner.plan(feature_map, "find the spaceship", start)
    assert np.array_equal(plan.steps[0].waypoint, waypoint) and not plan.notes
    with pytest.raises(ValueError, match="points"):
        MapGroundedPlanner(FixedPlanner([]), points=0)


def test_unseen_targets_lose_their_waypoints_and_are_listed(looked_around):
    scene, feature_map, start = looked_around
    held = held_object(scene, feature_map)
    here = np.asarray(start, dtype=np.float64)
    steps = [Step(1, "go to", "kitchen", here), Step(2, "find", held.category, here + 1.0), Step(3, "find", "spaceship", here + 2.0)]
    plan = UnseenTargetPlanner(FixedPlanner(steps)).plan(feature_map, "go to the kitchen, find it, then the spaceship", start)
    assert plan.unseen == (3,)
    assert plan.steps[2].waypoint is None and plan.steps[2].target == "spaceship"
    assert np.array_equal(plan.steps[0].waypoint, here) and np.array_equal(plan.steps[1].waypoint, here + 1.0)  # seen and room steps stay
    assert len(plan.notes) == 1 and "not in the map" in plan.notes[0]
    seen = UnseenTargetPlanner(FixedPlanner(steps[:2])).plan(feature_map, "go to the kitchen, then find it", start)
    assert seen.unseen == () and seen.steps == steps[:2]


def test_colour_words_are_dropped_for_the_map_check():
    assert target_queries("red plant") == ["red plant", "plant"]
    assert target_queries("dark red armchair") == ["dark red armchair", "armchair"]
    assert target_queries("trash can") == ["trash can"] and target_queries("red") == ["red"]


def test_a_coloured_target_of_a_mapped_category_is_seen(looked_around):
    """The maps' features name categories, not colours: "brown <category>" scores below the threshold
    against its own category's feature for some categories, yet the target is in the map."""
    scene, feature_map, start = looked_around
    held = held_object(scene, feature_map)
    here = np.asarray(start, dtype=np.float64)
    steps = [Step(1, "find", f"brown {held.category}", here + 1.0)]
    strict = UnseenTargetPlanner(FixedPlanner(steps), min_relevance=0.99)  # the coloured text alone never scores 0.99
    assert strict.plan(feature_map, "find it", start).unseen == ()
    _, features = feature_map.points_and_features(2048)
    text_alone = cosine_relevance(features, feature_map.extractor.embed_text(f"brown {held.category}"))
    assert text_alone.max() < 0.99


def test_while_targets_stay_unseen_the_inner_planner_is_not_asked_again(turn_in_place):
    scene, frames, extractor, start = turn_in_place
    early, feature_map = mapped(frames[:1], extractor), mapped(frames, extractor)
    checker = MapGroundedPlanner(FixedPlanner([]))
    _, first_view = early.points_and_features(2048)
    categories = sorted({o.category for o in scene.objects.values()} - {"wall", "floor", "ceiling", "door", "window"})
    hidden = [c for c in categories if not checker.shows(first_view, [extractor.embed_text(c)])]
    _, all_views = feature_map.points_and_features(2048)
    appears = [c for c in hidden if checker.shows(all_views, [extractor.embed_text(c)])]
    assert appears, "the look-around revealed no new category"

    here = np.asarray(start, dtype=np.float64)
    inner = FixedPlanner([Step(1, "find", appears[0], here), Step(2, "find", "spaceship", here)])
    planner = UnseenTargetPlanner(inner)
    first = planner.plan(early, "find both", start)
    assert first.unseen == (1, 2) and inner.calls == 1
    first.steps[0] = None  # the agent's loop may overwrite steps of its plan: the kept one stays intact
    again = planner.plan(early, "find both", start)
    assert again.unseen == (1, 2) and inner.calls == 1 and again.steps[0].target == appears[0]
    found = planner.plan(feature_map, "find both", start)  # the first target has come into view
    assert found.unseen == (2,) and inner.calls == 2 and np.array_equal(found.steps[0].waypoint, here)
    planner.plan(feature_map, "find both", start)
    assert inner.calls == 2
    planner.plan(feature_map, "another instruction", start)
    assert inner.calls == 3
    # a step the inner planner itself lists as unseen (a colour not seen yet) may be found by it on
    # any call: it is asked anew each time
    inner = FixedPlanner([Step(1, "find", "spaceship", here), Step(2, "find", "purple counter", None)])
    inner.plan = lambda *a, _plan=inner.plan: replace(_plan(*a), unseen=(2,))
    planner = UnseenTargetPlanner(inner)
    assert planner.plan(early, "find both", start).unseen == (1, 2) and planner.plan(early, "find both", start).unseen == (1, 2)
    assert inner.calls == 2


def test_split_colour_and_colour_name():
    from agent.grounded_planner import colour_name, split_colour

    assert split_colour("dark red armchair") == ("dark red", "armchair")
    assert split_colour("mug") == ("", "mug")
    assert split_colour("red") == ("", "red")  # a target is never all colour words
    assert colour_name("dark red") == "dark red"
    assert colour_name("bright red") == "red"
    assert colour_name("golden") is None


@pytest.fixture(scope="module")
def toured_house_1():
    """House 1 toured room by room (96 px) into a point-cloud map that tracks instances: it holds
    two counters, one black and one white."""
    from agent.scene_maps import ExplorationConfig, exploration_plan, exploration_simulator
    from perception.instance_memory import InstanceTrackingMap
    from perception.maps import MapConfig
    from perception.pointcloud_map import PointCloudMap
    from perception.semantic_text import SemanticTextExtractor
    from perception.text_encoder import SentenceEncoder

    scene = generate_house(1)
    config = ExplorationConfig(size=96)
    sim = exploration_simulator(scene, config)
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path())
    tracked = InstanceTrackingMap(PointCloudMap(extractor, MapConfig()))
    for pose in exploration_plan(scene, sim.navigation, config).poses:
        frame = sim.reset(pose)
        tracked.integrate(frame, extractor(frame))
    sim.close()
    return scene, tracked


def test_a_step_naming_a_colour_goes_to_the_seen_instance_of_that_colour(toured_house_1):
    from agent.grounded_planner import ColourInstancePlanner

    scene, tracked = toured_house_1
    counters = {o.color: o for o in scene.objects_of_category("counter")}
    assert set(counters) == {"black", "white"}

    def at(waypoint, counter):
        return bool(np.all((waypoint[[0, 2]] >= counter.bbox_min[[0, 2]]) & (waypoint[[0, 2]] <= counter.bbox_max[[0, 2]])))

    for colour, other in (("black", "white"), ("white", "black")):
        # the inner planner points at the other counter: the step moves into the named one's box, at floor height
        inner = FixedPlanner([Step(1, "go to", "kitchen", np.zeros(3)), Step(2, "find", f"{colour} counter", counters[other].center.copy())])
        plan = ColourInstancePlanner(inner).plan(tracked, f"go to the kitchen, then find the {colour} counter")
        assert at(plan.steps[1].waypoint, counters[colour]) and plan.steps[1].waypoint[1] == pytest.approx(tracked.floor_height)
        assert np.array_equal(plan.steps[0].waypoint, np.zeros(3)) and len(plan.notes) == 1
        # pointing at the named one already, or naming no colour: the inner plan, untouched
        for step in (Step(1, "find", f"{colour} counter", counters[colour].center.copy()), Step(1, "find", "counter", counters[other].center.copy())):
            plan = ColourInstancePlanner(FixedPlanner([step])).plan(tracked, "find it")
            assert np.array_equal(plan.steps[0].waypoint, step.waypoint) and plan.notes == []
    with pytest.raises(TypeError, match="InstanceTrackingMap"):
        ColourInstancePlanner(FixedPlanner([Step(1, "find", "black counter", np.zeros(3))])).plan(tracked.map, "find it")
    # no counter seen looks purple: the step is searched for, not sent to the counter of another colour
    plan = ColourInstancePlanner(FixedPlanner([Step(1, "find", "purple counter", counters["black"].center.copy())])).plan(tracked, "find it")
    assert plan.steps[0].waypoint is None and plan.unseen == (1,) and "purple" in plan.notes[0]


def test_room_steps_go_among_the_landmarks_of_a_room_the_frames_showed(toured_house_1):
    from agent.grounded_planner import RoomLandmarkPlanner
    from agent.room_landmarks import RoomLandmarks

    scene, tracked = toured_house_1
    rooms = RoomLandmarks.load()
    wrong = np.array([0.0, 0.0, 6.0])  # the model's waypoint: in the living room, whatever the room asked for
    for room in ("kitchen", "bathroom", "bedroom", "office"):
        plan = RoomLandmarkPlanner(FixedPlanner([Step(1, "go to", room, wrong.copy())]), rooms).plan(tracked, f"go to the {room}")
        assert scene.region_of(plan.steps[0].waypoint).name == room and len(plan.notes) == 1
        assert plan.steps[0].waypoint[1] == pytest.approx(tracked.floor_height)
        assert tracked.occupancy_grid().state_at(plan.steps[0].waypoint[None])[0] == 0  # a free cell to stand on
    # a room type without landmarks (a hallway), and object steps, keep their waypoints
    steps = [Step(1, "go to", "hallway", wrong.copy()), Step(2, "find", "oven", wrong.copy())]
    plan = RoomLandmarkPlanner(FixedPlanner(steps), rooms).plan(tracked, "go to the hallway, then find the oven")
    assert all(np.array_equal(s.waypoint, wrong) for s in plan.steps) and plan.notes == []
    with pytest.raises(TypeError, match="InstanceTrackingMap"):
        RoomLandmarkPlanner(FixedPlanner([Step(1, "go to", "kitchen", wrong.copy())]), rooms).plan(tracked.map, "go to the kitchen")


def test_a_room_step_is_unseen_until_the_frames_show_its_landmarks(turn_in_place, toured_house_1):
    from agent.room_landmarks import RoomLandmarks
    from perception.instance_memory import InstanceTrackingMap
    from perception.maps import MapConfig
    from perception.pointcloud_map import PointCloudMap

    scene, frames, extractor, start = turn_in_place
    rooms = RoomLandmarks.load()
    steps = [Step(i + 1, "go to", room, np.zeros(3)) for i, room in enumerate(("kitchen", "bathroom", "bedroom", "living room", "office"))]
    # rooms none of whose landmark objects any frame of the turn in place shows are unseen
    shown = {int(i) for f in frames for i in np.unique(f.semantic)}
    showing = {o.region for o in scene.objects.values() if o.instance_id in shown and o.category in rooms.of(o.region)}
    little = InstanceTrackingMap(PointCloudMap(extractor, MapConfig()))
    for frame in frames:
        little.integrate(frame, extractor(frame))
    plan = UnseenTargetPlanner(FixedPlanner(steps), rooms=rooms).plan(little, "tour the house", start)
    assert {s.index for s in steps if s.target not in showing} <= set(plan.unseen)
    assert len(plan.unseen) >= 2
    assert all(s.waypoint is None for s in plan.steps if s.index in plan.unseen)
    # the toured house shows every room; without the table room steps are never unseen
    _, tracked = toured_house_1
    assert UnseenTargetPlanner(FixedPlanner(steps), rooms=rooms).plan(tracked, "tour the house").unseen == ()
    assert UnseenTargetPlanner(FixedPlanner(steps)).plan(little, "tour the house", start).unseen == ()


def test_object_steps_go_where_the_seen_instance_is_in_view(toured_house_1):
    import math

    from agent.grounded_planner import InstanceViewPlanner
    from envs.episode_generator import EpisodeGenerator

    scene, tracked = toured_house_1
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=64, height=64))
    generator = EpisodeGenerator(sim, scene)
    vfov = math.radians(79.0)
    planner_for = lambda steps: InstanceViewPlanner(FixedPlanner(steps), camera_height=0.88, vfov=vfov)  # noqa: E731
    reached = 0
    targets = [o for c in ("toilet", "laptop", "microwave", "oven", "refrigerator", "tv") for o in scene.objects_of_category(c)]
    for target in targets:
        guess = target.center + np.array([1.5, 0.0, 1.5])  # the model's waypoint, 2 m off
        plan = planner_for([Step(1, "find", target.category, guess)]).plan(tracked, f"find the {target.category}")
        waypoint = plan.steps[0].waypoint
        assert len(plan.notes) == 1 and waypoint[1] == pytest.approx(tracked.floor_height)
        views = np.array([v.agent_state.position for v in generator.view_points(target)])
        reached += bool(np.hypot(*(views - waypoint)[:, [0, 2]].T).min() < 0.1)
    sim.close()
    assert reached >= len(targets) - 1  # an ObjectNav stop there would succeed (5 of these 6)
    # no seen instance of the target: the step keeps its waypoint
    plan = planner_for([Step(1, "find", "piano", np.zeros(3))]).plan(tracked, "find the piano")
    assert np.array_equal(plan.steps[0].waypoint, np.zeros(3)) and plan.notes == []


def test_a_step_with_a_box_is_taken_to_the_instance_in_its_box_and_the_moved_step_drops_it(toured_house_1):
    """The 3D-LLM's map waypoints give an object step the pointed object's box and a place to stand
    beside it (``agent.map_waypoints``): the instance is chosen by the box, not by the standing place,
    which may lie nearer another instance."""
    import math

    from agent.grounded_planner import InstanceViewPlanner, target_hint

    scene, tracked = toured_house_1
    counters = {o.color: o for o in scene.objects_of_category("counter")}
    for colour, other in (("black", "white"), ("white", "black")):
        box = np.concatenate([counters[colour].bbox_min, counters[colour].bbox_max])
        step = Step(1, "find", "counter", counters[other].center.copy(), box=box)  # stands at the other one
        assert np.allclose(target_hint(step), counters[colour].center, atol=1e-6)
        plan = InstanceViewPlanner(FixedPlanner([step]), camera_height=0.88, vfov=math.radians(79.0)).plan(tracked, "find the counter")
        moved = plan.steps[0]
        near = {c: np.hypot(*(moved.waypoint - counters[c].center)[[0, 2]]) for c in (colour, other)}
        assert near[colour] < near[other] and moved.box is None
    assert np.array_equal(target_hint(Step(1, "find", "counter", np.ones(3))), np.ones(3))


def test_an_instance_the_frames_showed_counts_as_seen_when_the_map_sample_misses_it(toured_house_1):
    _, tracked = toured_house_1
    steps = [Step(1, "find", "microwave", np.zeros(3))]
    # one sampled map point cannot show a microwave; the instance memory has seen one
    assert UnseenTargetPlanner(FixedPlanner(steps), points=1).plan(tracked.map, "find the microwave").unseen == (1,)
    assert UnseenTargetPlanner(FixedPlanner(steps), points=1).plan(tracked, "find the microwave").unseen == ()
