"""Planners: a ``FeatureMap`` and an instruction -> a :class:`Plan` of ordered steps with waypoints.

A plan's steps are ``agent.decomposition.Step`` (index, action, target, ``text`` such as "find the red
mug", waypoint (3,) world metres Y up or None, location-token bins, box (6,) or None): the type the
decomposition parser returns, so a generated plan and a ground-truth plan are compared, scored and
followed the same way.

- :class:`ThreeDLLMPlanner`: the 3D-LLM. It reads ``points_and_features(n)`` from the agent's map,
  builds the location codec over all of the map's points exactly as the training data did
  (``agent.scene_maps.map_codec``), frames the instruction and the agent's start with the training
  prompt (``agent.language_data.decomposition_prompt``), generates with that codec's bounds and
  parses the answer. A malformed answer never raises: the plan keeps the steps that parsed (a step
  without three valid location tokens has ``waypoint=None``) and lists ``problems``.
- :class:`OraclePlanner`: the baseline from an ``InstructionEpisode``'s ground truth, one planner per
  episode. Its steps are the ones the training data holds for that episode (same targets, same
  waypoint rule: ``agent.language_data.step_truths``), written with ``format_decomposition`` and, by
  default, read back through the map's codec, i.e. what a perfect 3D-LLM would answer (waypoints at
  bin centres); ``quantize=False`` keeps the exact waypoints. Its steps carry the target's box.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from agent.decomposition import Step, StepTruth, format_decomposition, parse_decomposition
from agent.language_data import DECOMPOSITION_PROMPTS, decomposition_prompt, step_truths
from agent.llm3d import ThreeDLLM
from agent.location_codec import DEFAULT_BINS, LocationCodec
from agent.map_waypoints import map_walls, read_waypoints
from agent.scene_encoder import codec_bounds, pad_scenes
from agent.scene_maps import map_codec
from agent.waypoint_format import WAYPOINT_SOURCES, location_free_generation, tokens_to_numbers, waypoint_format_of
from envs.episodes import InstructionEpisode
from envs.scene import Scene
from envs.simulator import Navigation
from perception.maps import FeatureMap

DEFAULT_CODEC_MARGIN = 0.1
"""Metres the codec grows beyond the map's points; ``ExplorationConfig.codec_margin``'s default."""


@dataclass
class Plan:
    """A planner's answer to one instruction.

    - ``instruction``: the instruction planned for.
    - ``steps``: the ordered steps (``agent.decomposition.Step``); a step whose location could not be
      read has ``waypoint=None``.
    - ``raw_text``: the answer text the steps were read from.
    - ``latency_s``: wall-clock seconds the planner took (map readout, generation, parsing).
    - ``problems``: what could not be read (the parser's messages; empty when well formed).
    - ``prompt``: the text prompt the model saw ("" for the oracle).
    - ``codec``: the location codec the waypoints were decoded with (None when there was none).
    - ``notes``: what a wrapping planner changed (e.g. ``MapGroundedPlanner``'s moved waypoints).
    - ``unseen``: the ``index`` of each step (without a waypoint) whose target the planner could not
      find in the map yet: the agent explores for it and plans again (``agent.loop``), where a step
      without a waypoint that is not listed here is skipped.
    """

    instruction: str
    steps: list[Step]
    raw_text: str
    latency_s: float
    problems: list[str] = field(default_factory=list)
    prompt: str = ""
    codec: LocationCodec | None = None
    notes: list[str] = field(default_factory=list)
    unseen: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the answer was well formed and had at least one step."""
        return not self.problems and len(self.steps) > 0

    def waypoints(self) -> np.ndarray:
        """(K, 3) float64 world metres: the waypoints of the steps that have one, in step order."""
        points = [np.asarray(s.waypoint, dtype=np.float64) for s in self.steps if s.waypoint is not None]
        return np.stack(points) if points else np.zeros((0, 3), dtype=np.float64)


@runtime_checkable
class Planner(Protocol):
    """Turns the agent's map and an instruction into a :class:`Plan`."""

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        """Plan ``instruction`` on ``feature_map``; ``start`` is the agent's position (3,) world metres
        (Y up, feet at floor height), which the plan's prompt names."""
        ...


# --------------------------------------------------------------------------------------------------
# the 3D-LLM


def default_checkpoint() -> Path:
    """The folder of the 3D-LLM that ships with nav3d (``agent/checkpoints/llm3d``; its README.md
    records the commands and seeds that made it)."""
    return Path(__file__).resolve().parent / "checkpoints" / "llm3d"


class ThreeDLLMPlanner:
    """The 3D-LLM as a planner (module doc).

    ``points``: n of ``points_and_features(n)`` (the training data's ``ExplorationConfig.points``;
    the scene encoder reads the first ``SceneEncoderConfig.max_points`` of them, the map reading of
    the waypoints all of them);
    ``max_new_tokens``: generation budget (a 4-step plan is about 40 tokens with a small tokenizer);
    ``constrain_locations``: location tokens in whole (x y z) groups; ``template``: which of
    ``DECOMPOSITION_PROMPTS`` frames the instruction; ``codec_margin``: metres the codec grows beyond
    the map's points (must match the training data's). A model trained with ``--waypoint-format
    numbers`` (``agent.waypoint_format``, read from its config) sees its prompt's start as numbers,
    answers ``(x, y, z)`` in metres without location tokens and without the location grammar
    (``constrain_locations`` is then False), and its answers are parsed in that format.
    ``waypoints`` (``agent.waypoint_format.WAYPOINT_SOURCES``): "map" (default) reads each room
    step's waypoint from the walls around the points the pointer chose for it and each object step's
    from the way to the pointed object (``agent.map_waypoints``), "pointer" puts room steps at the
    pointer's weighted mean, "tokens" keeps the written tokens; moved steps are listed in the plan's
    ``notes``. A model without a pointer head always keeps its tokens.
    """

    def __init__(
        self,
        model: ThreeDLLM,
        points: int = 1024,
        max_new_tokens: int = 96,
        constrain_locations: bool = True,
        template: int = 0,
        codec_margin: float = DEFAULT_CODEC_MARGIN,
        waypoints: str = "map",
    ) -> None:
        if waypoints not in WAYPOINT_SOURCES:
            raise ValueError(f"waypoints must be one of {WAYPOINT_SOURCES}, got {waypoints!r}")
        if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
            raise ValueError(f"points must be an integer >= 1 (map points the 3D-LLM reads), got {points!r}")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        if isinstance(template, bool) or not isinstance(template, (int, np.integer)) or not 0 <= template < len(DECOMPOSITION_PROMPTS):
            raise ValueError(f"template must be an integer in [0, {len(DECOMPOSITION_PROMPTS)}), got {template!r}")
        if not (np.isfinite(codec_margin) and codec_margin >= 0):
            raise ValueError(f"codec_margin must be finite metres >= 0, got {codec_margin!r}")
        self.model = model
        self.waypoint_format = waypoint_format_of(model)
        self.points = int(points)
        self.max_new_tokens = int(max_new_tokens)
        self.constrain_locations = bool(constrain_locations) and self.waypoint_format == "tokens"
        self.template = int(template)
        self.codec_margin = float(codec_margin)
        self.waypoints = waypoints

    @classmethod
    def from_pretrained(
        cls, folder: str | Path | None = None, device: torch.device | str | None = None, point_dtype: str = "auto", **kwargs
    ) -> ThreeDLLMPlanner:
        """A planner around ``ThreeDLLM.from_pretrained(folder, device=device)`` (None: the shipped
        checkpoint, ``default_checkpoint()``), its point-sized parts in ``point_dtype``
        (``agent.precision``: "auto" = bfloat16 where the device has it natively). ``points`` and
        ``codec_margin`` default to the model's training data (``config.map_data``); ``kwargs`` go to
        the constructor."""
        model = ThreeDLLM.from_pretrained(default_checkpoint() if folder is None else folder, device=device, point_dtype=point_dtype)
        data = model.config.map_data or {}
        for key in ("points", "codec_margin"):
            if key in data:
                kwargs.setdefault(key, data[key])
        return cls(model, **kwargs)

    @property
    def construction(self) -> str | None:
        """The map construction the model's training data used ("neural", "fusion", "pointcloud"), or
        None when its config does not say: build the agent's map the same way."""
        return (self.model.config.map_data or {}).get("construction")

    def codec(self, feature_map: FeatureMap) -> LocationCodec | None:
        """The location codec over the map's bounds (as the training data builds it), or None while
        the map has no points."""
        bounds = feature_map.bounds()
        return None if bounds is None else map_codec(bounds, self.model.config.bins, self.codec_margin)

    def prompt(self, instruction: str, start: np.ndarray, codec: LocationCodec) -> str:
        """The text prompt for ``instruction`` from ``start`` (3,) metres: the training data's framing
        (the start as numbers for a "numbers" model)."""
        prompt = decomposition_prompt(instruction, start, codec, self.template)
        return tokens_to_numbers(prompt, codec) if self.waypoint_format == "numbers" else prompt

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        """Generate and parse a decomposition of ``instruction`` (module doc). ``start`` (3,) world metres
        is required: the prompt names it. An empty map gives a plan with no steps and a problem saying so."""
        began = time.perf_counter()
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"instruction must be a non-empty string, got {instruction!r}")
        if start is None:
            raise ValueError("ThreeDLLMPlanner.plan needs start, the agent's position (3,) in world metres: the prompt names it")
        codec = self.codec(feature_map)
        if codec is None:
            problem = "the map has no points yet: integrate frames before planning"
            return Plan(instruction, [], "", time.perf_counter() - began, [problem])
        prompt = self.prompt(instruction, start, codec)
        points, features = feature_map.points_and_features(self.points)
        dim = self.model.config.encoder.feature_dim
        if np.ndim(features) != 2 or np.shape(features)[1] != dim:
            raise ValueError(
                f"the map gives features of shape {np.shape(features)} but the 3D-LLM was trained on {dim}-channel features; "
                f"use the extractor the model was trained with"
            )
        device = self.model.device
        pts, feats, mask = pad_scenes([(points, features)], device=device)
        numbers = location_free_generation(self.model) if self.waypoint_format == "numbers" else {}
        generation = self.model.generate_with_weights(
            pts, feats, mask, [prompt],
            max_new_tokens=self.max_new_tokens,
            constrain_locations=self.constrain_locations,
            bounds=codec_bounds([codec], device=device),
            **numbers,
        )[0]
        plan = self.read(instruction, generation.text, codec, prompt, None, self.waypoint_format)
        if self.waypoints != "tokens" and generation.point_weights:
            walls = map_walls(self.model, [features])[0] if self.waypoints == "map" else None
            steps, notes = read_waypoints(self.waypoints, plan.steps, generation.point_weights, points, walls, start)
            plan = replace(plan, steps=steps, notes=list(plan.notes) + notes)
        return replace(plan, latency_s=time.perf_counter() - began)

    @staticmethod
    def read(
        instruction: str, text: str, codec: LocationCodec | None, prompt: str = "", began: float | None = None, waypoint_format: str = "tokens"
    ) -> Plan:
        """The plan of an answer ``text`` (never raises on malformed text; see ``parse_decomposition``).
        ``began`` is the ``time.perf_counter()`` the latency counts from (None: 0); ``waypoint_format``
        how the answer writes its waypoints (``agent.waypoint_format``)."""
        parsed = parse_decomposition(text, codec, waypoint_format)
        latency = 0.0 if began is None else time.perf_counter() - began
        return Plan(instruction, list(parsed), text, latency, list(parsed.problems), prompt, codec)


# --------------------------------------------------------------------------------------------------
# the oracle


class OraclePlanner:
    """The ground-truth plan of one ``InstructionEpisode`` (module doc).

    ``scene`` and ``navigation`` are the episode's (the waypoint rule walks the navigation); ``quantize``
    reads the waypoints back through the codec of the map passed to :meth:`plan` (bins, margin as the
    3D-LLM's), falling back to a codec over the scene's vertices while the map is empty or None.
    """

    def __init__(
        self,
        episode: InstructionEpisode,
        scene: Scene,
        navigation: Navigation,
        quantize: bool = True,
        bins: int = DEFAULT_BINS,
        codec_margin: float = DEFAULT_CODEC_MARGIN,
    ) -> None:
        if not isinstance(episode, InstructionEpisode):
            raise TypeError(f"OraclePlanner needs an InstructionEpisode, got {type(episode).__name__}")
        self.episode = episode
        self.scene = scene
        self.navigation = navigation
        self.quantize = bool(quantize)
        self.bins = int(bins)
        self.codec_margin = float(codec_margin)
        self._anchors: dict = {}

    def codec(self, feature_map: FeatureMap | None) -> LocationCodec:
        """The map's codec (as the 3D-LLM planner builds it), or the scene's while the map has no points."""
        bounds = None if feature_map is None else feature_map.bounds()
        return map_codec(self.scene.vertices if bounds is None else bounds, self.bins, self.codec_margin)

    def plan(self, feature_map: FeatureMap | None, instruction: str | None = None, start: np.ndarray | None = None) -> Plan:
        """The episode's steps, waypoints chained from ``start`` (default the episode's start). ``instruction``
        None means the episode's; another instruction is a ValueError (this planner knows only its episode)."""
        began = time.perf_counter()
        check_episode_instruction(self, self.episode, instruction)
        truths = step_truths(self.scene, self.navigation, self.episode, start=start, anchors=self._anchors)
        codec = self.codec(feature_map)
        text = format_decomposition([(t.action, t.target, np.asarray(t.waypoint)) for t in truths], codec)
        if self.quantize:
            parsed = parse_decomposition(text, codec)
            steps, problems = list(parsed), list(parsed.problems)
        else:
            steps = [
                Step(i + 1, t.action, t.target, np.asarray(t.waypoint, dtype=np.float64), tuple(int(codec.bin_of(t.waypoint[a], a)) for a in range(3)))
                for i, t in enumerate(truths)
            ]
            problems = []
        steps = [replace(s, box=self._box(t)) for s, t in zip(steps, truths)]
        return Plan(self.episode.instruction, steps, text, time.perf_counter() - began, problems, "", codec)

    def _box(self, truth: StepTruth) -> np.ndarray | None:
        """(6,) metres: the object's box, or the extent of the room holding the waypoint."""
        if truth.instance_id is not None:
            obj = self.scene.objects[int(truth.instance_id)]
            return np.concatenate([obj.bbox_min, obj.bbox_max]).astype(np.float64)
        rooms = [r for r in self.scene.regions if r.name == truth.room]
        inside = [r for r in rooms if bool(np.asarray(r.contains(np.asarray(truth.waypoint)))[0])]
        region = (inside or rooms or [None])[0]
        return None if region is None else np.concatenate([region.bbox_min, region.bbox_max]).astype(np.float64)


def check_episode_instruction(planner: object, episode: InstructionEpisode, instruction: str | None) -> None:
    """A ValueError unless ``instruction`` is None or ``episode``'s: ``planner`` knows only its episode."""
    if instruction is not None and instruction != episode.instruction:
        name = type(planner).__name__
        raise ValueError(
            f"{name} of episode {episode.episode_id!r} was asked for {instruction!r} but knows only "
            f"{episode.instruction!r}; build one {name} per episode"
        )


def plan_summary(plan: Plan) -> list[str]:
    """One line per step: ``"1. find the red mug -> (x, y, z)"`` (or ``-> no waypoint``)."""
    lines = []
    for s in plan.steps:
        where = "no waypoint" if s.waypoint is None else "(" + ", ".join(f"{v:.2f}" for v in s.waypoint) + ")"
        lines.append(f"{s.index}. {s.text} -> {where}")
    return lines
