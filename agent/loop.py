"""The agent: a ``FeatureMap`` + a ``Planner`` (the 3D-LLM) + a ``Policy``, one action per frame.

Each call of :meth:`Agent.act` (one frame):

1. the frame's features are extracted ("features") and integrated into the map ("map");
2. before the first plan it builds its map: with an ``explorer`` policy (``FrontierExplorer``) it
   explores for up to ``LoopConfig.initial_explore_steps`` actions (or until no frontier is left),
   else (or when that budget is 0) it turns in place for ``LoopConfig.look_around`` frames, so the
   first plan sees more than one view;
3. it plans (asks the planner for a decomposition of the instruction from its position) when it has
   no plan, after each reached step, and when the current step has taken ``stale_steps`` actions;
   each re-plan keeps the steps already done and follows the new plan from the next one;
4. it drives to the current step's waypoint with the policy; within ``waypoint_radius`` metres
   (x/z) of it (or when the policy stops, unable to get closer, within ``cut_off_distance``) it
   calls STOP, which an instruction env scores as reaching that subgoal, and moves on to the next
   step; after the last step it stops. A policy STOP farther than ``cut_off_distance`` from the
   waypoint (the agent's map cuts it off) does not end the step: the step is searched for like an
   unseen target (below), logged as a "cut off" event.

A step the planner lists as ``Plan.unseen`` (its target is not in the map yet) is searched for: the
agent turns in place (``LoopConfig.search_turns`` actions, as the target may stand beside it out of
view; not within ``TURNED_HERE`` metres of where its last turn in place ended), then explores with
its ``explorer``, for up to ``LoopConfig.explore_steps`` actions in all; it plans again every
``search_check_steps`` of them and drives on as soon as the step has a waypoint; when the
budget is spent (or no frontier is left, or there is no explorer) it gives up and STOPs where it
stands for that step (logged as a "search" event). Any other step whose waypoint could not be read
(a malformed generation) is skipped and logged. Every part of every call is logged with its
latency in ``Agent.events`` (:class:`LoopEvent`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from agent.decomposition import Step
from agent.loop_config import LoopConfig
from agent.planner import Plan, Planner
from envs.types import Action, Frame
from perception.features import FeatureExtractor
from perception.maps import FeatureMap
from policies.base import Policy


TURNED_HERE = 0.5
"""Metres (x/z) from where the agent's last turn in place ended within which a search does not turn again."""


@dataclass
class LoopEvent:
    """One logged call: the env ``step`` it happened at, its ``kind`` ("features", "map", "explore", "cut off",
    "plan", "policy", "subgoal", "skip", "search", "done"), the wall-clock ``seconds`` it took and what it produced (``detail``)."""

    step: int
    kind: str
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Agent:
    """Map + planner + policy (module doc). ``reset(instruction)`` starts an episode; ``act(frame)``
    takes the latest frame (with intrinsics, camera and agent poses: ``NavEnv.frame``) and returns
    the next action."""

    def __init__(
        self,
        feature_map: FeatureMap,
        extractor: FeatureExtractor,
        planner: Planner,
        policy: Policy,
        config: LoopConfig = LoopConfig(),
        explorer: Policy | None = None,
    ) -> None:
        self.map = feature_map
        self.extractor = extractor
        self.planner = planner
        self.policy = policy
        self.config = config
        self.explorer = explorer
        self._explored = 0  # exploring actions taken; -1 once exploration is over
        self._searched = 0  # exploring actions taken for the current step's unseen target
        self._checked_at = 0  # ``_searched`` when the current step was last planned for
        self._turned_at: np.ndarray | None = None  # (3,) where the agent's last turn in place ended
        self.instruction = ""
        self.plan: Plan | None = None
        self.plans: list[Plan] = []
        self.done_steps = 0
        self.events: list[LoopEvent] = []
        self.finished = False
        self._step = 0
        self._on_step = 0

    def reset(self, instruction: str) -> None:
        """Start an episode for ``instruction`` (the map is kept: pass a fresh one per scene)."""
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"instruction must be a non-empty string, got {instruction!r}")
        self.instruction = instruction
        self.plan, self.plans, self.done_steps, self.events = None, [], 0, []
        self.finished = False
        self._step = self._on_step = self._explored = self._searched = self._checked_at = 0
        self._turned_at = None
        self.policy.reset()
        if self.explorer is not None:
            self.explorer.reset()

    @property
    def current_step(self) -> Step | None:
        """The plan's step the agent is driving to (None before the first plan and after the last)."""
        if self.plan is None or self.done_steps >= len(self.plan.steps):
            return None
        return self.plan.steps[self.done_steps]

    def act(self, frame: Frame) -> Action:
        """Integrate ``frame``, (re)plan when due, and return the action towards the current waypoint."""
        if not self.instruction:
            raise RuntimeError("Agent.act before reset(instruction)")
        if frame.agent_pose is None:
            raise ValueError("the frame carries no agent pose; the agent needs it to plan and to drive (Frame.agent_pose)")
        observation = {"position": frame.agent_pose.position, "rotation": frame.agent_pose.rotation}
        step = self._step
        self._step += 1
        t = time.perf_counter()
        features = self.extractor(frame)  # (H, W, C)
        self._log(step, "features", t)
        t = time.perf_counter()
        self.map.integrate(frame, features)
        self._log(step, "map", t)
        if self.finished:
            return Action.STOP
        first = self.config.initial_explore_steps
        if (self.explorer is None or first == 0) and step < self.config.look_around:
            if step == self.config.look_around - 1:
                self._turned_at = np.asarray(frame.agent_pose.position, dtype=np.float64)
            return Action.TURN_LEFT
        if self.explorer is not None and self._explored >= 0:
            t = time.perf_counter()
            action = self.explorer.act(observation, None) if self._explored < first else Action.STOP
            if action != Action.STOP:  # the explorer stops when no frontier is left
                self._explored += 1
                self._log(step, "explore", t, {"action": action.name})
                return action
            self._log(step, "explore", t, {"action": "done", "steps": self._explored})
            self._explored = -1
        position = np.asarray(frame.agent_pose.position, dtype=np.float64)
        if self.plan is None or self._on_step >= self.config.stale_steps:
            self._replan(step, position, "start" if not self.plans else ("stale" if self.plan is not None else "subgoal reached"))
        if self._searching() and (action := self._search(step, observation, position)) is not None:
            return action
        while (target := self.current_step) is not None and target.waypoint is None:
            self.events.append(LoopEvent(step, "skip", 0.0, {"index": target.index, "text": target.text, "why": "no valid waypoint"}))
            self.done_steps += 1
        if target is None:
            self.finished = True
            self.events.append(LoopEvent(step, "done", 0.0, {"steps_done": self.done_steps}))
            return Action.STOP
        self._on_step += 1
        waypoint = np.asarray(target.waypoint, dtype=np.float64)
        distance = float(np.hypot(*(waypoint - position)[[0, 2]]))
        t = time.perf_counter()
        action = Action.STOP if distance <= self.config.waypoint_radius else self.policy.act(observation, waypoint)
        self._log(step, "policy", t, {"action": action.name, "distance": round(distance, 3)})
        if action == Action.STOP and distance > self.config.cut_off_distance and self._cut_off(step, target):
            searching = self._search(step, observation, position)
            if searching is not None:
                return searching
            # None: no frontier was left to explore, the step's waypoint is now here: STOP for it
        if action == Action.STOP:
            self.events.append(LoopEvent(step, "subgoal", 0.0, {"index": target.index, "text": target.text, "distance": round(distance, 3)}))
            self.done_steps += 1
            self._on_step = self._searched = self._checked_at = 0
            self.policy.reset()
            if self.current_step is None:
                self.finished = True
            elif self.config.replan_after_subgoal:
                self.plan = None  # plan again on the next frame, from here, with the grown map
        return action

    def _searching(self) -> bool:
        """Whether the current step has no waypoint because the planner has not found its target in the map yet."""
        target = self.current_step
        return target is not None and target.waypoint is None and target.index in self.plan.unseen

    def _search(self, step: int, observation: dict[str, Any], position: np.ndarray) -> Action | None:
        """The next exploring action for the current step's unseen target (module doc), or None once
        the step has a waypoint: found by a new plan, or ``position`` (3,) world metres on giving up."""
        if self._searched > self._checked_at and self._searched % self.config.search_check_steps == 0 and self._look(step, position):
            return None
        turned_here = self._turned_at is not None and float(np.hypot(*(position - self._turned_at)[[0, 2]])) < TURNED_HERE
        if self.explorer is not None and self._searched < min(self.config.search_turns, self.config.explore_steps) and not turned_here:
            self._searched += 1  # a turn in place first: the target may be beside the agent, out of view
            if self._searched == self.config.search_turns:
                self._turned_at = position.copy()
            self.events.append(LoopEvent(step, "explore", 0.0, {"action": Action.TURN_LEFT.name, "for": self.current_step.text, "turn in place": True}))
            return Action.TURN_LEFT
        if self.explorer is not None and self._searched < self.config.explore_steps:
            t = time.perf_counter()
            action = self.explorer.act(observation, None)
            if action != Action.STOP:  # the explorer stops when no frontier is left
                self._searched += 1
                self._log(step, "explore", t, {"action": action.name, "for": self.current_step.text})
                return action
        if self._searched > self._checked_at and self._look(step, position):  # a last look at the grown map
            return None
        target = self.current_step
        self.plan.steps[self.done_steps] = replace(target, waypoint=position.copy())
        self.events.append(LoopEvent(step, "search", 0.0, {"index": target.index, "text": target.text, "found": False, "explored": self._searched}))
        return None

    def _cut_off(self, step: int, target: Step) -> bool:
        """Set the current step aside to be searched for, its waypoint cut off on the agent's map;
        False when there is nothing to search with (no explorer, or the step's budget is spent)."""
        if self.explorer is None or self._searched >= self.config.explore_steps:
            return False
        self.events.append(LoopEvent(step, "cut off", 0.0, {"index": target.index, "text": target.text, "explored": self._searched}))
        self.plan.steps[self.done_steps] = replace(target, waypoint=None)
        self.plan.unseen = tuple(sorted(set(self.plan.unseen) | {target.index}))
        self._checked_at = self._searched
        self.policy.reset()
        return True

    def _look(self, step: int, position: np.ndarray) -> bool:
        """Plan again while searching; whether the current step's target is now in the map."""
        target = self.current_step
        self._checked_at = self._searched
        self._replan(step, position, "search")
        if self._searching():
            return False
        self.events.append(LoopEvent(step, "search", 0.0, {"index": target.index, "text": target.text, "found": True, "explored": self._searched}))
        return True

    def _replan(self, step: int, position: np.ndarray, reason: str) -> None:
        t = time.perf_counter()
        # a plan made mid-episode lists every step of the instruction again: ``done_steps`` of them are
        # done, the agent follows the rest
        plan = self.planner.plan(self.map, self.instruction, position)
        self.plan = plan
        self.plans.append(plan)
        self._on_step = 0
        self._log(step, "plan", t, {"reason": reason, "text": plan.raw_text, "steps": len(plan.steps), "problems": plan.problems})

    def _log(self, step: int, kind: str, began: float, detail: dict[str, Any] | None = None) -> None:
        self.events.append(LoopEvent(step, kind, time.perf_counter() - began, detail or {}))
