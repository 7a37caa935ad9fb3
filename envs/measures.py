"""Episode measures after habitat-lab's (``habitat/tasks/nav/nav.py``), as small independent classes.

Each measure is reset once at the episode's start and updated once per step (after the action was
applied) with a :class:`MeasureContext`: the agent's position (feet, world metres, Y up), the
step's action, whether it collided, the ``Navigation`` and the episode. A :class:`Measures`
collection runs them in dependency order and returns one flat dict::

    measures = measures_for_episode(episode)
    info = measures.reset(sim.navigation, episode, sim.agent_pose.position)
    frame, collided = sim.step(action)
    info = measures.update(sim.agent_pose.position, action, collided)
    # {"distance_to_goal": ..., "success": ..., "spl": ..., "soft_spl": ..., "collisions": ...,
    #  "is_collision": ..., "num_steps": ...}  (+ "subgoals_reached", ... for instruction episodes)

Definitions (``docs/measures.md`` states the same with examples):

- ``distance_to_goal``: geodesic (walking) distance in metres from the agent's position to the nearest
  goal target: PointNav -> goal positions; ObjectNav -> every goal's **view points** (habitat's
  ObjectNav config ``distance_to: VIEW_POINTS``); instruction episodes -> the **last** subgoal's
  targets (0 inside a room subgoal's extent). ``inf`` when unreachable.
- ``success``: 1.0 when STOP has been called (this step or earlier; habitat's ``is_stop_called``)
  and ``distance_to_goal < success_distance`` (strict), else 0.0. ``success_distance`` defaults:
  0.2 m PointNav (habitat's ``SuccessMeasurementConfig``), 0.1 m ObjectNav (``objectnav.yaml``).
  Instruction episodes: 1.0 once every subgoal was reached in order.
- ``spl``: ``success * d0 / max(d0, path_length)``; ``d0`` = ``distance_to_goal`` at reset
  (instruction episodes: ``info["geodesic_distance"]``, the in-order route length);
  ``path_length`` = sum of Euclidean distances between consecutive agent positions (3D, metres).
  ``d0 == 0``: the ratio is 1 when ``path_length == 0`` else 0 (the formula's limit; habitat divides
  by zero).
- ``soft_spl``: ``max(0, 1 - distance_to_goal / d0) * d0 / max(d0, path_length)``; ``d0 == 0``:
  the soft success is 1 when ``distance_to_goal == 0`` else 0.
- ``collisions``: number of steps whose action collided; ``is_collision``: this step's flag.
- ``num_steps``: number of updates (actions taken) since reset.
- instruction episodes: ``subgoals_reached`` (in-order count), ``subgoals_total``,
  ``subgoal_fraction``, ``subgoals_visited`` (any order), ``distance_to_subgoal`` -- see
  :class:`SubgoalProgress`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from envs.episodes import AnyEpisode, InstructionEpisode, ObjectNavEpisode, PointNavEpisode, Subgoal
from envs.simulator import Navigation
from envs.types import Action

POINTNAV_SUCCESS_DISTANCE = 0.2
"""habitat-lab's ``SuccessMeasurementConfig.success_distance`` (metres, PointNav)."""
OBJECTNAV_SUCCESS_DISTANCE = 0.1
"""habitat-lab's ``objectnav.yaml`` ``success.success_distance`` (metres, to the view points)."""
SUBGOAL_SUCCESS_DISTANCE = 0.1
"""nav3d's default for instruction subgoals (metres), ObjectNav's since object subgoals use view points."""
_SAME_POSITION_ATOL = 1e-4  # habitat's DistanceToGoal recomputes only when the agent moved more than this


@dataclass
class MeasureContext:
    """What measures see at reset and after each step.

    - ``navigation``: geodesic queries for the scene.
    - ``episode``: the running episode.
    - ``agent_position``: (3,) world metres, the agent's feet.
    - ``action``: the action just applied (None at reset).
    - ``collided``: whether that action collided.
    - ``stop_called``: whether STOP was applied at this step or any earlier one since reset
      (habitat's ``task.is_stop_called``).
    - ``values``: the flat metrics of the measures already updated in this round (dependencies).
    """

    navigation: Navigation
    episode: AnyEpisode
    agent_position: np.ndarray
    action: Action | None = None
    collided: bool = False
    stop_called: bool = False
    values: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Measure(Protocol):
    """One measure: ``reset`` at the episode start, ``update`` once per step, ``metrics()`` its flat
    entries (usually ``{name: value}``). ``depends_on`` names the measures whose metrics it reads
    from ``ctx.values``."""

    name: str
    depends_on: tuple[str, ...]

    def reset(self, ctx: MeasureContext) -> None: ...

    def update(self, ctx: MeasureContext) -> None: ...

    @property
    def value(self) -> float: ...

    def metrics(self) -> dict[str, float]: ...


class _Scalar:
    """Shared plumbing: a float ``value`` reported as ``{name: value}``."""

    name: str = ""
    depends_on: tuple[str, ...] = ()
    _value: float = 0.0

    @property
    def value(self) -> float:
        return self._value

    def metrics(self) -> dict[str, float]:
        return {self.name: self._value}


# --------------------------------------------------------------------------------------------------
# distances


def subgoal_distance(navigation: Navigation, subgoal: Subgoal, position: np.ndarray) -> float:
    """Metres from ``position`` to ``subgoal``: 0 inside a room subgoal's extent (x/z), else the
    geodesic distance to its targets (a room's navigable points, an object's view points);
    ``inf`` when unreachable or when there is no target."""
    if subgoal.kind == "room" and subgoal.contains(position):
        return 0.0
    targets = subgoal.goal_positions
    if len(targets) == 0:
        return math.inf
    return float(navigation.geodesic_distance(np.asarray(position, dtype=np.float64), targets))


def goal_targets(episode: AnyEpisode, distance_to: Literal["auto", "point", "view_points"] = "auto") -> np.ndarray:
    """The (N, 3) world points ``distance_to_goal`` measures to for a PointNav/ObjectNav episode:
    goal positions (``"point"``) or the goals' view points (``"view_points"``; ``"auto"`` picks view
    points for ObjectNav, positions otherwise). Raises ``ValueError`` when there are none."""
    if distance_to not in ("auto", "point", "view_points"):
        raise ValueError(f"distance_to must be 'auto', 'point' or 'view_points', got {distance_to!r}")
    if distance_to == "auto":
        distance_to = "view_points" if isinstance(episode, ObjectNavEpisode) else "point"
    if distance_to == "view_points":
        if not isinstance(episode, ObjectNavEpisode):
            raise ValueError(f"episode {episode.episode_id!r}: distance_to='view_points' needs an ObjectNav episode")
        targets = episode.view_point_positions
        if len(targets) == 0:
            raise ValueError(
                f"episode {episode.episode_id!r}: its object goals have no view points; "
                "ObjectNav's distance_to_goal measures to the view points (or use distance_to='point')"
            )
        return targets
    return np.array([g.position for g in episode.goals], dtype=np.float64).reshape(-1, 3)


class DistanceToGoal(_Scalar):
    """``distance_to_goal``: geodesic distance (metres, ``Navigation.geodesic_distance``) from the
    agent's feet to the nearest target; ``inf`` when none is reachable.

    Targets: PointNav -> the goals' ``position``; ObjectNav -> all goals' view points
    (``distance_to="auto"`` or ``"view_points"``; ``"point"`` uses the object centres, snapped to the
    navigable area); instruction episodes -> the last subgoal (0 inside a room subgoal's extent, see
    :func:`subgoal_distance`). As habitat does, it is recomputed only when the agent moved more than
    1e-4 m.
    """

    name = "distance_to_goal"

    def __init__(self, distance_to: Literal["auto", "point", "view_points"] = "auto") -> None:
        if distance_to not in ("auto", "point", "view_points"):
            raise ValueError(f"distance_to must be 'auto', 'point' or 'view_points', got {distance_to!r}")
        self.distance_to = distance_to
        self._targets: np.ndarray | None = None
        self._last_position: np.ndarray | None = None

    def reset(self, ctx: MeasureContext) -> None:
        self._last_position = None
        self._targets = None if isinstance(ctx.episode, InstructionEpisode) else goal_targets(ctx.episode, self.distance_to)
        self.update(ctx)

    def update(self, ctx: MeasureContext) -> None:
        p = np.asarray(ctx.agent_position, dtype=np.float64)
        if self._last_position is not None and np.allclose(self._last_position, p, atol=_SAME_POSITION_ATOL):
            return
        if isinstance(ctx.episode, InstructionEpisode):
            self._value = subgoal_distance(ctx.navigation, ctx.episode.subgoals[-1], p)
        else:
            self._value = float(ctx.navigation.geodesic_distance(p, self._targets))
        self._last_position = p.copy()


class Success(_Scalar):
    """``success``: 1.0 when STOP has been called (``ctx.stop_called``) and
    ``distance_to_goal < success_distance`` (strict, as habitat), else 0.0.

    ``success_distance`` in metres: 0.2 for PointNav, 0.1 for ObjectNav (habitat-lab's configs).
    """

    name = "success"
    depends_on = ("distance_to_goal",)

    def __init__(self, success_distance: float) -> None:
        if not success_distance > 0:
            raise ValueError(f"success_distance must be positive (metres), got {success_distance}")
        self.success_distance = float(success_distance)

    def reset(self, ctx: MeasureContext) -> None:
        self.update(ctx)

    def update(self, ctx: MeasureContext) -> None:
        d = ctx.values["distance_to_goal"]
        self._value = 1.0 if ctx.stop_called and d < self.success_distance else 0.0


def path_efficiency(optimal: float, path_length: float) -> float:
    """``optimal / max(optimal, path_length)``, with ``0 / 0 := 1`` (start on the goal, never moved)."""
    if optimal <= 0.0:
        return 1.0 if path_length <= 0.0 else 0.0
    return optimal / max(optimal, path_length)


class _PathLength:
    """The agent's travelled distance: sum of Euclidean (3D) steps between consecutive positions."""

    def __init__(self) -> None:
        self.length = 0.0
        self._previous: np.ndarray | None = None

    def reset(self, position: np.ndarray) -> None:
        self.length = 0.0
        self._previous = np.asarray(position, dtype=np.float64).copy()

    def add(self, position: np.ndarray) -> None:
        p = np.asarray(position, dtype=np.float64)
        self.length += float(np.linalg.norm(p - self._previous))
        self._previous = p.copy()


def _optimal_distance(ctx: MeasureContext, source: str, who: str) -> float:
    if source == "episode_info":
        d0 = ctx.episode.geodesic_distance
        if d0 is None:
            raise ValueError(f"episode {ctx.episode.episode_id!r}: {who} needs info['geodesic_distance'] (metres)")
    else:
        d0 = ctx.values["distance_to_goal"]
    if not math.isfinite(d0) or d0 < 0:
        raise ValueError(
            f"episode {ctx.episode.episode_id!r}: the goal is unreachable from the start "
            f"(optimal distance {d0}); {who} is undefined -- check it with envs.episode_generator.validate_episode"
        )
    return float(d0)


class SPL(_Scalar):
    """``spl`` (Anderson et al. 2018, habitat's ``SPL``): ``success * d0 / max(d0, path_length)``.

    - ``d0``: ``distance_to_goal`` at reset (``optimal="reset_distance"``, habitat's), or the episode's
      ``info["geodesic_distance"]`` (``optimal="episode_info"``, used for instruction episodes, where
      it is the length of the in-order route through all subgoals).
    - ``path_length``: sum of Euclidean distances (3D, metres) between the agent's consecutive
      positions, from the reset position on.
    - ``d0 == 0``: the ratio is 1 when the agent never moved, else 0.
    Raises ``ValueError`` at reset when ``d0`` is infinite (goal unreachable).
    """

    name = "spl"
    depends_on = ("distance_to_goal", "success")

    def __init__(self, optimal: Literal["reset_distance", "episode_info"] = "reset_distance") -> None:
        if optimal not in ("reset_distance", "episode_info"):
            raise ValueError(f"optimal must be 'reset_distance' or 'episode_info', got {optimal!r}")
        self.optimal = optimal
        self.d0 = 0.0
        self._path = _PathLength()

    @property
    def path_length(self) -> float:
        """Metres travelled since reset."""
        return self._path.length

    def reset(self, ctx: MeasureContext) -> None:
        self.d0 = _optimal_distance(ctx, self.optimal, "SPL")
        self._path.reset(ctx.agent_position)
        self._value = ctx.values["success"] * path_efficiency(self.d0, 0.0)

    def update(self, ctx: MeasureContext) -> None:
        self._path.add(ctx.agent_position)
        self._value = ctx.values["success"] * path_efficiency(self.d0, self._path.length)


class SoftSPL(_Scalar):
    """``soft_spl`` (habitat's ``SoftSPL``): ``max(0, 1 - distance_to_goal / d0) * d0 / max(d0, path_length)``.

    ``d0`` = ``distance_to_goal`` at reset; ``path_length`` as for :class:`SPL`. It does not need
    STOP. ``d0 == 0``: soft success is 1 when ``distance_to_goal == 0`` else 0, and the path ratio
    is as for SPL. Raises ``ValueError`` at reset when ``d0`` is infinite.
    """

    name = "soft_spl"
    depends_on = ("distance_to_goal",)

    def __init__(self) -> None:
        self.d0 = 0.0
        self._path = _PathLength()

    def reset(self, ctx: MeasureContext) -> None:
        self.d0 = _optimal_distance(ctx, "reset_distance", "SoftSPL")
        self._path.reset(ctx.agent_position)
        self._value = self._soft(ctx) * path_efficiency(self.d0, 0.0)

    def update(self, ctx: MeasureContext) -> None:
        self._path.add(ctx.agent_position)
        self._value = self._soft(ctx) * path_efficiency(self.d0, self._path.length)

    def _soft(self, ctx: MeasureContext) -> float:
        d = ctx.values["distance_to_goal"]
        if self.d0 <= 0.0:
            return 1.0 if d <= 0.0 else 0.0
        return max(0.0, 1.0 - d / self.d0)


class Collisions(_Scalar):
    """``collisions``: how many steps collided since reset; ``is_collision``: whether this step did
    (habitat's ``{"count", "is_collision"}``, flattened)."""

    name = "collisions"

    def __init__(self) -> None:
        self.is_collision = False

    def reset(self, ctx: MeasureContext) -> None:
        self._value = 0.0
        self.is_collision = False

    def update(self, ctx: MeasureContext) -> None:
        self.is_collision = bool(ctx.collided)
        self._value += 1.0 if self.is_collision else 0.0

    def metrics(self) -> dict[str, float]:
        return {"collisions": self._value, "is_collision": float(self.is_collision)}


class NumSteps(_Scalar):
    """``num_steps``: number of actions (updates) since reset, STOP included."""

    name = "num_steps"

    def reset(self, ctx: MeasureContext) -> None:
        self._value = 0.0

    def update(self, ctx: MeasureContext) -> None:
        self._value += 1.0


class SubgoalProgress(_Scalar):
    """Progress through an instruction episode's ordered subgoals.

    A subgoal is *satisfied* at a position when :func:`subgoal_distance` is ``< success_distance``
    (metres, strict): for a room, the agent stands inside the room's extent (x/z; distance 0) or within
    ``success_distance`` of one of its navigable points; for an object, within ``success_distance`` of
    one of the matching instances' view points (as ObjectNav).

    Each step whose action is STOP checks the *current* subgoal (the first not yet reached): if it is
    satisfied it is reached and the next one becomes current. One STOP reaches at most one subgoal;
    a STOP elsewhere reaches nothing (the episode goes on; ending it is the environment's choice).

    Metrics: ``subgoals_reached`` (subgoals reached in order), ``subgoals_total``,
    ``subgoal_fraction`` (= reached / total), ``subgoals_visited`` (distinct subgoals satisfied at
    some STOP, in any order), ``distance_to_subgoal`` (to the current subgoal; 0 once all are
    reached). ``value`` is ``subgoal_fraction``; the episode succeeds when it is 1.
    """

    name = "subgoal_progress"

    def __init__(self, success_distance: float = SUBGOAL_SUCCESS_DISTANCE) -> None:
        if not success_distance > 0:
            raise ValueError(f"success_distance must be positive (metres), got {success_distance}")
        self.success_distance = float(success_distance)
        self.reached = 0
        self.total = 0
        self.visited: set[int] = set()
        self.distance = math.inf

    @property
    def done(self) -> bool:
        """Whether every subgoal was reached in order."""
        return self.total > 0 and self.reached == self.total

    def reset(self, ctx: MeasureContext) -> None:
        if not isinstance(ctx.episode, InstructionEpisode):
            raise ValueError(f"SubgoalProgress needs an InstructionEpisode, got {type(ctx.episode).__name__}")
        self.total = len(ctx.episode.subgoals)
        self.reached = 0
        self.visited = set()
        self._refresh(ctx)

    def update(self, ctx: MeasureContext) -> None:
        episode: InstructionEpisode = ctx.episode  # type: ignore[assignment]
        if ctx.action == Action.STOP:
            satisfied = {
                i
                for i, sg in enumerate(episode.subgoals)
                if subgoal_distance(ctx.navigation, sg, ctx.agent_position) < self.success_distance
            }
            self.visited |= satisfied
            if not self.done and self.reached in satisfied:
                self.reached += 1
        self._refresh(ctx)

    def _refresh(self, ctx: MeasureContext) -> None:
        episode: InstructionEpisode = ctx.episode  # type: ignore[assignment]
        if self.done:
            self.distance = 0.0
        else:
            self.distance = subgoal_distance(ctx.navigation, episode.subgoals[self.reached], ctx.agent_position)
        self._value = self.reached / self.total if self.total else 0.0

    def metrics(self) -> dict[str, float]:
        return {
            "subgoals_reached": float(self.reached),
            "subgoals_total": float(self.total),
            "subgoal_fraction": self._value,
            "subgoals_visited": float(len(self.visited)),
            "distance_to_subgoal": self.distance,
        }


class InstructionSuccess(_Scalar):
    """``success`` for instruction episodes: 1.0 once every subgoal was reached in order
    (:class:`SubgoalProgress`), else 0.0."""

    name = "success"
    depends_on = ("subgoal_progress",)

    def reset(self, ctx: MeasureContext) -> None:
        self.update(ctx)

    def update(self, ctx: MeasureContext) -> None:
        self._value = 1.0 if ctx.values["subgoal_fraction"] >= 1.0 else 0.0


# --------------------------------------------------------------------------------------------------
# the collection


def _dependency_order(measures: Sequence[Measure]) -> list[Measure]:
    by_name: dict[str, Measure] = {}
    for m in measures:
        if m.name in by_name:
            raise ValueError(f"two measures are named {m.name!r}")
        by_name[m.name] = m
    for m in measures:
        missing = [d for d in m.depends_on if d not in by_name]
        if missing:
            raise ValueError(f"measure {m.name!r} needs {missing}; add them (have: {sorted(by_name)})")
    ordered: list[Measure] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(m: Measure, chain: tuple[str, ...]) -> None:
        if state.get(m.name) == 2:
            return
        if state.get(m.name) == 1:
            raise ValueError(f"measures depend on each other in a cycle: {' -> '.join(chain + (m.name,))}")
        state[m.name] = 1
        for d in m.depends_on:
            visit(by_name[d], chain + (m.name,))
        state[m.name] = 2
        ordered.append(m)

    for m in measures:
        visit(m, ())
    return ordered


class Measures:
    """Measures run in dependency order; ``reset``/``update`` return the flat metrics dict."""

    def __init__(self, measures: Sequence[Measure]) -> None:
        self.measures = _dependency_order(list(measures))
        self._ctx: MeasureContext | None = None

    def __getitem__(self, name: str) -> Measure:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(f"no measure {name!r}; have {[m.name for m in self.measures]}")

    def __contains__(self, name: str) -> bool:
        return any(m.name == name for m in self.measures)

    def reset(self, navigation: Navigation, episode: AnyEpisode, agent_position: np.ndarray) -> dict[str, float]:
        """Start an episode with the agent at ``agent_position`` ((3,) metres, feet)."""
        self._ctx = MeasureContext(navigation, episode, np.asarray(agent_position, dtype=np.float64).copy())
        for m in self.measures:
            m.reset(self._ctx)
            self._ctx.values.update(m.metrics())
        return dict(self._ctx.values)

    def update(self, agent_position: np.ndarray, action: Action | int | str, collided: bool = False) -> dict[str, float]:
        """Account one step: ``action`` was applied and the agent now stands at ``agent_position``."""
        if self._ctx is None:
            raise RuntimeError("Measures.update called before reset")
        ctx = self._ctx
        ctx.agent_position = np.asarray(agent_position, dtype=np.float64).copy()
        ctx.action = Action.parse(action)
        ctx.collided = bool(collided)
        ctx.stop_called = ctx.stop_called or ctx.action == Action.STOP
        ctx.values = {}
        for m in self.measures:
            m.update(ctx)
            ctx.values.update(m.metrics())
        return dict(ctx.values)

    def metrics(self) -> dict[str, float]:
        """The latest flat metrics."""
        return {} if self._ctx is None else dict(self._ctx.values)


def measures_for_episode(episode: AnyEpisode, success_distance: float | None = None) -> Measures:
    """habitat-lab's default measures for the episode's task.

    - PointNav: distance_to_goal (to goal positions), success (0.2 m), spl, soft_spl, collisions, num_steps.
    - ObjectNav: distance_to_goal (to view points), success (0.1 m), spl, soft_spl, collisions, num_steps.
    - Instruction: distance_to_goal (last subgoal), subgoal_progress (0.1 m), success (all subgoals
      in order), spl (d0 = info["geodesic_distance"]), collisions, num_steps.
    ``success_distance`` (metres) overrides the task's default.
    """
    common: list[Measure] = [Collisions(), NumSteps()]
    if isinstance(episode, PointNavEpisode):
        d = POINTNAV_SUCCESS_DISTANCE if success_distance is None else success_distance
        return Measures([DistanceToGoal("point"), Success(d), SPL(), SoftSPL(), *common])
    if isinstance(episode, ObjectNavEpisode):
        d = OBJECTNAV_SUCCESS_DISTANCE if success_distance is None else success_distance
        return Measures([DistanceToGoal("view_points"), Success(d), SPL(), SoftSPL(), *common])
    if isinstance(episode, InstructionEpisode):
        d = SUBGOAL_SUCCESS_DISTANCE if success_distance is None else success_distance
        return Measures([DistanceToGoal(), SubgoalProgress(d), InstructionSuccess(), SPL("episode_info"), *common])
    raise TypeError(f"expected a PointNavEpisode, ObjectNavEpisode or InstructionEpisode, got {type(episode).__name__}")
