"""One episode end to end: an env (``InstructionEnv``, or ``ObjectNavEnv`` for ObjectNav episodes)
and an :class:`agent.loop.Agent` built from named parts, stepped until the episode ends, with what
happened returned (and recorded by the caller when asked).

An ObjectNav episode runs through the same loop as a one-step instruction, "find the <category>"
(``task_episode``: one object subgoal holding the episode's goals and view points); the agent STOPs
at its waypoint and the ObjectNav env's measures (success within 0.1 m of a view point, SPL, soft
SPL, distance to goal) decide.

Parts, as baselines are named in an evaluation table:

- planner ``"llm"``: the 3D-LLM (``ThreeDLLMPlanner``, a checkpoint folder, default the shipped
  one); ``"llm-grounded"``: its steps with object waypoints looked up in the agent's map
  (``MapGroundedPlanner``); both search (explore) for an object step whose target the map does not
  show yet rather than drive to a guessed place (``UnseenTargetPlanner``); ``"oracle"``: the
  episode's ground-truth plan (``OraclePlanner``; for ObjectNav the view point nearest by geodesic
  distance); ``"frontier"``: no language model, the subgoals' target phrases found in the agent's
  map while exploring frontiers (``agent.frontier_planner``, which states what it is given; needs
  ``explore_steps`` > 0); all but the oracle send a step that names a colour ("find the black mug")
  to the seen instance of that colour (``ColourInstancePlanner`` over the map's
  ``perception.instance_memory``);
- policy ``"map"``: ``MapPlannerPolicy`` on the agent's own occupancy grid; ``"oracle"``:
  ``OracleFollower`` on the simulator's navigation (privileged);
- exploration before the first plan: ``FrontierExplorer`` on the agent's own grid when
  ``LoopConfig.explore_steps`` > 0, else a turn in place; a config that leaves
  ``first_explore_steps`` unset gets a turn in place for an ObjectNav episode (then the agent
  searches only while the category is not in its map) and ``INSTRUCTION_FIRST_EXPLORE_STEPS`` (at
  most ``explore_steps``) for an instruction episode.

The map is the construction the checkpoint was trained on (its ``map_data``; ``"neural"`` when it
does not say) with ``SemanticTextExtractor`` features, as in the training data; a neural field
trains on a mapping thread or process (``mapping``, ``MAPPINGS``) while the agent renders, drives and records. A
checkpoint trained on ``multiview`` data (the 2D-features baseline) reads image tokens of the
agent's frames (``ImageTokenMap``) while the policy plans on a 3D map (``--construction``, default
neural).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agent.loop import Agent
from agent.loop_config import LoopConfig
from envs.episodes import InstructionEpisode, ObjectNavEpisode, Subgoal
from envs.types import Action, Frame

PLANNERS = ("llm", "llm-grounded", "oracle", "frontier")
POLICIES = ("map", "oracle")
MAPPINGS = ("thread", "process", "inline")
"""Where a neural-field map trains while the agent acts (``perception.field_training``): a mapping
thread (``BackgroundTraining``), a mapping process (``ProcessTraining``: the field's gradient steps
then share no GIL with the agent; not from inside a ``multiprocessing.Pool`` worker), or inline."""
INSTRUCTION_FIRST_EXPLORE_STEPS = 100
"""Exploring actions before the first plan of an instruction episode when the config leaves it unset."""


@dataclass
class StepRecord:
    """One env step: the action taken and the pose and measures after it (world metres, [x, y, z, w])."""

    step: int
    action: str
    position: list[float]
    rotation: list[float]
    plan_index: int
    measures: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "action": self.action, "position": self.position, "rotation": self.rotation,
                "plan": self.plan_index, "measures": self.measures}


@dataclass
class EpisodeResult:
    """What one episode gave: its ids and instruction, the agent's ``start`` pose (``position`` world
    metres, ``rotation`` [x, y, z, w]), the ``sensor`` size in pixels, the final ``metrics`` (the
    env's measures plus the loop's: plans, plan latency, steps done, and ``time_<part>_s``, the
    seconds spent in each part: env (render and measures), record, features, map, explore, plan,
    policy), every plan, the loop's events and the steps."""

    episode_id: str
    scene_id: str
    instruction: str
    start: dict[str, list[float]]
    sensor: dict[str, int]
    metrics: dict[str, Any]
    plans: list[dict[str, Any]]
    events: list[dict[str, Any]]
    steps: list[StepRecord] = field(default_factory=list)


def check_parts(planner: str, policy: str, explore_steps: int) -> None:
    """A ValueError unless ``planner`` and ``policy`` are known names and ``explore_steps`` (actions)
    lets the frontier planner explore."""
    if planner not in PLANNERS:
        raise ValueError(f"unknown planner {planner!r}; choose one of {list(PLANNERS)}")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {list(POLICIES)}")
    if planner == "frontier" and explore_steps == 0:
        raise ValueError("the frontier planner finds its targets by exploring: give it explore_steps > 0 (LoopConfig / --explore-steps)")


def objectnav_instruction(category: str) -> str:
    """The instruction an ObjectNav episode is run with: ``"find the <category>"``, the phrasing of an
    object step in the instruction episodes the 3D-LLM's data is made from (a small model trained
    on them does not carry "the" over to "a")."""
    return f"find the {category}"


def task_episode(episode: InstructionEpisode | ObjectNavEpisode) -> InstructionEpisode:
    """The instruction episode the agent follows: ``episode`` itself, or an ObjectNav episode as one
    object subgoal (module doc); anything else is a ValueError."""
    if isinstance(episode, InstructionEpisode):
        return episode
    if not isinstance(episode, ObjectNavEpisode):
        raise ValueError(f"the agent runs instruction and ObjectNav episodes, got a {type(episode).__name__} ({getattr(episode, 'episode_id', '?')})")
    return InstructionEpisode(
        episode_id=episode.episode_id, scene_id=episode.scene_id, start_position=episode.start_position,
        start_rotation=episode.start_rotation, info=dict(episode.info), instruction=objectnav_instruction(episode.object_category),
        subgoals=(Subgoal(kind="object", target=episode.object_category, goals=episode.goals),),
    )


def check_category(episode: InstructionEpisode | ObjectNavEpisode, scene) -> None:
    """A ValueError naming the scene's categories when an ObjectNav episode asks for one that no
    object of ``scene`` has (nothing to check for instruction episodes)."""
    if not isinstance(episode, ObjectNavEpisode):
        return
    categories = sorted({obj.category for obj in scene.objects.values()})
    if episode.object_category not in categories:
        raise ValueError(
            f"ObjectNav episode {episode.episode_id!r} asks for category {episode.object_category!r}, which no object of "
            f"scene {episode.scene_id!r} has (its categories: {', '.join(categories)})"
        )


def build_agent(
    episode: InstructionEpisode | ObjectNavEpisode,
    scene,
    simulator,
    planner: str = "llm",
    policy: str = "map",
    checkpoint: str | None = None,
    construction: str | None = None,
    config: LoopConfig = LoopConfig(),
    encoder=None,
    mapping: str = "thread",
    waypoints: str = "map",
) -> Agent:
    """An ``Agent`` for ``episode`` (instruction or ObjectNav) in ``scene`` (module doc names the
    parts). ``simulator`` gives the agent's body (``agent_config``) and, for the oracle parts only,
    the navigation. ``mapping``: where a neural field trains (``MAPPINGS``); ``waypoints``: where the
    3D-LLM's steps take their waypoints from (``agent.waypoint_format.WAYPOINT_SOURCES``)."""
    from agent.frontier_planner import FrontierBaselinePlanner
    from agent.grounded_planner import ColourInstancePlanner, InstanceViewPlanner, MapGroundedPlanner, RoomLandmarkPlanner, UnseenTargetPlanner
    from agent.planner import OraclePlanner, ThreeDLLMPlanner
    from agent.room_landmarks import RoomLandmarks
    from agent.scene_maps import check_construction, new_feature_map
    from perception.instance_memory import InstanceTrackingMap
    from perception.maps import MapConfig
    from perception.semantic_text import SemanticTextExtractor
    from policies import FrontierExplorer, MapPlannerPolicy, OracleFollower

    check_parts(planner, policy, config.explore_steps)
    training = field_training(mapping)
    check_category(episode, scene)
    if config.first_explore_steps is None:
        # ObjectNav: a turn in place, then plan and search only while the category is not in the map
        # (held-out, 3D-LLM + map: SPL 0.357 against 0.257 after 250 steps of exploration first);
        # instructions: a short exploration first, for the steps the map cannot check (a dining
        # room has no landmarks), then search per step (held-out, 32 episodes: 23 / 32 after 100
        # steps, 19 / 32 after 250, 18 / 32 after none)
        first = 0 if isinstance(episode, ObjectNavEpisode) else INSTRUCTION_FIRST_EXPLORE_STEPS
        config = replace(config, first_explore_steps=min(first, config.explore_steps))
    episode = task_episode(episode)
    map_data: dict[str, Any] = {}
    if planner in ("llm", "llm-grounded"):
        llm = ThreeDLLMPlanner.from_pretrained(checkpoint, waypoints=waypoints)
        map_data = llm.model.config.map_data or {}
        # object steps go where the seen instance of their target nearest the model's waypoint (of
        # the colour named, if any) is in view; room steps go among the landmarks of a room the
        # frames showed (an oven and a refrigerator for a kitchen); steps whose target the map does
        # not show yet are searched for, not driven to
        rooms = RoomLandmarks.load()
        inner = ColourInstancePlanner(RoomLandmarkPlanner(llm if planner == "llm" else MapGroundedPlanner(llm), rooms))
        vfov = simulator.sensor_config.intrinsics.vfov  # radians
        the_planner = UnseenTargetPlanner(InstanceViewPlanner(inner, simulator.agent_config.sensor_height, vfov), points=llm.points, rooms=rooms)
    # a 3D-LLM trained on image tokens (the 2D baseline) reads them beside a 3D map the policy plans on
    image_tokens = map_data.get("construction") == "multiview"
    if image_tokens and planner == "llm-grounded":
        raise ValueError("--planner llm-grounded locates targets at map points, and this 3D-LLM reads image tokens (multiview data): use --planner llm")
    construction = check_construction(construction or ("neural" if image_tokens else map_data.get("construction", "neural")))
    if encoder is None:
        from perception.text_encoder import SentenceEncoder

        encoder = SentenceEncoder.from_path()
    extractor = SemanticTextExtractor.from_scene(scene, encoder)
    map_config = MapConfig(**map_data["map"]) if "map" in map_data else MapConfig()
    # the field trains beside the agent (a mapping thread or process): the same map, sooner (perception.field_training)
    feature_map = new_feature_map(construction, extractor, map_config, training=training)
    if planner != "oracle":  # the instances its frames show, for ColourInstancePlanner (about 7 ms a frame)
        feature_map = InstanceTrackingMap(feature_map)
    if image_tokens:
        from perception.multiview_features import ImageTokenMap, MultiViewImageFeatures

        feature_map = ImageTokenMap(feature_map, MultiViewImageFeatures(extractor, map_config))
    if planner == "oracle":
        the_planner = OraclePlanner(episode, scene, simulator.navigation, quantize=False)  # exact: an upper bound
    elif planner == "frontier":
        the_planner = ColourInstancePlanner(FrontierBaselinePlanner(episode))
    body = simulator.agent_config
    if policy == "map":
        the_policy = MapPlannerPolicy(feature_map.occupancy_grid, body, goal_radius=config.waypoint_radius)
    else:
        the_policy = OracleFollower(simulator.navigation, body, goal_radius=config.waypoint_radius)
    explorer = FrontierExplorer(feature_map.occupancy_grid, body) if config.explore_steps > 0 else None
    return Agent(feature_map, extractor, the_planner, the_policy, config, explorer)


def field_training(mapping: str):
    """The ``perception.field_training`` kind named by ``mapping`` (one of ``MAPPINGS``)."""
    from perception.field_training import BackgroundTraining, InlineTraining, ProcessTraining

    kinds = {"thread": BackgroundTraining, "process": ProcessTraining, "inline": InlineTraining}
    if mapping not in kinds:
        raise ValueError(f"unknown mapping {mapping!r}: choose one of {', '.join(MAPPINGS)}")
    return kinds[mapping]()


def run_episode(
    env, agent: Agent, observation: dict, on_step: Callable[[dict, Frame, Agent], None] | None = None, progress: bool = False
) -> EpisodeResult:
    """Run the env's current episode (instruction or ObjectNav) with ``agent`` until it ends;
    ``observation`` is what ``env.reset`` returned. ``on_step(observation, frame, agent)`` is called
    with it and after every step (e.g. to add a video frame). Returns the :class:`EpisodeResult`."""
    from tqdm import tqdm

    env = getattr(env, "unwrapped", env)
    episode = task_episode(env.current_episode)
    agent.reset(episode.instruction)
    frame = env.frame
    if on_step is not None:
        on_step(observation, frame, agent)
    steps: list[StepRecord] = []
    began = time.perf_counter()
    info: dict[str, Any] = {}
    done = False
    seconds = {"env": 0.0, "record": 0.0}
    with tqdm(total=env.max_episode_steps, desc=f"episode {episode.episode_id}", unit="step", disable=not progress, leave=False) as bar:
        while not done:
            action = agent.act(frame)
            t = time.perf_counter()
            observation, _, terminated, truncated, info = env.step(action)
            seconds["env"] += time.perf_counter() - t
            done = terminated or truncated
            frame = env.frame
            steps.append(StepRecord(
                int(info["num_steps"]), Action(action).name.lower(),
                [float(v) for v in observation["position"]], [float(v) for v in observation["rotation"]],
                len(agent.plans) - 1,
                {k: float(v) for k, v in info.items() if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)},
            ))
            if on_step is not None:
                t = time.perf_counter()
                on_step(observation, frame, agent)
                seconds["record"] += time.perf_counter() - t
            bar.update(1)
    latencies = [e.seconds for e in agent.events if e.kind == "plan"]
    metrics = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
    metrics.update({
        "plans": len(agent.plans),
        "plan_latency_s": float(np.mean(latencies)) if latencies else 0.0,
        "steps_done": agent.done_steps,
        "plan_steps": len(agent.plans[0].steps) if agent.plans else 0,
        "wall_time_s": time.perf_counter() - began,
        "steps_per_s": len(steps) / max(time.perf_counter() - began, 1e-9),
    })
    for e in agent.events:
        seconds[e.kind] = seconds.get(e.kind, 0.0) + e.seconds
    metrics.update({f"time_{kind}_s": value for kind, value in seconds.items() if value > 0 or kind in ("env", "record")})
    plans = [
        {"text": p.raw_text, "steps": [s.to_dict() for s in p.steps], "problems": p.problems, "notes": p.notes, "unseen": list(p.unseen),
         "latency_s": p.latency_s, "prompt": p.prompt}
        for p in agent.plans
    ]
    start = {"position": [float(v) for v in episode.start_position], "rotation": [float(v) for v in episode.start_rotation]}
    sensor = {"width": env.sensor_config.width, "height": env.sensor_config.height}
    events = [e.to_dict() for e in agent.events]
    return EpisodeResult(episode.episode_id, episode.scene_id, episode.instruction, start, sensor, metrics, plans, events, steps)
