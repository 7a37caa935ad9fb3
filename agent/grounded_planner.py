"""``MapGroundedPlanner``: another planner's steps, with each object step's waypoint looked up in the
agent's own map (open-vocabulary grounding, as VLMaps localises landmarks).

The wrapped planner (e.g. the 3D-LLM) decides the steps and their order; for every "find <target>"
step this planner scores a sample of the map's points by the cosine relevance of their features to
the target's text embedding (``FeatureMap.text_relevance``'s measure, with the map's own
extractor), keeps the points within ``relevance_margin`` of the best score (when that score is at
least ``min_relevance``), and moves the step's waypoint to the kept point nearest (x/z) the wrapped
planner's waypoint (or nearest the previous step's waypoint when it gave none), at floor height. The
policy then drives as close to that surface point as the occupancy grid allows. Room steps ("go to
the kitchen") keep their waypoints: the maps' features name object categories, not rooms. Each moved
step is listed in the plan's ``notes`` with how far it moved, so an evaluation can tell the two
apart.

A target is matched by its text and, when it starts with colour words ("red plant"), also by the
rest ("plant"): the default maps' features name categories without colours, and a colour can pull
the text's cosine to its own category below ``min_relevance`` (0.68 for "brown book" against "book"
with the shipped sentence encoder), which would leave such a target unseen however well it is mapped.

``UnseenTargetPlanner`` uses the same test the other way round: an object step whose target no map
point matches yet loses its waypoint and is listed in ``Plan.unseen``, so the agent searches for it.

The other planners here read the instances the agent's frames showed (``InstanceTrackingMap``):
``ColourInstancePlanner`` picks the instance of the colour a step names, ``InstanceViewPlanner``
sends an object step to a place from which its instance is in view, and ``RoomLandmarkPlanner``
sends a room step among the landmarks of a room of that type (``agent.room_landmarks``), which
``UnseenTargetPlanner`` (with ``rooms``) also uses to search for rooms the frames have not shown.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from agent.decomposition import Step
from agent.planner import Plan, Planner
from agent.room_landmarks import RoomLandmarks, point_categories, room_groups
from agent.standing_points import nearest_clear_point, viewing_distance, viewing_point
from perception.color_features import color_index
from perception.maps import FeatureMap, cosine_relevance


COLOUR_WORDS = frozenset(
    "red green blue yellow white black brown gray grey orange pink purple beige silver gold golden "
    "dark light bright pale tan cream navy teal maroon violet".split()
)
"""Colour words a target may start with; :func:`target_queries` matches the target without them too."""


def target_hint(step: Step) -> np.ndarray:
    """(3,) world metres: where a step's target is thought to be, to choose among instances: the
    middle of the step's ``box`` when its planner gave one (the 3D-LLM's waypoints read off the map,
    ``agent.map_waypoints``: the pointed object's points, while the waypoint is a place to stand
    beside it), else its waypoint. A planner here that moves a step to another place drops the box."""
    if step.box is not None:
        box = np.asarray(step.box, dtype=np.float64)
        return (box[:3] + box[3:]) / 2
    return np.asarray(step.waypoint, dtype=np.float64)


def split_colour(target: str) -> tuple[str, str]:
    """``target``'s leading colour words and the rest: "dark red armchair" -> ("dark red",
    "armchair"); ("", target) when it starts with none (a target is never all colour words)."""
    words = target.split()
    k = 0
    while k < len(words) - 1 and words[k].lower() in COLOUR_WORDS:
        k += 1
    return " ".join(words[:k]), " ".join(words[k:])


def target_queries(target: str) -> list[str]:
    """The texts a map is searched with for ``target``: itself and, when it starts with colour words,
    the rest ("dark red armchair" -> ["dark red armchair", "armchair"])."""
    colour, rest = split_colour(target)
    return [target, rest] if colour else [target]


def colour_name(words: str) -> str | None:
    """The longest tail of colour ``words`` that ``perception.color_features`` names ("bright red" ->
    "red", "dark red" -> "dark red"); None when no tail is a colour it knows ("golden")."""
    parts = words.split()
    for k in range(len(parts)):
        try:
            color_index(" ".join(parts[k:]))
        except ValueError:
            continue
        return " ".join(parts[k:])
    return None


def target_relevance(features: np.ndarray, embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """(N,) the best cosine relevance of each feature (N, C) to any of the target's query embeddings."""
    return np.max([cosine_relevance(features, e) for e in embeddings], axis=0)


def seen_instances(feature_map: FeatureMap, reader: str) -> list:
    """The instances the agent's frames showed (``SeenInstance``); a TypeError naming ``reader``
    when the map is not an ``InstanceTrackingMap`` (``perception.instance_memory``)."""
    if not callable(getattr(feature_map, "instances", None)):
        raise TypeError(f"{reader} reads the instances the agent has seen: wrap the map in perception.instance_memory.InstanceTrackingMap")
    return feature_map.instances()


def matching_instances(seen: Sequence, embeddings: Sequence[np.ndarray], min_relevance: float) -> list:
    """The seen instances (``SeenInstance``) whose mean feature scores ``min_relevance`` against any
    of the target's query embeddings (``MapGroundedPlanner.embed``)."""
    if not seen:
        return []
    relevance = target_relevance(np.stack([s.feature for s in seen]), embeddings)  # (I,)
    return [s for s, r in zip(seen, relevance) if r >= min_relevance]


class MapGroundedPlanner:
    """``inner``'s plan with object steps grounded in the map (module doc). ``points``: map points
    scored per plan; ``min_relevance``: the best score below which a target counts as not in the
    map (the step keeps its waypoint); ``relevance_margin``: how far below the best a point may
    score and still count as the target."""

    def __init__(self, inner: Planner, points: int = 2048, min_relevance: float = 0.7, relevance_margin: float = 0.05) -> None:
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"points must be an integer >= 1, got {points!r}")
        if not 0.0 <= relevance_margin <= 2.0 or not -1.0 <= min_relevance <= 1.0:
            raise ValueError(f"need -1 <= min_relevance <= 1 and 0 <= relevance_margin <= 2, got {min_relevance}, {relevance_margin}")
        self.inner = inner
        self.points = points
        self.min_relevance = float(min_relevance)
        self.relevance_margin = float(relevance_margin)

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        began = time.perf_counter()
        plan = self.inner.plan(feature_map, instruction, start)
        objects = [s for s in plan.steps if s.action == "find"]
        if not objects:
            return plan
        points, features = feature_map.points_and_features(self.points)  # (N, 3), (N, C)
        floor = getattr(feature_map, "floor_height", None)
        steps, notes = [], []
        previous = None if start is None else np.asarray(start, dtype=np.float64)
        for step in plan.steps:
            if step.action == "find" and len(points):
                anchor = target_hint(step) if step.waypoint is not None else previous
                found = self.locate(points, features, self.embed(feature_map, step.target), anchor)
                if found is not None:
                    waypoint = np.array([found[0], points[:, 1].min() if floor is None else floor, found[2]])
                    moved = "" if step.waypoint is None else f" ({np.hypot(*(waypoint - step.waypoint)[[0, 2]]):.2f} m away)"
                    notes.append(f"step {step.index}: waypoint of {step.target!r} taken from the map{moved}")
                    step = replace(step, waypoint=waypoint, box=None)
            steps.append(step)
            if step.waypoint is not None:
                previous = np.asarray(step.waypoint, dtype=np.float64)
        return replace(plan, steps=steps, notes=list(plan.notes) + notes, latency_s=time.perf_counter() - began)

    @staticmethod
    def embed(feature_map: FeatureMap, target: str) -> list[np.ndarray]:
        """The embeddings (C,) of ``target_queries(target)`` with the map's own extractor."""
        return [feature_map.extractor.embed_text(q) for q in target_queries(target)]

    def locate(self, points: np.ndarray, features: np.ndarray, embeddings: Sequence[np.ndarray], near: np.ndarray | None) -> np.ndarray | None:
        """The map point (3,) that best matches the target (its query embeddings, :meth:`embed`),
        nearest ``near`` (x/z) among the near-best matches; None when nothing scores ``min_relevance``."""
        relevance = target_relevance(features, embeddings)  # (N,)
        if not self._found(relevance):
            return None
        best = float(relevance.max())
        candidates = points[relevance >= best - self.relevance_margin]  # (M, 3)
        if near is None:
            return candidates[0]
        d = np.hypot(candidates[:, 0] - near[0], candidates[:, 2] - near[2])
        return candidates[int(np.argmin(d))]

    def shows(self, features: np.ndarray, embeddings: Sequence[np.ndarray]) -> bool:
        """Whether any of the map points' features (N, C) scores ``min_relevance`` against the target
        (its query embeddings, :meth:`embed`)."""
        return self._found(target_relevance(features, embeddings))

    def _found(self, relevance: np.ndarray) -> bool:
        return len(relevance) > 0 and float(relevance.max()) >= self.min_relevance


class UnseenTargetPlanner:
    """``inner``'s plan (e.g. the 3D-LLM's), with every object step whose target the map does not show
    yet taken out of the way: when no sampled map point (and, on an ``InstanceTrackingMap``, no
    instance the frames showed) scores ``min_relevance`` against the target's text embedding
    (``MapGroundedPlanner``'s test), the step loses its waypoint and is listed in
    ``Plan.unseen``, so the agent explores for it (``agent.loop``) and plans again, instead of driving
    to a place the model guessed for an object it has not seen. With ``rooms`` (``RoomLandmarks``), a
    room step of a type the table can tell is unseen in the same way while the instances the frames
    showed (the map must be an ``InstanceTrackingMap``) show no such room (``room_groups``); other
    room steps keep their waypoints. ``points``: map points sampled per check (the 3D-LLM planner's
    own count shares its sample).

    While the agent searches it asks for a plan every few actions: as long as none of the unseen
    targets has appeared, the last plan is given again after checking only them, and ``inner`` is
    asked anew once one has (a generation costs far more than the check)."""

    def __init__(self, inner: Planner, points: int = 2048, min_relevance: float = 0.7, rooms: RoomLandmarks | None = None) -> None:
        self.checker = MapGroundedPlanner(inner, points=points, min_relevance=min_relevance)
        self.rooms = rooms
        # while targets are unseen: (instruction, inner's plan, the steps it found unseen, the plan given)
        self._waiting: tuple[str, Plan, set[int], Plan] | None = None

    @property
    def inner(self) -> Planner:
        return self.checker.inner

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        began = time.perf_counter()
        if self._waiting is not None and self._waiting[0] == instruction:
            _, inner_plan, unseen, given = self._waiting
            # (steps the inner planner itself found unseen, e.g. a colour not seen yet, need it asked anew)
            if not inner_plan.unseen and self._unseen(feature_map, inner_plan) == unseen:
                return replace(given, steps=list(given.steps), latency_s=time.perf_counter() - began, notes=list(given.notes))
        self._waiting = None
        inner_plan = self.inner.plan(feature_map, instruction, start)
        unseen = self._unseen(feature_map, inner_plan)
        if not unseen:
            return inner_plan
        steps = [replace(s, waypoint=None, bins=(), box=None) if s.index in unseen else s for s in inner_plan.steps]
        notes = [f"step {i}: its target is not in the map yet (best relevance below {self.checker.min_relevance})" for i in sorted(unseen)]
        given = replace(
            inner_plan,
            steps=steps,
            unseen=tuple(sorted(set(inner_plan.unseen) | unseen)),
            notes=list(inner_plan.notes) + notes,
            latency_s=inner_plan.latency_s + (time.perf_counter() - began),
        )
        self._waiting = (instruction, inner_plan, unseen, given)
        return replace(given, steps=list(steps))

    def _unseen(self, feature_map: FeatureMap, plan: Plan) -> set[int]:
        """The indices of ``plan``'s object steps whose target no sampled map point (nor seen
        instance) matches, and (with ``rooms``) of its room steps of which no seen instance shows a
        room (``room_groups``)."""
        objects = [s for s in plan.steps if s.action == "find"]
        rooms = [s for s in plan.steps if s.action == "go to" and self.rooms is not None and self.rooms.of(s.target)]
        if not objects and not rooms:
            return set()
        unseen = set()
        if objects:
            points, features = feature_map.points_and_features(self.checker.points)  # (N, 3), (N, C)
            if callable(getattr(feature_map, "instances", None)) and (seen := feature_map.instances()):
                # an instance the frames showed counts too: a small or far object may have few map points
                features = np.concatenate([features, np.stack([s.feature for s in seen])])  # (N + I, C)
            unseen = {s.index for s in objects if not self.checker.shows(features, self.checker.embed(feature_map, s.target))}
        if rooms:
            positions, classes = seen_landmarks(feature_map, self.rooms, self.checker.min_relevance)  # (I, 3), (I,)
            unseen |= {s.index for s in rooms if not room_groups(positions, classes, s.target, self.rooms)}
        return unseen


class ColourInstancePlanner:
    """``inner``'s plan, with every object step that names a colour ("find the black mug") sent to the
    seen instance of that colour. The maps' features name categories, not colours, so neither the
    3D-LLM (which reads features) nor ``MapGroundedPlanner`` can tell two mugs apart; a generated
    instruction names a colour exactly when another instance of the category has another one.

    It reads the instances the agent's frames showed (``perception.instance_memory``: the map must be
    an ``InstanceTrackingMap``). For such a step, the instances whose mean feature scores at least
    ``min_relevance`` against the target (its ``target_queries``) are ranked by how near the colour
    name their pixels look (``SeenInstance.color_distance``); when the best is not the instance
    nearest the step's waypoint (x/z), the waypoint moves to the best one's seen position, at floor
    height, noted in ``Plan.notes``.
    When instances of the target's category are seen but none looks the colour (a fifth of its pixels
    within ``max_colour_distance`` CIE76 units of it), the step loses its waypoint and is listed in
    ``Plan.unseen``, so the agent searches on instead of taking a brown table for the black one: over
    the room tours of houses 0-11, 82% of instances lie within 30 of their own colour name and 9.6%
    of those of another colour of their category within 30 of it.
    Otherwise (fewer than two instances seen, the waypoint at the best already, or no colour word a
    colour ``perception.color_features`` names) the step is left as it is; steps without a waypoint
    (``Plan.unseen``) are left to the agent's search."""

    def __init__(self, inner: Planner, min_relevance: float = 0.7, max_colour_distance: float = 30.0) -> None:
        if not -1.0 <= min_relevance <= 1.0 or not max_colour_distance > 0:
            raise ValueError(f"need min_relevance a cosine in [-1, 1] and max_colour_distance > 0, got {min_relevance}, {max_colour_distance}")
        self.inner = inner
        self.min_relevance = float(min_relevance)
        self.max_colour_distance = float(max_colour_distance)

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        began = time.perf_counter()
        plan = self.inner.plan(feature_map, instruction, start)
        coloured = {i: c for i, s in enumerate(plan.steps) if s.action == "find" and s.waypoint is not None and (c := colour_name(split_colour(s.target)[0]))}
        if not coloured:
            return plan
        seen = seen_instances(feature_map, "ColourInstancePlanner")
        floor = getattr(feature_map, "floor_height", None)
        steps, notes, unseen = list(plan.steps), [], set()
        for i, colour in coloured.items():
            step = steps[i]
            waypoint = np.asarray(step.waypoint, dtype=np.float64)
            matching = matching_instances(seen, MapGroundedPlanner.embed(feature_map, step.target), self.min_relevance)
            if matching and min(s.color_distance(colour)[0] for s in matching) > self.max_colour_distance:
                steps[i] = replace(step, waypoint=None, bins=(), box=None)
                unseen.add(step.index)
                notes.append(f"step {step.index}: no {split_colour(step.target)[1]!r} seen looks {colour} yet")
                continue
            position = self.instance_position(matching, colour, target_hint(step))
            if position is None:
                continue
            steps[i] = replace(step, waypoint=np.array([position[0], waypoint[1] if floor is None else floor, position[2]]), box=None)
            notes.append(f"step {step.index}: {step.target!r} moved to the {colour} instance seen ({np.hypot(*(steps[i].waypoint - waypoint)[[0, 2]]):.2f} m away)")
        if not notes:
            return plan
        return replace(
            plan, steps=steps, notes=list(plan.notes) + notes, unseen=tuple(sorted(set(plan.unseen) | unseen)),
            latency_s=plan.latency_s + (time.perf_counter() - began),
        )

    @staticmethod
    def instance_position(matching: Sequence, colour: str, waypoint: np.ndarray) -> np.ndarray | None:
        """The seen position (3,) of the best ``colour`` instance among those matching the target
        (class doc), or None when the instance nearest ``waypoint`` (3,) is already the best or fewer
        than two match."""
        if len(matching) < 2:
            return None
        rank = [(distance, -share) for distance, share in (s.color_distance(colour) for s in matching)]  # nearer, then more
        reach = [float(np.hypot(*(s.position - waypoint)[[0, 2]])) for s in matching]
        nearest = int(np.argmin(reach))
        best = min(range(len(matching)), key=lambda k: (rank[k], reach[k]))  # equal ranks: the nearer the waypoint
        return None if rank[best] >= rank[nearest] else matching[best].position


class InstanceViewPlanner:
    """``inner``'s plan, with every object step sent to a place from which the seen instance of its
    target nearest the step's target (``target_hint``: its box's middle, else its waypoint) is in view.

    The instances are those the agent's frames showed (``perception.instance_memory``; the map must
    be an ``InstanceTrackingMap``) whose mean feature scores at least ``min_relevance`` against the
    target (``target_queries``). The 3D-LLM's object waypoint is a place to stand and see the target,
    learned to within a metre or two; the seen instance is where the target is. The step's waypoint
    becomes a clear cell of the agent's occupancy grid (``clearance`` metres from obstacles) at the
    distance from the instance at which a level camera at ``camera_height`` with vertical field of
    view ``vfov`` (radians) has it in view (``viewing_distance``: farther for a book on a low shelf
    or a picture high on a wall), in sight of it on the grid and nearest the model's waypoint (the
    side it was seen from); the instance's own position when no such cell is known yet. Steps
    without a waypoint (``Plan.unseen``) or whose target matches no seen instance keep theirs;
    moved steps are noted in ``Plan.notes``. Place it outside ``ColourInstancePlanner``, which picks
    among the instances by colour."""

    def __init__(self, inner: Planner, camera_height: float, vfov: float, min_relevance: float = 0.7, clearance: float = 0.25) -> None:
        if not -1.0 <= min_relevance <= 1.0 or not 0 < vfov < np.pi or not clearance > 0:
            raise ValueError(f"need -1 <= min_relevance <= 1, 0 < vfov < pi radians, clearance > 0 metres; got {min_relevance}, {vfov}, {clearance}")
        self.inner = inner
        self.camera_height = float(camera_height)
        self.vfov = float(vfov)
        self.min_relevance = float(min_relevance)
        self.clearance = float(clearance)

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        began = time.perf_counter()
        plan = self.inner.plan(feature_map, instruction, start)
        objects = [i for i, s in enumerate(plan.steps) if s.action == "find" and s.waypoint is not None]
        if not objects:
            return plan
        seen = seen_instances(feature_map, "InstanceViewPlanner")
        if not seen:
            return plan
        floor = getattr(feature_map, "floor_height", None)
        grid = feature_map.occupancy_grid()
        steps, notes = list(plan.steps), []
        for i in objects:
            step = steps[i]
            matching = matching_instances(seen, MapGroundedPlanner.embed(feature_map, step.target), self.min_relevance)
            if not matching:
                continue
            matching = np.stack([m.position for m in matching])  # (M, 3)
            waypoint = np.asarray(step.waypoint, dtype=np.float64)
            target = matching[int(np.argmin(np.hypot(*(matching - target_hint(step))[:, [0, 2]].T)))]
            distance = viewing_distance(float(target[1]), self.camera_height, self.vfov)
            stand = viewing_point(grid, target, waypoint, distance, self.clearance)
            where = "a place in view of" if stand is not None else "the position of"
            stand = target if stand is None else stand
            steps[i] = replace(step, waypoint=np.array([stand[0], waypoint[1] if floor is None else floor, stand[2]]), box=None)
            notes.append(f"step {step.index}: {step.target!r} moved to {where} the nearest seen instance ({np.hypot(*(steps[i].waypoint - waypoint)[[0, 2]]):.2f} m away)")
        if not notes:
            return plan
        return replace(plan, steps=steps, notes=list(plan.notes) + notes, latency_s=plan.latency_s + (time.perf_counter() - began))


def seen_landmarks(feature_map: FeatureMap, rooms: RoomLandmarks, min_relevance: float) -> tuple[np.ndarray, np.ndarray]:
    """The positions (I, 3) of the instances the agent's frames showed and their categories (I,)
    among ``rooms.categories`` (``point_categories`` of their mean features; -1 for none). The map
    must be an ``InstanceTrackingMap`` (``perception.instance_memory``): a category read per
    instance is surer than one read per map point, where a far chair's points can read as a sofa."""
    seen = seen_instances(feature_map, "room-step grounding (RoomLandmarkPlanner, UnseenTargetPlanner with rooms)")
    if not seen:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    features = np.stack([s.feature for s in seen])  # (I, C)
    classes = point_categories(features, rooms.category_embeddings(feature_map.extractor.embed_text), min_relevance)  # (I,)
    return np.stack([s.position for s in seen]), classes


class RoomLandmarkPlanner:
    """``inner``'s plan, with every room step ("go to the kitchen") sent into a room of that type the
    agent's frames showed, found by its landmarks (``agent.room_landmarks``: an oven for a kitchen).

    The maps' features name object categories, not rooms, and on a partly explored map the 3D-LLM
    often points a room step into the wrong room. For a room step of a type ``rooms`` can tell, the
    groups of seen instances that show such a room are found (``seen_landmarks``, ``room_groups``:
    landmarks within ``cluster_radius`` metres of each other, as sure as the room's best one); the one
    with the most evidence (then points, then the one nearest the step's waypoint) is taken as the
    room, so a lone counter in a laundry room is not a kitchen. The waypoint moves to the middle of
    that group (the mean of its categories' mean positions), snapped to the nearest cell of the
    agent's occupancy grid that is free with ``clearance`` metres around it and not across a wall
    from the middle (``nearest_clear_point``, within ``max_snap`` metres; the middle itself
    otherwise), at floor height: a place to stand inside the room, not a landmark's surface that
    may lie against a wall. Steps of a room with no landmark seen, of a type without landmarks (a
    hallway), or without a waypoint keep theirs; each moved step is noted in ``Plan.notes``."""

    def __init__(
        self,
        inner: Planner,
        rooms: RoomLandmarks,
        min_relevance: float = 0.7,
        cluster_radius: float = 1.5,
        clearance: float = 0.25,
        max_snap: float = 3.0,
    ) -> None:
        if not -1.0 <= min_relevance <= 1.0 or not min(cluster_radius, clearance, max_snap) > 0:
            raise ValueError(f"need -1 <= min_relevance <= 1 and positive metres, got {min_relevance}, {cluster_radius}, {clearance}, {max_snap}")
        self.inner = inner
        self.rooms = rooms
        self.min_relevance = float(min_relevance)
        self.cluster_radius = float(cluster_radius)
        self.clearance = float(clearance)
        self.max_snap = float(max_snap)

    def plan(self, feature_map: FeatureMap, instruction: str, start: np.ndarray | None = None) -> Plan:
        began = time.perf_counter()
        plan = self.inner.plan(feature_map, instruction, start)
        if not any(s.action == "go to" and s.waypoint is not None and self.rooms.of(s.target) for s in plan.steps):
            return plan
        points, classes = seen_landmarks(feature_map, self.rooms, self.min_relevance)  # (I, 3), (I,)
        floor = getattr(feature_map, "floor_height", None)
        steps, notes = list(plan.steps), []
        for i, step in enumerate(plan.steps):
            if step.action != "go to" or step.waypoint is None or not self.rooms.of(step.target):
                continue
            groups = room_groups(points, classes, step.target, self.rooms, self.cluster_radius)
            middle = self.room_middle(points, classes, groups, np.asarray(step.waypoint, dtype=np.float64))
            if middle is None:
                continue
            stand = nearest_clear_point(feature_map.occupancy_grid(), middle, self.clearance, self.max_snap)
            stand = middle if stand is None else stand
            steps[i] = replace(step, waypoint=np.array([stand[0], step.waypoint[1] if floor is None else floor, stand[2]]), box=None)
            notes.append(f"step {step.index}: {step.target!r} sent among its landmarks seen ({np.hypot(*(steps[i].waypoint - step.waypoint)[[0, 2]]):.2f} m away)")
        if not notes:
            return plan
        return replace(plan, steps=steps, notes=list(plan.notes) + notes, latency_s=plan.latency_s + (time.perf_counter() - began))

    @staticmethod
    def room_middle(points: np.ndarray, classes: np.ndarray, groups: Sequence, waypoint: np.ndarray) -> np.ndarray | None:
        """The middle (3,) of the best of ``groups`` (``LandmarkGroup`` over the seen instances'
        positions (N, 3) and categories (N,)) (class doc); None when there is none."""
        if not groups:
            return None

        def rank(g) -> tuple[float, int, float]:
            near = float(np.hypot(*(points[g.members] - waypoint)[:, [0, 2]].T).min())
            return (-g.evidence, -int(g.members.sum()), near)

        best = min(groups, key=rank).members
        return np.mean([points[best & (classes == c)].mean(axis=0) for c in np.unique(classes[best])], axis=0)
