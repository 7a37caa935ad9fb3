"""``FrontierBaselinePlanner``: the baseline without a language model (``nav3d eval --planner frontier``).

What it is given (the rule, so that a table can say what the baseline knows): the episode's
subgoals in order as target phrases ("find the red mug", "go to the kitchen"), i.e. the
ground-truth decomposition without locations: what an oracle plan holds, minus its waypoints. It
is given no location and no language model; an ObjectNav episode is one "find <category>" step.

What it does each time the agent plans: every object step's waypoint is looked up in the agent's
own map by open-vocabulary text relevance exactly as ``MapGroundedPlanner`` does (same sampled
points, ``min_relevance`` grounding threshold and margin). A step whose target scores below the
threshold has no waypoint and is listed in ``Plan.unseen``, so the agent explores frontiers
(``FrontierExplorer`` on its own occupancy grid) for up to ``LoopConfig.explore_steps`` actions,
planning again every ``LoopConfig.search_check_steps`` of them, then drives to the target with its
policy and STOPs. Room steps are never found: the map's features name object categories, not
rooms, so for a room step the agent explores for the whole budget and STOPs where it is (it cannot
find rooms without language grounding; such a step counts only when the search ends inside the room).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from agent.decomposition import ACTION_OF_KIND, Step
from agent.grounded_planner import MapGroundedPlanner
from agent.planner import Plan, check_episode_instruction
from envs.episodes import InstructionEpisode
from perception.maps import FeatureMap


class TargetListPlanner:
    """The subgoals of one ``InstructionEpisode`` as steps without waypoints: the action and the
    target phrase ("red mug", "kitchen") of each, in order."""

    def __init__(self, episode: InstructionEpisode) -> None:
        if not isinstance(episode, InstructionEpisode):
            raise TypeError(f"TargetListPlanner needs an InstructionEpisode, got {type(episode).__name__}")
        self.episode = episode

    def plan(self, feature_map: FeatureMap | None, instruction: str | None = None, start: np.ndarray | None = None) -> Plan:
        """The episode's steps (``feature_map`` and ``start`` are not used); ``instruction`` must be the episode's or None."""
        began = time.perf_counter()
        check_episode_instruction(self, self.episode, instruction)
        steps = [
            Step(i, ACTION_OF_KIND[sg.kind], f"{sg.color} {sg.target}" if sg.color else sg.target)
            for i, sg in enumerate(self.episode.subgoals, start=1)
        ]
        text = " ".join(f"{s.index}. {s.text}" for s in steps)
        return Plan(self.episode.instruction, steps, text, time.perf_counter() - began)


class FrontierBaselinePlanner:
    """The frontier baseline's planner for one episode (module doc). ``grounding``: keyword arguments
    of ``MapGroundedPlanner`` (``points``, ``min_relevance``, ``relevance_margin``)."""

    def __init__(self, episode: InstructionEpisode, **grounding: Any) -> None:
        self.grounded = MapGroundedPlanner(TargetListPlanner(episode), **grounding)

    @property
    def min_relevance(self) -> float:
        """The grounding threshold: the best cosine relevance at which a target counts as in the map."""
        return self.grounded.min_relevance

    def plan(self, feature_map: FeatureMap, instruction: str | None = None, start: np.ndarray | None = None) -> Plan:
        """The episode's steps with the waypoints of the targets found in ``feature_map``; the others
        are listed in ``Plan.unseen``. ``start`` (3,) world metres: the agent's position."""
        plan = self.grounded.plan(feature_map, instruction, start)
        return replace(plan, unseen=tuple(s.index for s in plan.steps if s.waypoint is None))
