"""Planners: the oracle's steps are the training data's, the 3D-LLM planner builds the training prompt and
codec, reads controlled answers into the expected steps, and never raises on malformed generations."""

import random

import numpy as np
import pytest
import torch

from agent.decomposition import ACTIONS, Step, parse_decomposition
from agent.language_data import DECOMPOSITION_PROMPTS, LanguageDataConfig, decomposition_prompt, scene_records, step_truths, task_rng
from agent.llm3d import Generation, SmallLlama, ThreeDLLM, ThreeDLLMConfig
from agent.location_codec import LocationCodec
from agent.approach_points import ApproachConfig
from agent.planner import OraclePlanner, Plan, Planner, ThreeDLLMPlanner, plan_summary
from agent.scene_encoder import SceneEncoderConfig
from agent.scene_maps import ExplorationConfig, exploration_simulator, map_codec
from agent.tokenizer import train_tokenizer
from envs.episode_generator import EpisodeGenerator, InstructionConfig, ViewPointConfig
from envs.house import generate_house
from envs.types import Pose
from perception.pointcloud_map import PointCloudMap

pytestmark = pytest.mark.usefixtures("one_torch_thread")

C = 16  # feature channels of the test map
BINS = 64
WORDS = "go to the kitchen find a red mug brown clock vase bedroom orange pillow then navigate walk into".split()


class RandomFeatures:
    """A stand-in extractor: C random unit features per pixel (seeded), enough to build a map."""

    dim = C

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, frame):
        f = self.rng.standard_normal((*frame.depth.shape[:2], C)).astype(np.float32)
        return f / np.linalg.norm(f, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def house():
    scene = generate_house(0)
    sim = exploration_simulator(scene, ExplorationConfig(size=48))
    return scene, sim


@pytest.fixture(scope="module")
def episode(house):
    scene, sim = house
    generator = EpisodeGenerator(sim, scene=scene, scene_id=scene.name, view_config=ViewPointConfig(spacing=0.2))
    return generator.instruction_episode(np.random.default_rng(0), InstructionConfig(min_subgoals=2, max_subgoals=3), episode_id="house:0:0")


@pytest.fixture(scope="module")
def feature_map(house, episode):
    _, sim = house
    extractor = RandomFeatures()
    m = PointCloudMap(extractor)
    start = np.asarray(episode.start_position, dtype=np.float64)
    for yaw in (0.0, 2.1, 4.2):
        frame = sim.reset(Pose.from_yaw(start, yaw))
        m.integrate(frame, extractor(frame))
    assert len(m.points()) > 100
    return m


@pytest.fixture(scope="module")
def model():
    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS) for _ in range(6)) + f" <loc{rng.randrange(BINS)}><loc{rng.randrange(BINS)}>" for _ in range(40)]
    corpus += list(DECOMPOSITION_PROMPTS)
    tokenizer = train_tokenizer(corpus, vocab_size=300, location_bins=BINS)
    encoder = SceneEncoderConfig(feature_dim=C, dim=32, queries=4, layers=1, heads=2, frequencies=4)
    lm = SmallLlama(hidden=32, layers=1, heads=2, intermediate=64, max_positions=256)
    codec = LocationCodec((-10.0, -1.0, -10.0), (10.0, 4.0, 10.0), bins=BINS)
    return ThreeDLLM(ThreeDLLMConfig(encoder, codec, lm), tokenizer, seed=0).eval()


class Scripted:
    """A model whose answer (and pointer weights per location triple) the test chooses: it has the
    3D-LLM's ``config``/``device``/``generate_with_weights`` and records what it was asked."""

    def __init__(self, model: ThreeDLLM, answer: str, weights: tuple = ()) -> None:
        self.config, self.device, self.answer, self.weights, self.calls = model.config, torch.device("cpu"), answer, list(weights), []

    def generate_with_weights(self, points, features, point_mask, prompts, max_new_tokens=64, constrain_locations=True, bounds=None):
        self.calls.append({"points": points, "features": features, "mask": point_mask, "prompts": list(prompts), "bounds": bounds})
        return [Generation(self.answer, self.weights)]


def _half_bin(codec: LocationCodec) -> np.ndarray:
    return codec.bin_size / 2 + 1e-9


# ------------------------------------------------------------------------------------------ oracle


def test_oracle_steps_match_the_subgoals_and_the_generators_waypoints(house, episode, feature_map):
    scene, sim = house
    oracle = OraclePlanner(episode, scene, sim.navigation)
    assert isinstance(oracle, Planner)
    plan = oracle.plan(feature_map, episode.instruction)
    truths = step_truths(scene, sim.navigation, episode)  # the data generator's rule
    assert plan.ok and plan.problems == [] and plan.latency_s < 5.0
    assert len(plan.steps) == len(episode.subgoals) == len(truths)
    codec = plan.codec
    assert codec == map_codec(feature_map.points(), BINS, 0.1)
    for k, (step, sg, truth) in enumerate(zip(plan.steps, episode.subgoals, truths), start=1):
        target = f"{sg.color} {sg.target}" if sg.kind == "object" and sg.color else sg.target
        action = "go to" if sg.kind == "room" else "find"
        assert (step.index, step.action, step.target, step.text) == (k, action, target, f"{action} the {target}")
        clamped = np.clip(truth.waypoint, codec.lower, codec.upper)
        assert np.all(np.abs(step.waypoint - clamped) <= _half_bin(codec))
        assert step.box.shape == (6,) and np.all(step.box[3:] >= step.box[:3])
        if sg.kind == "object":  # the box is one of the named instances'
            assert truth.instance_id in [int(g.object_id) for g in sg.goals]
    assert plan.waypoints().shape == (len(plan.steps), 3)
    assert parse_decomposition(plan.raw_text, codec) == [Step(s.index, s.action, s.target, s.waypoint, s.bins) for s in plan.steps]
    assert plan_summary(plan)[0].startswith("1. ")

    exact = OraclePlanner(episode, scene, sim.navigation, quantize=False).plan(None)
    assert np.allclose(exact.waypoints(), [t.waypoint for t in truths])
    assert [s.key for s in exact.steps] == [s.key for s in plan.steps]
    with pytest.raises(ValueError, match="knows only"):
        oracle.plan(feature_map, "go to the moon")


def test_oracle_matches_the_language_data_records(house):
    scene, sim = house
    codec = map_codec(scene.vertices)
    config = LanguageDataConfig(captions=0, qa=0, grounding=0, decompositions=1, min_subgoals=2, max_subgoals=2)
    record = scene_records(scene, sim, codec, 3, config)[0]
    generator = EpisodeGenerator(sim, scene=scene, scene_id=scene.name, view_config=config.view_points)
    episode = generator.instruction_episode(task_rng(3, scene.name, "decomposition"), InstructionConfig(2, 2), episode_id=f"{scene.name}:0")
    assert episode.instruction == record["meta"]["instruction"]
    plan = OraclePlanner(episode, scene, sim.navigation).plan(None)
    assert plan.raw_text == record["answer"]  # no map: the scene's codec, the one these records used


# ------------------------------------------------------------------------------------------ 3D-LLM


def test_prompt_is_the_data_generators(house, model):
    scene, sim = house
    codec = map_codec(scene.vertices, BINS)
    config = LanguageDataConfig(captions=0, qa=0, grounding=0, decompositions=2, min_subgoals=2, max_subgoals=2)
    records = scene_records(scene, sim, codec, 5, config)
    assert records
    for r in records:
        meta = r["meta"]
        planner = ThreeDLLMPlanner(model, template=meta["template"])
        assert planner.prompt(meta["instruction"], np.asarray(meta["start"]), codec) == r["prompt"]
        assert decomposition_prompt(meta["instruction"], meta["start"], codec, meta["template"]) == r["prompt"]
    with pytest.raises(ValueError, match="template"):
        decomposition_prompt("go", [0, 0, 0], codec, len(DECOMPOSITION_PROMPTS))


def test_untrained_model_returns_a_plan_without_raising(model, feature_map, episode):
    planner = ThreeDLLMPlanner(model, points=128, max_new_tokens=24)
    start = np.asarray(episode.start_position)
    plan = planner.plan(feature_map, episode.instruction, start)
    assert isinstance(plan, Plan) and isinstance(plan.raw_text, str) and plan.latency_s > 0
    assert plan.codec == map_codec(feature_map.points(), BINS, 0.1)
    assert plan.prompt == decomposition_prompt(episode.instruction, start, plan.codec, 0)
    assert plan.problems, f"an untrained model's answer should not be a well-formed plan: {plan.raw_text!r}"
    for s in plan.steps:
        assert s.waypoint is None or (s.waypoint.shape == (3,) and np.all(s.waypoint >= plan.codec.lower) and np.all(s.waypoint <= plan.codec.upper))
    assert plan.waypoints().shape[1] == 3


def test_controlled_answer_gives_the_expected_steps(model, feature_map, episode):
    codec = map_codec(feature_map.points(), BINS, 0.1)
    answer = "1. go to the kitchen <loc12><loc3><loc40> 2. find the red mug <loc30><loc3><loc51>"
    scripted = Scripted(model, answer)
    start = np.asarray(episode.start_position)
    plan = ThreeDLLMPlanner(scripted, points=64).plan(feature_map, episode.instruction, start)
    assert plan.ok and plan.raw_text == answer
    assert [(s.text, s.target) for s in plan.steps] == [("go to the kitchen", "kitchen"), ("find the red mug", "red mug")]
    expected = [[codec.value_of(b, a) for a, b in enumerate(bins)] for bins in ((12, 3, 40), (30, 3, 51))]
    assert np.allclose(plan.waypoints(), expected) and all(s.box is None for s in plan.steps)
    call = scripted.calls[0]  # what the model was given: the map's points and this map's codec box
    assert call["points"].shape == (1, 64, 3) and call["features"].shape == (1, 64, C) and bool(call["mask"].all())
    assert torch.allclose(call["bounds"], torch.tensor([[codec.lower, codec.upper]], dtype=torch.float32))
    assert call["prompts"] == [decomposition_prompt(episode.instruction, start, codec)]


def test_room_steps_take_their_waypoint_from_the_pointer_weights(model, feature_map, episode):
    """With the pointer's weights and ``waypoints="pointer"``, a room step's waypoint is their weighted
    mean over the map's points (x/z; height as written); object steps keep their tokens, and "tokens"
    keeps every step's."""
    answer = "1. go to the kitchen <loc12><loc3><loc40> 2. find the red mug <loc30><loc3><loc51>"
    start = np.asarray(episode.start_position)
    written = ThreeDLLMPlanner(Scripted(model, answer), points=64).plan(feature_map, episode.instruction, start)
    weights = [np.zeros(64), np.full(64, 1 / 64)]
    weights[0][[3, 7]] = 0.5
    scripted = Scripted(model, answer, weights)
    plan = ThreeDLLMPlanner(scripted, points=64, waypoints="pointer").plan(feature_map, episode.instruction, start)
    points = scripted.calls[0]["points"][0].numpy()
    expected = (points[3] + points[7]) / 2
    assert np.allclose(plan.steps[0].waypoint[[0, 2]], expected[[0, 2]], atol=1e-5)
    assert plan.steps[0].waypoint[1] == written.steps[0].waypoint[1] and plan.steps[0].bins == written.steps[0].bins
    assert np.array_equal(plan.steps[1].waypoint, written.steps[1].waypoint)
    assert len(plan.notes) == 1 and "read from the pointer" in plan.notes[0]
    kept = ThreeDLLMPlanner(Scripted(model, answer, weights), points=64, waypoints="tokens").plan(feature_map, episode.instruction, start)
    assert np.allclose(kept.waypoints(), written.waypoints()) and kept.notes == []
    with pytest.raises(ValueError, match="waypoints"):
        ThreeDLLMPlanner(scripted, waypoints="centre")


def test_by_default_waypoints_are_read_off_the_map(model, feature_map, episode):
    """The default ("map"): the object step ends within reach of the points the pointer chose, on
    the map's free floor; the room step, on a map whose random features show no wall, falls back to
    the weights' mean. Both are noted."""
    answer = "1. go to the kitchen <loc12><loc3><loc40> 2. find the red mug <loc30><loc3><loc51>"
    start = np.asarray(episode.start_position)
    weights = [np.zeros(64), np.zeros(64)]
    weights[0][[3, 7]] = 0.5
    weights[1][11] = 1.0
    scripted = Scripted(model, answer, weights)
    plan = ThreeDLLMPlanner(scripted, points=64).plan(feature_map, episode.instruction, start)
    points = scripted.calls[0]["points"][0].numpy()
    assert np.allclose(plan.steps[0].waypoint[[0, 2]], ((points[3] + points[7]) / 2)[[0, 2]], atol=1e-5)
    assert np.hypot(*(plan.steps[1].waypoint - points[11])[[0, 2]]) <= ApproachConfig().reach + 0.1
    assert len(plan.notes) == 2 and "mean" in plan.notes[0] and "the way to the pointed object" in plan.notes[1]


@pytest.mark.parametrize(
    "answer, steps, problem",
    [
        ("", 0, "no numbered step"),
        ("<loc1><loc2> kitchen", 0, "no numbered step"),
        ("1. go to the kitchen <loc12><loc3> 2. find the red mug <loc30><loc3><loc51>", 2, "2 location tokens"),
        ("1. dance in the kitchen <loc12><loc3><loc40>", 1, "no known action"),
        ("1. go to the kitchen <loc12><loc3><loc99>", 1, "outside the codec"),
        ("1. find the mug <loc1><loc2><loc3> 3. find the cup <loc1><loc2><loc3>", 2, "numbered 3"),
    ],
)
def test_malformed_answers_are_reported_not_raised(model, feature_map, episode, answer, steps, problem):
    plan = ThreeDLLMPlanner(Scripted(model, answer), points=32).plan(feature_map, episode.instruction, np.asarray(episode.start_position))
    assert len(plan.steps) == steps and not plan.ok
    assert any(problem in p for p in plan.problems), plan.problems
    valid = [s for s in plan.steps if s.waypoint is not None]
    assert plan.waypoints().shape == (len(valid), 3)
    if "2 location tokens" in problem:
        assert plan.steps[0].waypoint is None and plan.steps[1].waypoint is not None


def test_empty_map_and_bad_arguments(model, episode):
    planner = ThreeDLLMPlanner(model)
    empty = PointCloudMap(RandomFeatures())
    plan = planner.plan(empty, episode.instruction, np.zeros(3))
    assert plan.steps == [] and "no points" in plan.problems[0]
    with pytest.raises(ValueError, match="needs start"):
        planner.plan(empty, episode.instruction)
    with pytest.raises(ValueError, match="points"):
        ThreeDLLMPlanner(model, points=0)
    with pytest.raises(ValueError, match="template"):
        ThreeDLLMPlanner(model, template=9)


def test_feature_size_mismatch_is_a_clear_error(model, feature_map, episode):
    class Wide:
        dim = C + 1

        def bounds(self):
            return feature_map.bounds()

        def points_and_features(self, n):
            return np.zeros((4, 3)), np.zeros((4, C + 1))

    with pytest.raises(ValueError, match="trained on 16-channel features"):
        ThreeDLLMPlanner(model).plan(Wide(), episode.instruction, np.asarray(episode.start_position))


def test_from_pretrained_round_trip(model, feature_map, episode, tmp_path):
    model.save_pretrained(tmp_path / "m")
    planner = ThreeDLLMPlanner.from_pretrained(tmp_path / "m", points=64, max_new_tokens=12)
    plan = planner.plan(feature_map, episode.instruction, np.asarray(episode.start_position))
    again = ThreeDLLMPlanner(model, points=64, max_new_tokens=12).plan(feature_map, episode.instruction, np.asarray(episode.start_position))
    assert plan.raw_text == again.raw_text  # greedy: the same weights give the same plan
    assert all(s.action in ACTIONS + ("",) for s in plan.steps)
