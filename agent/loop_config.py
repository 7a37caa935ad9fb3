"""``LoopConfig``: when the agent explores, plans and counts a step as done (``agent.loop``); no
torch import, so the command line can read the defaults cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LoopConfig:
    """When the agent plans and when a step counts as done.

    - ``look_around``: TURN_LEFT actions before the first plan (12 x 30 degrees = a full turn), when
      the agent has no explorer.
    - ``explore_steps``: with an explorer, at most this many exploring actions before the first plan,
      and at most this many again for each step whose target the planner has not found in the map
      yet (``Plan.unseen``).
    - ``first_explore_steps``: the budget before the first plan alone (None = ``explore_steps``,
      except that ``agent.episode_runner.build_agent`` makes it 0 for ObjectNav episodes and
      ``INSTRUCTION_FIRST_EXPLORE_STEPS`` for instruction episodes); 0 = only
      the ``look_around`` turn, then plan and explore only for targets not yet in the map.
    - ``waypoint_radius``: metres (x/z) from a step's waypoint at which the agent stops for it.
    - ``stale_steps``: actions spent on one step after which the plan is made again.
    - ``replan_after_subgoal``: plan again after each reached step (the map has grown meanwhile).
    - ``search_turns``: the first actions of each search for an unseen target are turns in place (12
      x 30 degrees = a full turn), counted in its ``explore_steps``.
    - ``search_check_steps``: while exploring for an unseen target, plan again every this many
      exploring actions (to stop exploring once the target is in the map).
    - ``cut_off_distance``: metres (x/z) from its waypoint beyond which a STOP of the policy (it can
      get no closer on the agent's map) does not end the step: the agent explores and plans again,
      as for an unseen target, within the same ``explore_steps`` budget.
    """

    look_around: int = 12
    explore_steps: int = 250
    waypoint_radius: float = 0.1
    stale_steps: int = 120
    replan_after_subgoal: bool = True
    search_check_steps: int = 10
    search_turns: int = 12
    first_explore_steps: int | None = None
    cut_off_distance: float = 1.0

    @property
    def initial_explore_steps(self) -> int:
        """Exploring actions allowed before the first plan."""
        return self.explore_steps if self.first_explore_steps is None else self.first_explore_steps

    def __post_init__(self) -> None:
        for name, least in (("look_around", 0), ("explore_steps", 0), ("stale_steps", 1), ("search_check_steps", 1), ("search_turns", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"LoopConfig.{name} must be an integer >= {least}, got {value!r}")
        first = self.first_explore_steps
        if first is not None and (isinstance(first, bool) or not isinstance(first, int) or first < 0):
            raise ValueError(f"LoopConfig.first_explore_steps must be None or an integer >= 0, got {first!r}")
        if not (math.isfinite(self.waypoint_radius) and self.waypoint_radius > 0):
            raise ValueError(f"LoopConfig.waypoint_radius must be positive metres, got {self.waypoint_radius!r}")
        if not self.cut_off_distance >= self.waypoint_radius:
            raise ValueError(f"LoopConfig.cut_off_distance must be metres >= waypoint_radius, got {self.cut_off_distance!r}")
