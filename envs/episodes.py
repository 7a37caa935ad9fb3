"""Episode types in habitat-lab's dataset format: PointNav, ObjectNav and ordered-instruction episodes.

Positions are world-frame metres (Y up) as ``(x, y, z)`` tuples at floor height (the agent's feet);
rotations are unit quaternions ``(x, y, z, w)`` (habitat's episode JSON order). Tuples keep the types
immutable and comparable; ``np.asarray(episode.start_position)`` gives an array.

The JSON keys are habitat-lab's (``habitat/core/dataset.py``, ``habitat/tasks/nav/nav.py``,
``habitat/tasks/nav/object_nav_task.py``, ``habitat/tasks/vln/vln.py``):

- every episode: ``episode_id``, ``scene_id``, ``start_position``, ``start_rotation``, ``info``
  (``{"geodesic_distance": metres}``), ``goals``, and habitat's optional ``start_room``,
  ``shortest_paths``, ``scene_dataset_config``, ``additional_obj_config_paths`` (kept as given);
- PointNav goals: ``{"position", "radius"}`` (``NavigationGoal``);
- ObjectNav: ``object_category`` and goals ``{"position", "radius", "object_id", "object_category",
  "object_name", "room_id", "room_name", "view_points": [{"agent_state": {"position", "rotation"},
  "iou"}]}`` (``ObjectGoal`` / ``ObjectViewLocation``);
- instruction episodes follow habitat's VLN episode (``instruction: {"instruction_text",
  "instruction_tokens"}``, ``reference_path``, ``trajectory_id``, ``goals`` = the last subgoal's goal
  positions) and add ``subgoals`` (nav3d's own key; habitat's ``VLNEpisode`` does not know it).

``episode_to_dict`` / ``episode_from_dict`` convert one episode; ``envs.dataset`` reads and writes
whole files and turns :class:`FieldError` into a ``DatasetError`` naming the file and episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

import numpy as np

from envs.types import Pose

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

TASK_POINTNAV = "pointnav"
TASK_OBJECTNAV = "objectnav"
TASK_INSTRUCTION = "instruction"
TASKS = (TASK_POINTNAV, TASK_OBJECTNAV, TASK_INSTRUCTION)

SUBGOAL_KINDS = ("room", "object")


class FieldError(ValueError):
    """A field of an episode's JSON is missing or has the wrong type/shape.

    ``field`` is a dotted path inside the episode (``"goals[0].view_points[2].agent_state.rotation"``),
    ``expected`` says what the field should hold.
    """

    def __init__(self, field: str, expected: str, got: Any = None, missing: bool = False) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        self.missing = missing
        if missing:
            message = f"field {field!r} is missing; expected {expected}"
        else:
            message = f"field {field!r} is invalid: expected {expected}, got {_short_repr(got)}"
        super().__init__(message)

    def with_prefix(self, prefix: str) -> "FieldError":
        """The same error for the field ``prefix + field`` (e.g. inside ``goals[0].``)."""
        return FieldError(prefix + self.field, self.expected, self.got, self.missing)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# coercion helpers (used by the dataclasses' __post_init__ and by the JSON reader)


def _numbers(value: Any, n: int, name: str, what: str) -> tuple[float, ...]:
    """``value`` as a tuple of ``n`` finite floats, else a FieldError naming ``name``."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise FieldError(name, what, value)
    try:
        items = list(np.asarray(value, dtype=object).reshape(-1)) if isinstance(value, np.ndarray) else list(value)
    except TypeError:
        raise FieldError(name, what, value) from None
    if len(items) != n:
        raise FieldError(name, what, value)
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, np.integer, np.floating)):
            raise FieldError(name, what, value)
        f = float(item)
        if not math.isfinite(f):
            raise FieldError(name, what, value)
        out.append(f)
    return tuple(out)


def as_vec3(value: Any, name: str = "position") -> Vec3:
    """``value`` as an ``(x, y, z)`` tuple of finite floats (metres); raises :class:`FieldError`."""
    return _numbers(value, 3, name, "a list of 3 finite numbers [x, y, z] (metres)")  # type: ignore[return-value]


def as_quat(value: Any, name: str = "rotation") -> Quat:
    """``value`` as a unit quaternion ``(x, y, z, w)``; raises :class:`FieldError` when it is not 4
    finite numbers or has (near) zero norm. The quaternion is normalised."""
    what = "a list of 4 finite numbers [x, y, z, w] (a unit quaternion)"
    q = _numbers(value, 4, name, what)
    norm = math.sqrt(sum(c * c for c in q))
    if norm < 1e-6:
        raise FieldError(name, what + " with non-zero norm", value)
    if abs(norm - 1.0) > 1e-6:
        q = tuple(c / norm for c in q)
    return q  # type: ignore[return-value]


def _opt_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FieldError(name, "a number or null", value)
    return float(value)


def _opt_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(name, "a string or null", value)
    return value


# --------------------------------------------------------------------------------------------------
# goals


@dataclass(frozen=True)
class NavigationGoal:
    """habitat's ``NavigationGoal``: a goal ``position`` (x, y, z metres, floor height) and an optional
    ``radius`` (metres; habitat's PointNav generator stores the success distance there)."""

    position: Vec3
    radius: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", as_vec3(self.position, "position"))
        object.__setattr__(self, "radius", _opt_float(self.radius, "radius"))

    def to_dict(self) -> dict:
        return {"position": list(self.position), "radius": self.radius}


@dataclass(frozen=True)
class AgentState:
    """habitat's ``AgentState``: an agent body ``position`` (feet, metres) and ``rotation`` [x, y, z, w]."""

    position: Vec3
    rotation: Quat = (0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", as_vec3(self.position, "position"))
        object.__setattr__(self, "rotation", as_quat(self.rotation, "rotation"))

    @property
    def pose(self) -> Pose:
        return Pose(np.asarray(self.position), np.asarray(self.rotation))

    def to_dict(self) -> dict:
        return {"position": list(self.position), "rotation": list(self.rotation)}


@dataclass(frozen=True)
class ObjectViewLocation:
    """habitat's ``ObjectViewLocation``: a navigable agent state from which the object is visible, and
    ``iou`` (intersection over union of the object's pixels and the image's centre rectangle, see
    ``envs.episode_generator``; None when unknown)."""

    agent_state: AgentState
    iou: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.agent_state, AgentState):
            raise FieldError("agent_state", "an AgentState", self.agent_state)
        object.__setattr__(self, "iou", _opt_float(self.iou, "iou"))

    def to_dict(self) -> dict:
        return {"agent_state": self.agent_state.to_dict(), "iou": self.iou}


@dataclass(frozen=True, kw_only=True)
class ObjectGoal(NavigationGoal):
    """habitat's ``ObjectGoal``: one object instance to navigate to.

    ``position`` is the object's centre (metres), ``object_id`` its instance id (an int in nav3d
    scenes; habitat datasets may hold strings), ``view_points`` the navigable agent states within
    reach from which it is visible (ObjectNav measures use these, not ``position``).
    """

    object_id: int | str
    object_category: str
    view_points: tuple[ObjectViewLocation, ...] = ()
    object_name: str | None = None
    room_id: str | None = None
    room_name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.object_id, bool) or not isinstance(self.object_id, (int, str, np.integer)):
            raise FieldError("object_id", "an integer or a string", self.object_id)
        if isinstance(self.object_id, np.integer):
            object.__setattr__(self, "object_id", int(self.object_id))
        if not isinstance(self.object_category, str) or not self.object_category:
            raise FieldError("object_category", "a non-empty string", self.object_category)
        vps = tuple(self.view_points)
        for i, vp in enumerate(vps):
            if not isinstance(vp, ObjectViewLocation):
                raise FieldError(f"view_points[{i}]", "an ObjectViewLocation", vp)
        object.__setattr__(self, "view_points", vps)
        for key in ("object_name", "room_id", "room_name"):
            object.__setattr__(self, key, _opt_str(getattr(self, key), key))

    @property
    def view_point_positions(self) -> np.ndarray:
        """The view points' positions, (N, 3) metres."""
        return np.array([vp.agent_state.position for vp in self.view_points], dtype=np.float64).reshape(-1, 3)

    def to_dict(self) -> dict:
        return {
            "position": list(self.position),
            "radius": self.radius,
            "object_id": self.object_id,
            "object_name": self.object_name,
            "object_category": self.object_category,
            "room_id": self.room_id,
            "room_name": self.room_name,
            "view_points": [vp.to_dict() for vp in self.view_points],
        }


Goal = Union[NavigationGoal, ObjectGoal]


@dataclass(frozen=True, kw_only=True)
class Subgoal:
    """One step of an instruction: go to a room, or find an object.

    - ``kind``: ``"room"`` or ``"object"``.
    - ``target``: the room name (``"kitchen"``) or the object category (``"mug"``).
    - ``color``: the colour the instruction names (``"red"``), or None.
    - ``goals``: for a room, ``NavigationGoal``s at navigable points inside the room (a grid, used for
      the geodesic distance from outside); for an object, one ``ObjectGoal`` (with view points) per
      instance that matches ``target`` (and ``color`` when given).
    - ``extents``: for a room, its axis-aligned boxes ``(bbox_min, bbox_max)`` (metres; several when
      the house has several rooms of that name); empty for objects.

    ``envs.measures.SubgoalProgress`` documents when a subgoal counts as reached.
    """

    kind: Literal["room", "object"]
    target: str
    color: str | None = None
    goals: tuple[Goal, ...] = ()
    extents: tuple[tuple[Vec3, Vec3], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SUBGOAL_KINDS:
            raise FieldError("kind", f"one of {list(SUBGOAL_KINDS)}", self.kind)
        if not isinstance(self.target, str) or not self.target:
            raise FieldError("target", "a non-empty string", self.target)
        object.__setattr__(self, "color", _opt_str(self.color, "color"))
        goals = tuple(self.goals)
        if not goals:
            raise FieldError("goals", "a non-empty list of goals", list(goals))
        for i, g in enumerate(goals):
            if self.kind == "object" and not isinstance(g, ObjectGoal):
                raise FieldError(f"goals[{i}]", "an ObjectGoal (object_id, object_category, view_points)", g)
            if not isinstance(g, NavigationGoal):
                raise FieldError(f"goals[{i}]", "a NavigationGoal (position, radius)", g)
        object.__setattr__(self, "goals", goals)
        extents = tuple((as_vec3(lo, f"extents[{i}][0]"), as_vec3(hi, f"extents[{i}][1]")) for i, (lo, hi) in enumerate(self.extents))
        if self.kind == "room" and not extents:
            raise FieldError("extents", "a non-empty list of [bbox_min, bbox_max] room boxes", [])
        object.__setattr__(self, "extents", extents)

    @property
    def goal_positions(self) -> np.ndarray:
        """The positions the subgoal's distance is measured to, (N, 3) metres: the room's navigable
        points, or the object goals' view points."""
        if self.kind == "object":
            parts = [g.view_point_positions for g in self.goals]  # type: ignore[union-attr]
            return np.concatenate(parts, axis=0) if parts else np.zeros((0, 3))
        return np.array([g.position for g in self.goals], dtype=np.float64).reshape(-1, 3)

    def contains(self, point: np.ndarray) -> bool:
        """Whether ``point`` lies inside one of the room's extents in x and z (any height); always
        False for object subgoals."""
        p = np.asarray(point, dtype=np.float64).reshape(3)
        for lo, hi in self.extents:
            if lo[0] <= p[0] <= hi[0] and lo[2] <= p[2] <= hi[2]:
                return True
        return False

    def describe(self) -> str:
        """``"the red mug"`` / ``"the kitchen"``."""
        return f"the {self.color + ' ' if self.color else ''}{self.target}"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "target": self.target,
            "color": self.color,
            "goals": [g.to_dict() for g in self.goals],
            "extents": [[list(lo), list(hi)] for lo, hi in self.extents],
        }


# --------------------------------------------------------------------------------------------------
# episodes


@dataclass(frozen=True, kw_only=True)
class Episode:
    """Fields every episode shares (habitat's ``Episode``/``NavigationEpisode``).

    ``start_position`` (x, y, z) metres at floor height, ``start_rotation`` (x, y, z, w);
    ``info`` holds at least ``{"geodesic_distance": metres}`` for generated episodes. The optional
    habitat fields (``start_room``, ``shortest_paths``, ``scene_dataset_config``,
    ``additional_obj_config_paths``) are kept as read and written back unchanged.
    """

    task: ClassVar[str] = ""
    """``"pointnav"``, ``"objectnav"`` or ``"instruction"`` (set by each subclass)."""

    episode_id: str
    scene_id: str
    start_position: Vec3
    start_rotation: Quat
    info: dict = field(default_factory=dict)
    start_room: str | None = None
    shortest_paths: list | None = None
    scene_dataset_config: str | None = None
    additional_obj_config_paths: list | None = None

    def __post_init__(self) -> None:
        if isinstance(self.episode_id, bool) or not isinstance(self.episode_id, (str, int, np.integer)):
            raise FieldError("episode_id", "a string (or an integer)", self.episode_id)
        object.__setattr__(self, "episode_id", str(self.episode_id))
        if not isinstance(self.scene_id, str) or not self.scene_id:
            raise FieldError("scene_id", "a non-empty string", self.scene_id)
        object.__setattr__(self, "start_position", as_vec3(self.start_position, "start_position"))
        object.__setattr__(self, "start_rotation", as_quat(self.start_rotation, "start_rotation"))
        if self.info is None:
            object.__setattr__(self, "info", {})
        if not isinstance(self.info, dict):
            raise FieldError("info", "an object (dict) or null", self.info)
        gd = self.info.get("geodesic_distance")
        if gd is not None and (isinstance(gd, bool) or not isinstance(gd, (int, float, np.integer, np.floating))):
            raise FieldError("info.geodesic_distance", "a number (metres)", gd)
        object.__setattr__(self, "start_room", _opt_str(self.start_room, "start_room"))
        object.__setattr__(self, "scene_dataset_config", _opt_str(self.scene_dataset_config, "scene_dataset_config"))
        if self.shortest_paths is not None and not isinstance(self.shortest_paths, list):
            raise FieldError("shortest_paths", "a list of paths or null", self.shortest_paths)
        if self.additional_obj_config_paths is not None and not isinstance(self.additional_obj_config_paths, list):
            raise FieldError("additional_obj_config_paths", "a list of strings or null", self.additional_obj_config_paths)

    @property
    def start_pose(self) -> Pose:
        """The agent's start pose (world-from-body, feet)."""
        return Pose(np.asarray(self.start_position), np.asarray(self.start_rotation))

    @property
    def geodesic_distance(self) -> float | None:
        """``info["geodesic_distance"]`` (metres) or None."""
        gd = self.info.get("geodesic_distance")
        return None if gd is None else float(gd)

    def _base_dict(self) -> dict:
        d: dict[str, Any] = {
            "episode_id": self.episode_id,
            "scene_id": self.scene_id,
            "start_position": list(self.start_position),
            "start_rotation": list(self.start_rotation),
            "info": dict(self.info),
        }
        for key in ("start_room", "shortest_paths", "scene_dataset_config", "additional_obj_config_paths"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d


@dataclass(frozen=True, kw_only=True)
class PointNavEpisode(Episode):
    """PointGoal navigation (habitat's ``NavigationEpisode``): reach one of ``goals``' positions."""

    task: ClassVar[str] = TASK_POINTNAV
    goals: tuple[NavigationGoal, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        goals = tuple(self.goals)
        if not goals:
            raise FieldError("goals", "a non-empty list of goals", [])
        for i, g in enumerate(goals):
            if not isinstance(g, NavigationGoal):
                raise FieldError(f"goals[{i}]", "a NavigationGoal (position, radius)", g)
        object.__setattr__(self, "goals", goals)

    def to_dict(self) -> dict:
        d = self._base_dict()
        d["goals"] = [g.to_dict() for g in self.goals]
        return d


@dataclass(frozen=True, kw_only=True)
class ObjectNavEpisode(Episode):
    """ObjectGoal navigation (habitat's ``ObjectGoalNavEpisode``): find any instance of
    ``object_category``; ``goals`` holds every instance of it in the scene, each with view points."""

    task: ClassVar[str] = TASK_OBJECTNAV
    object_category: str
    goals: tuple[ObjectGoal, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.object_category, str) or not self.object_category:
            raise FieldError("object_category", "a non-empty string", self.object_category)
        goals = tuple(self.goals)
        if not goals:
            raise FieldError("goals", "a non-empty list of object goals", [])
        for i, g in enumerate(goals):
            if not isinstance(g, ObjectGoal):
                raise FieldError(f"goals[{i}]", "an ObjectGoal", g)
            if g.object_category != self.object_category:
                raise FieldError(f"goals[{i}].object_category", f"{self.object_category!r} (the episode's category)", g.object_category)
        object.__setattr__(self, "goals", goals)

    @property
    def goals_key(self) -> str:
        """habitat's key into ``goals_by_category``: ``"{basename(scene_id)}_{object_category}"``."""
        return f"{self.scene_id.replace(chr(92), '/').rsplit('/', 1)[-1]}_{self.object_category}"

    @property
    def view_point_positions(self) -> np.ndarray:
        """All goals' view point positions, (N, 3) metres."""
        parts = [g.view_point_positions for g in self.goals]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, 3))

    def to_dict(self, include_goals: bool = True) -> dict:
        d = self._base_dict()
        d["object_category"] = self.object_category
        d["goals"] = [g.to_dict() for g in self.goals] if include_goals else []
        return d


@dataclass(frozen=True, kw_only=True)
class InstructionEpisode(Episode):
    """Follow a natural-language ``instruction`` through ordered ``subgoals`` (rooms and objects).

    ``info["geodesic_distance"]`` is the length of the shortest route that visits the subgoals in
    order (metres), SPL's optimal length for these episodes. ``reference_path`` is that route's
    waypoints (habitat VLN's key), ``trajectory_id`` habitat VLN's id (None when unused).
    """

    task: ClassVar[str] = TASK_INSTRUCTION
    instruction: str
    subgoals: tuple[Subgoal, ...]
    instruction_tokens: list | None = None
    reference_path: tuple[Vec3, ...] = ()
    trajectory_id: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise FieldError("instruction.instruction_text", "a non-empty string", self.instruction)
        subgoals = tuple(self.subgoals)
        if not subgoals:
            raise FieldError("subgoals", "a non-empty list of subgoals", [])
        for i, s in enumerate(subgoals):
            if not isinstance(s, Subgoal):
                raise FieldError(f"subgoals[{i}]", "a Subgoal", s)
        object.__setattr__(self, "subgoals", subgoals)
        object.__setattr__(self, "reference_path", tuple(as_vec3(p, f"reference_path[{i}]") for i, p in enumerate(self.reference_path)))
        if self.trajectory_id is not None and (isinstance(self.trajectory_id, bool) or not isinstance(self.trajectory_id, (int, np.integer))):
            raise FieldError("trajectory_id", "an integer or null", self.trajectory_id)

    @property
    def goals(self) -> tuple[Goal, ...]:
        """The last subgoal's goals (habitat VLN's ``goals``: where the route ends)."""
        return self.subgoals[-1].goals

    def to_dict(self) -> dict:
        d = self._base_dict()
        d["instruction"] = {"instruction_text": self.instruction, "instruction_tokens": self.instruction_tokens}
        d["goals"] = [NavigationGoal(g.position, g.radius).to_dict() for g in self.goals]
        d["reference_path"] = [list(p) for p in self.reference_path]
        d["trajectory_id"] = self.trajectory_id
        d["subgoals"] = [s.to_dict() for s in self.subgoals]
        return d


AnyEpisode = Union[PointNavEpisode, ObjectNavEpisode, InstructionEpisode]


# --------------------------------------------------------------------------------------------------
# JSON dict -> episode (strict; errors name the field path)


def _require(d: dict, key: str, prefix: str, expected: str) -> Any:
    if key not in d:
        raise FieldError(prefix + key, expected, missing=True)
    return d[key]


def _as_dict(value: Any, name: str, expected: str = "an object (dict)") -> dict:
    if not isinstance(value, dict):
        raise FieldError(name, expected, value)
    return value


def _as_list(value: Any, name: str, expected: str = "a list") -> list:
    if not isinstance(value, list):
        raise FieldError(name, expected, value)
    return value


def _check_keys(d: dict, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise FieldError(prefix + unknown[0], f"no such field (known fields: {', '.join(sorted(allowed))})", d[unknown[0]])


def _build(cls: type, prefix: str, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise e.with_prefix(prefix) from None


_NAV_GOAL_KEYS = {"position", "radius"}
_OBJECT_GOAL_KEYS = _NAV_GOAL_KEYS | {"object_id", "object_name", "object_name_id", "object_category", "room_id", "room_name", "view_points"}


def navigation_goal_from_dict(d: Any, prefix: str = "") -> NavigationGoal:
    """A ``NavigationGoal`` from habitat's ``{"position", "radius"}`` (strict)."""
    d = _as_dict(d, prefix.rstrip(".") or "goal", "a goal object {position, radius}")
    _check_keys(d, _NAV_GOAL_KEYS, prefix)
    position = as_vec3(_require(d, "position", prefix, "a list of 3 numbers [x, y, z]"), prefix + "position")
    return _build(NavigationGoal, prefix, position=position, radius=d.get("radius"))


def object_goal_from_dict(d: Any, prefix: str = "") -> ObjectGoal:
    """An ``ObjectGoal`` from habitat's JSON (strict; ``object_name_id`` is accepted and dropped)."""
    d = _as_dict(d, prefix.rstrip(".") or "goal", "an object goal {position, object_id, object_category, view_points, ...}")
    _check_keys(d, _OBJECT_GOAL_KEYS, prefix)
    position = as_vec3(_require(d, "position", prefix, "a list of 3 numbers [x, y, z]"), prefix + "position")
    object_id = _require(d, "object_id", prefix, "an integer or a string")
    category = _require(d, "object_category", prefix, "a non-empty string")
    vps_raw = d.get("view_points")
    vps_raw = [] if vps_raw is None else _as_list(vps_raw, prefix + "view_points", "a list of view points")
    view_points = []
    for i, vp in enumerate(vps_raw):
        p = f"{prefix}view_points[{i}]."
        vp = _as_dict(vp, p.rstrip("."), "a view point {agent_state: {position, rotation}, iou}")
        _check_keys(vp, {"agent_state", "iou"}, p)
        st = _as_dict(_require(vp, "agent_state", p, "an object {position, rotation}"), p + "agent_state", "an object {position, rotation}")
        _check_keys(st, {"position", "rotation"}, p + "agent_state.")
        pos = as_vec3(_require(st, "position", p + "agent_state.", "a list of 3 numbers [x, y, z]"), p + "agent_state.position")
        rot_raw = st.get("rotation")
        rot = (0.0, 0.0, 0.0, 1.0) if rot_raw is None else as_quat(rot_raw, p + "agent_state.rotation")
        view_points.append(_build(ObjectViewLocation, p, agent_state=AgentState(pos, rot), iou=vp.get("iou")))
    return _build(
        ObjectGoal,
        prefix,
        position=position,
        radius=d.get("radius"),
        object_id=object_id,
        object_category=category,
        view_points=tuple(view_points),
        object_name=d.get("object_name"),
        room_id=None if d.get("room_id") is None else str(d.get("room_id")),
        room_name=d.get("room_name"),
    )


def subgoal_from_dict(d: Any, prefix: str = "") -> Subgoal:
    """A ``Subgoal`` from its JSON (strict)."""
    d = _as_dict(d, prefix.rstrip(".") or "subgoal", "a subgoal {kind, target, color, goals, extents}")
    _check_keys(d, {"kind", "target", "color", "goals", "extents"}, prefix)
    kind = _require(d, "kind", prefix, f"one of {list(SUBGOAL_KINDS)}")
    if kind not in SUBGOAL_KINDS:
        raise FieldError(prefix + "kind", f"one of {list(SUBGOAL_KINDS)}", kind)
    target = _require(d, "target", prefix, "a non-empty string")
    goals_raw = _as_list(_require(d, "goals", prefix, "a list of goals"), prefix + "goals", "a list of goals")
    reader = object_goal_from_dict if kind == "object" else navigation_goal_from_dict
    goals = tuple(reader(g, f"{prefix}goals[{i}].") for i, g in enumerate(goals_raw))
    extents_raw = [] if d.get("extents") is None else d["extents"]
    extents_raw = _as_list(extents_raw, prefix + "extents", "a list of [bbox_min, bbox_max] pairs")
    extents = []
    for i, e in enumerate(extents_raw):
        e = _as_list(e, f"{prefix}extents[{i}]", "a pair [bbox_min, bbox_max]")
        if len(e) != 2:
            raise FieldError(f"{prefix}extents[{i}]", "a pair [bbox_min, bbox_max]", e)
        extents.append((as_vec3(e[0], f"{prefix}extents[{i}][0]"), as_vec3(e[1], f"{prefix}extents[{i}][1]")))
    return _build(Subgoal, prefix, kind=kind, target=target, color=d.get("color"), goals=goals, extents=tuple(extents))


_BASE_KEYS = {
    "episode_id",
    "scene_id",
    "start_position",
    "start_rotation",
    "info",
    "goals",
    "start_room",
    "shortest_paths",
    "scene_dataset_config",
    "additional_obj_config_paths",
}
_TASK_KEYS = {
    TASK_POINTNAV: _BASE_KEYS,
    TASK_OBJECTNAV: _BASE_KEYS | {"object_category"},
    TASK_INSTRUCTION: _BASE_KEYS | {"instruction", "reference_path", "trajectory_id", "subgoals"},
}


def _base_kwargs(d: dict) -> dict:
    kwargs: dict[str, Any] = {
        "episode_id": _require(d, "episode_id", "", "a string"),
        "scene_id": _require(d, "scene_id", "", "a non-empty string"),
        "start_position": as_vec3(_require(d, "start_position", "", "a list of 3 numbers [x, y, z]"), "start_position"),
        "start_rotation": as_quat(_require(d, "start_rotation", "", "a list of 4 numbers [x, y, z, w]"), "start_rotation"),
        "info": {} if d.get("info") is None else d["info"],
    }
    for key in ("start_room", "shortest_paths", "scene_dataset_config", "additional_obj_config_paths"):
        if d.get(key) is not None:
            kwargs[key] = d[key]
    return kwargs


def episode_from_dict(d: Any, task: str, goals: list | None = None) -> AnyEpisode:
    """One episode of kind ``task`` (``"pointnav"``, ``"objectnav"``, ``"instruction"``) from its
    habitat-lab JSON dict. For ObjectNav, ``goals`` (already-parsed ``ObjectGoal``s from the dataset's
    ``goals_by_category``) replaces an empty ``goals`` list. Raises :class:`FieldError`."""
    if task not in TASKS:
        raise ValueError(f"unknown episode task {task!r}; expected one of {list(TASKS)}")
    d = _as_dict(d, "episode", "an episode object")
    _check_keys(d, _TASK_KEYS[task], "")
    kwargs = _base_kwargs(d)
    if task == TASK_POINTNAV:
        raw = _as_list(_require(d, "goals", "", "a list of goals"), "goals", "a list of goals {position, radius}")
        kwargs["goals"] = tuple(navigation_goal_from_dict(g, f"goals[{i}].") for i, g in enumerate(raw))
        return PointNavEpisode(**kwargs)
    if task == TASK_OBJECTNAV:
        kwargs["object_category"] = _require(d, "object_category", "", "a non-empty string")
        raw = _as_list([] if d.get("goals") is None else d["goals"], "goals", "a list of object goals")
        if raw:
            kwargs["goals"] = tuple(object_goal_from_dict(g, f"goals[{i}].") for i, g in enumerate(raw))
        elif goals is not None:
            kwargs["goals"] = tuple(goals)
        else:
            raise FieldError("goals", "a non-empty list of object goals (or a top-level goals_by_category entry)", missing=True)
        return ObjectNavEpisode(**kwargs)
    instr = _as_dict(_require(d, "instruction", "", "an object {instruction_text, instruction_tokens}"), "instruction", "an object {instruction_text, instruction_tokens}")
    _check_keys(instr, {"instruction_text", "instruction_tokens"}, "instruction.")
    kwargs["instruction"] = _require(instr, "instruction_text", "instruction.", "a non-empty string")
    tokens = instr.get("instruction_tokens")
    if tokens is not None:
        kwargs["instruction_tokens"] = _as_list(tokens, "instruction.instruction_tokens", "a list or null")
    raw = _as_list(_require(d, "subgoals", "", "a list of subgoals"), "subgoals", "a list of subgoals")
    kwargs["subgoals"] = tuple(subgoal_from_dict(s, f"subgoals[{i}].") for i, s in enumerate(raw))
    ref = [] if d.get("reference_path") is None else d["reference_path"]
    ref = _as_list(ref, "reference_path", "a list of [x, y, z] points")
    kwargs["reference_path"] = tuple(as_vec3(p, f"reference_path[{i}]") for i, p in enumerate(ref))
    kwargs["trajectory_id"] = d.get("trajectory_id")
    if "goals" in d:
        _as_list(d["goals"], "goals", "a list of goals (derived from the last subgoal)")
    return InstructionEpisode(**kwargs)


def episode_to_dict(episode: AnyEpisode) -> dict:
    """The habitat-lab JSON dict of one episode (goals inline)."""
    if not isinstance(episode, (PointNavEpisode, ObjectNavEpisode, InstructionEpisode)):
        raise TypeError(f"expected a PointNavEpisode, ObjectNavEpisode or InstructionEpisode, got {type(episode).__name__}")
    return episode.to_dict()
