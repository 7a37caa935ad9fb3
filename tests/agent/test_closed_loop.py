"""Closed-loop evaluation paths: ObjectNav episodes in ``nav3d eval``, the frontier baseline
(``--planner frontier``) and the agent's search for a target not yet in its map."""

import dataclasses
import json

import numpy as np
import pytest

from agent.cli import MAPPING_CHOICES, PLANNER_CHOICES, main
from agent.decomposition import Step
from agent.episode_eval import EpisodeEvalConfig, dataset_task, evaluate_episodes, read_results, summarize
from agent.episode_runner import MAPPINGS, PLANNERS, build_agent, objectnav_instruction, run_episode, task_episode
from agent.loop import Agent
from agent.loop_config import LoopConfig
from agent.planner import Plan
from envs.dataset import save_dataset
from envs.embedded import EmbeddedSimulator
from envs.episode_generator import EpisodeGenerator, ObjectNavConfig
from envs.gym_env import InstructionEnv
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(construction="pointcloud", size=48)
NEAR = ObjectNavConfig(min_distance=1.0, max_distance=2.5)


@pytest.fixture(scope="module")
def objectnav(tmp_path_factory):
    """A one-episode ObjectNav dataset in house:1: find a book 2.4 m away (geodesic; the oracle
    stops 0.05 m from a view point, clear of the 0.1 m success distance)."""
    sim = EmbeddedSimulator(generate_house(1))
    (episode,) = EpisodeGenerator(sim, scene_id="house:1").objectnav_episodes(1, np.random.default_rng(0), NEAR)
    sim.close()
    assert episode.object_category == "book"
    return save_dataset([episode], tmp_path_factory.mktemp("objectnav") / "test.json.gz"), episode


@pytest.fixture(scope="module")
def encoder():
    from perception.text_encoder import shared_encoder

    return shared_encoder()


def _evaluate_one(path, out, **config) -> tuple[dict, dict]:
    """``nav3d eval``'s summary and result row of a one-episode dataset, with a small sensor and map."""
    summary = evaluate_episodes(path, out, EpisodeEvalConfig(**config, **SMALL), progress=False)
    (row,) = read_results(out / "results.jsonl")[0]
    return summary, row


def test_objectnav_eval_with_the_oracle_succeeds_and_summarizes_objectnav_measures(objectnav, tmp_path):
    path, _ = objectnav
    out = tmp_path / "eval"
    summary, row = _evaluate_one(path, out, planner="oracle", policy="oracle", max_steps=100, explore_steps=0)
    assert row["task"] == "objectnav" and row["instruction"] == "find the book" and row["subgoals"] == 1
    assert row["metrics"]["success"] == 1.0 and row["metrics"]["spl"] > 0.5 and row["metrics"]["distance_to_goal"] < 0.1
    assert row["metrics"]["object_category"] == "book" and row["first_plan"].startswith("1. find the book")
    assert summary["task"] == "objectnav" and summary["success"] == 1.0 and summary["soft_spl"] > 0.5
    assert "success_by_subgoals" not in summary and "subgoal_fraction" not in summary
    table = (out / "summary.md").read_text()
    assert "| soft_spl |" in table and "| plan_latency_s |" in table and "subgoal" not in table
    assert not (out / "success_by_subgoals.png").exists() and (out / "trajectories").is_dir()


def test_frontier_baseline_runs_an_episode_end_to_end_and_writes_its_row(objectnav, tmp_path):
    path, _ = objectnav
    out = tmp_path / "eval"
    summary, row = _evaluate_one(path, out, planner="frontier", policy="map", max_steps=60, explore_steps=15)
    assert row["stamp"]["config"]["planner"] == "frontier" and row["first_plan"] == "1. find the book"
    assert row["metrics"]["plans"] >= 1 and 1 <= row["metrics"]["num_steps"] <= 60
    assert summary["episodes"] == 1 and json.loads((out / "summary.json").read_text())["task"] == "objectnav"


def _agent(env, planner, config: LoopConfig, encoder) -> Agent:
    """An agent with ``planner`` on a small pointcloud map, the map policy and the frontier explorer."""
    u = env.unwrapped
    parts = build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "map", construction="pointcloud", config=config, encoder=encoder)
    return Agent(parts.map, parts.extractor, planner, parts.policy, config, parts.explorer)


class _FindsOnCall:
    """Marks its one step unseen until its ``found``-th plan, then puts the waypoint where the agent stands."""

    def __init__(self, found: int) -> None:
        self.found = found
        self.calls = 0

    def plan(self, feature_map, instruction, start=None):
        self.calls += 1
        seen = self.calls >= self.found
        step = Step(1, "find", "lamp", np.asarray(start, dtype=np.float64) if seen else None)
        return Plan(instruction, [step], "1. find the lamp", 0.0, unseen=() if seen else (1,))


@pytest.mark.parametrize("found, reasons, gave_up", [(3, ["start", "search", "search"], False), (99, ["start", "search", "search", "search"], True)])
def test_the_agent_explores_for_an_unseen_target_and_plans_again(encoder, found, reasons, gave_up):
    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48), max_episode_steps=80)
    observation, _ = env.reset(seed=1)
    config = LoopConfig(explore_steps=10, search_check_steps=4)
    agent = _agent(env, _FindsOnCall(found), config, encoder)
    result = run_episode(env, agent, observation)
    env.close()
    plans = [e for e in result.events if e["kind"] == "plan"]
    assert [e["detail"]["reason"] for e in plans] == reasons  # re-planned after 4 and 8 searching actions (and at the budget's end)
    searched = [e for e in result.events if e["kind"] == "explore" and "for" in e["detail"]]
    assert len(searched) == (8 if not gave_up else 10) and searched[0]["detail"]["for"] == "find the lamp"
    (search,) = [e for e in result.events if e["kind"] == "search"]
    assert search["detail"]["found"] is not gave_up and result.steps[-1].action == "stop" and agent.finished


class _AlwaysFarRoom:
    """One room step whose waypoint lies 5 m east of where the agent plans from."""

    def plan(self, feature_map, instruction, start=None):
        return Plan(instruction, [Step(1, "go to", "kitchen", np.asarray(start, dtype=np.float64) + [5.0, 0.0, 0.0])], "1. go to the kitchen", 0.0)


class _CannotGetCloser:
    """A policy whose every answer is STOP (its map cuts the goal off)."""

    def reset(self) -> None:
        pass

    def act(self, observation, goal):
        return Action.STOP


def test_a_waypoint_the_map_cuts_off_is_searched_for_not_stopped_at(encoder):
    """A policy STOP farther than cut_off_distance from the waypoint does not end the step: the agent
    explores and plans again within the step's budget, then stops for it."""
    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48), max_episode_steps=60)
    observation, _ = env.reset(seed=1)
    config = LoopConfig(explore_steps=10, search_check_steps=4, first_explore_steps=0, look_around=2)
    parts = _agent(env, _AlwaysFarRoom(), config, encoder)
    agent = Agent(parts.map, parts.extractor, parts.planner, _CannotGetCloser(), config, parts.explorer)
    result = run_episode(env, agent, observation)
    env.close()
    cut = [e for e in result.events if e["kind"] == "cut off"]
    assert [e["detail"]["explored"] for e in cut] == [0, 4, 8]  # each time a new plan still could not be reached
    searched = [e for e in result.events if e["kind"] == "explore" and "for" in e["detail"]]
    assert len(searched) == 10 and searched[0]["detail"]["for"] == "go to the kitchen"
    assert [e["detail"]["reason"] for e in result.events if e["kind"] == "plan"] == ["start", "search", "search", "search"]
    (done,) = [e for e in result.events if e["kind"] == "subgoal"]
    assert done["detail"]["distance"] > 4.0 and result.steps[-1].action == "stop" and agent.finished
    with pytest.raises(ValueError, match="cut_off_distance"):
        LoopConfig(cut_off_distance=0.05)


def test_with_no_first_exploration_the_agent_turns_once_around_then_plans_and_searches(encoder):
    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48), max_episode_steps=60)
    observation, _ = env.reset(seed=1)
    config = LoopConfig(explore_steps=10, search_check_steps=4, first_explore_steps=0, look_around=6)
    agent = _agent(env, _FindsOnCall(2), config, encoder)
    result = run_episode(env, agent, observation)
    env.close()
    assert [s.action for s in result.steps[:6]] == ["turn_left"] * 6  # the turn in place, no exploring
    plans = [e for e in result.events if e["kind"] == "plan"]
    assert plans[0]["step"] == 6 and [e["detail"]["reason"] for e in plans] == ["start", "search"]
    explored = [e for e in result.events if e["kind"] == "explore" and e["detail"].get("action") not in ("done",)]
    assert explored and all("for" in e["detail"] for e in explored)  # every exploring action was a search
    assert not any("turn in place" in e["detail"] for e in explored)  # where the agent has just turned around
    with pytest.raises(ValueError, match="first_explore_steps"):
        LoopConfig(first_explore_steps=-1)


def test_a_search_starts_with_a_turn_in_place(encoder):
    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48), max_episode_steps=60)
    observation, _ = env.reset(seed=1)
    config = LoopConfig(explore_steps=10, search_check_steps=4, search_turns=3)  # a first exploration, no turn in place
    result = run_episode(env, _agent(env, _FindsOnCall(99), config, encoder), observation)
    env.close()
    searched = [e for e in result.events if e["kind"] == "explore" and "for" in e["detail"]]
    assert len(searched) == 10 and [("turn in place" in e["detail"]) for e in searched] == [True] * 3 + [False] * 7
    assert all(e["detail"]["action"] == "TURN_LEFT" for e in searched[:3])
    with pytest.raises(ValueError, match="search_turns"):
        LoopConfig(search_turns=-1)


def test_objectnav_and_frontier_errors_are_clear(objectnav, tmp_path, encoder):
    path, episode = objectnav
    assert objectnav_instruction("armchair") == "find the armchair" and task_episode(episode).subgoals[0].target == "book"
    assert set(PLANNER_CHOICES) == set(PLANNERS) and MAPPING_CHOICES == MAPPINGS
    with pytest.raises(ValueError, match="explore_steps > 0"):
        EpisodeEvalConfig(planner="frontier", explore_steps=0)
    # a category no object of the scene has
    goals = tuple(dataclasses.replace(g, object_category="spaceship") for g in episode.goals)
    odd = dataclasses.replace(episode, object_category="spaceship", goals=goals)
    odd_path = save_dataset([odd], tmp_path / "odd.json.gz")
    with pytest.raises(ValueError, match="'spaceship', which no object of scene 'house:1' has.*bookshelf"):
        evaluate_episodes(odd_path, tmp_path / "odd", EpisodeEvalConfig(planner="oracle", policy="oracle", explore_steps=0, **SMALL), progress=False)
    # mixed tasks: in one list, in one output folder, in one summary
    with pytest.raises(ValueError, match="mixes episode tasks"):
        dataset_task([episode, task_episode(episode)], "mixed.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps({"episode_id": "x", "metrics": {}, "subgoals": 1}) + "\n")  # an instruction row
    with pytest.raises(ValueError, match="holds instruction results.*objectnav episodes"):
        evaluate_episodes(path, out, EpisodeEvalConfig(planner="oracle", policy="oracle", **SMALL), progress=False)
    with pytest.raises(ValueError, match="mix episode tasks"):
        summarize([{"metrics": {}, "subgoals": 1}, {"task": "objectnav", "metrics": {}}])
    assert main(["eval", str(path), "--out", str(tmp_path / "f"), "--planner", "frontier", "--explore-steps", "0"]) == 2


def test_objectnav_agents_skip_the_first_exploration_unless_told(objectnav, encoder):
    _, episode = objectnav
    sim = EmbeddedSimulator(generate_house(1), sensor_config=SensorConfig(width=48, height=48))

    def first(config: LoopConfig) -> int:
        agent = build_agent(episode, sim.scene, sim, "oracle", "map", construction="pointcloud", config=config, encoder=encoder)
        return agent.config.initial_explore_steps

    assert first(LoopConfig(explore_steps=30)) == 0  # a turn in place, then plan; search only for an unseen category
    assert first(LoopConfig(explore_steps=30, first_explore_steps=12)) == 12
    sim.close()


def test_instruction_agents_explore_briefly_before_the_first_plan(encoder):
    from agent.episode_runner import INSTRUCTION_FIRST_EXPLORE_STEPS

    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48))
    env.reset(seed=0)
    sim, episode = env.simulator, env.current_episode

    def first(config: LoopConfig) -> int:
        return build_agent(episode, sim.scene, sim, "oracle", "map", construction="pointcloud", config=config, encoder=encoder).config.initial_explore_steps

    assert first(LoopConfig()) == INSTRUCTION_FIRST_EXPLORE_STEPS == 100
    assert first(LoopConfig(explore_steps=30)) == 30  # never more than the per-target budget
    assert first(LoopConfig(first_explore_steps=0)) == 0
    env.close()


def test_a_multiview_3d_llm_reads_image_tokens_while_the_policy_plans_on_a_3d_map(objectnav, encoder, tmp_path):
    """The 2D-features baseline in the loop: a checkpoint trained on ``multiview`` data plans from the
    image tokens of the agent's frames; the policy still drives on the 3D map's occupancy grid."""
    import random

    from agent.language_data import DECOMPOSITION_PROMPTS
    from agent.llm3d import SmallLlama, ThreeDLLM, ThreeDLLMConfig
    from agent.location_codec import LocationCodec
    from agent.scene_encoder import SceneEncoderConfig
    from agent.tokenizer import train_tokenizer
    from agent.rerun_recording import world_map
    from perception.multiview_features import ImageTokenMap

    rng, bins = random.Random(0), 16
    corpus = [f"find the book <loc{rng.randrange(bins)}><loc{rng.randrange(bins)}>" for _ in range(20)] + list(DECOMPOSITION_PROMPTS)
    tokenizer = train_tokenizer(corpus, vocab_size=300, location_bins=bins)
    config = ThreeDLLMConfig(
        SceneEncoderConfig(feature_dim=384, dim=32, queries=4, layers=1, heads=2, frequencies=4),
        LocationCodec((-10.0, -1.0, -10.0), (10.0, 4.0, 10.0), bins=bins),
        SmallLlama(hidden=32, layers=1, heads=2, intermediate=64, max_positions=256),
        map_data={"construction": "multiview", "points": 64},
    )
    checkpoint = ThreeDLLM(config, tokenizer, seed=0).save_pretrained(tmp_path / "mv")
    env = InstructionEnv(scenes=("house:1",), sensor=SensorConfig(width=48, height=48), max_episode_steps=16)
    observation, _ = env.reset(seed=1)
    sim, config = env.simulator, LoopConfig(explore_steps=4, first_explore_steps=0, look_around=3)
    with pytest.raises(ValueError, match="llm-grounded.*image tokens.*--planner llm"):
        build_agent(env.current_episode, sim.scene, sim, "llm-grounded", "map", checkpoint, "pointcloud", config, encoder=encoder)
    agent = build_agent(env.current_episode, sim.scene, sim, "llm", "map", checkpoint, "pointcloud", config, encoder=encoder)
    assert isinstance(agent.map, ImageTokenMap)
    result = run_episode(env, agent, observation)
    env.close()
    frames = len(result.steps)  # the agent integrates each frame it acts on
    assert [e for e in result.events if e["kind"] == "plan"] and len(agent.map.tokens) == frames * 25  # 5 x 5 patches each
    tokens, _ = agent.map.points_and_features(64)
    world = agent.map.map.points()  # the 3D map the policy plans on
    assert len(world) > 0 and agent.map.occupancy_grid().cells.size > 0
    assert not {tuple(p) for p in tokens.round(4)} & {tuple(p) for p in world.round(4)}
    assert world_map(agent.map) is agent.map.map and world_map(agent.map.map) is agent.map.map  # what --rerun logs as world/map


def test_the_agents_3d_llm_reads_its_waypoints_as_asked(objectnav, encoder):
    """``build_agent(..., waypoints=W)`` (``nav3d run|eval --waypoints W``) gives the 3D-LLM planner
    inside the agent's planners that source; an unknown one is refused by the eval config."""
    from agent.planner import ThreeDLLMPlanner

    _, episode = objectnav
    sim = EmbeddedSimulator(generate_house(1), sensor_config=SensorConfig(width=32, height=32))
    for source in ("pointer", "map"):
        agent = build_agent(episode, sim.scene, sim, "llm", "map", None, "pointcloud", LoopConfig(explore_steps=4), encoder=encoder, waypoints=source)
        planner = agent.planner
        while not isinstance(planner, ThreeDLLMPlanner):
            planner = planner.inner
        assert planner.waypoints == source
    sim.close()
    with pytest.raises(ValueError, match="waypoints"):
        EpisodeEvalConfig(waypoints="centre")
