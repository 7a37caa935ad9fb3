"""Sampling valid PointNav, ObjectNav and instruction episodes in a scene, and splitting scenes.

All randomness comes from the ``np.random.Generator`` passed in: the same scene, configuration and
seed give the same episodes. Positions are world metres at floor height (Y up), rotations
[x, y, z, w]; start rotations are a uniformly random yaw, as habitat's generator draws them.

Rules (after habitat-lab's ``habitat/datasets/pointnav/pointnav_generator.py``):

- **PointNav**: a target, then up to ``retries_per_target`` starts, all uniform over the navigable
  area; a pair is kept when start and goal are within 0.5 m in height, the goal is reachable (same
  island, finite geodesic distance), ``min_distance <= geodesic <= max_distance``, and either
  ``geodesic / euclidean >= geodesic_to_euclid_ratio`` (1.1) or, below it, with habitat's
  probability ``20 * (ratio - 0.98)^2`` (so near-straight episodes are rare). habitat's
  ``island_radius >= 1.5 m`` check is not applied (the ``Navigation`` protocol has no island radius).
- **View points** of an object: navigable points on a ``spacing`` lattice whose x/z distance to the
  object's box is at most ``max_distance`` (1.0 m), from which the agent, turned to face the box's
  centre with a level camera at ``sensor_height``, sees at least ``min_pixels`` pixels of the
  object's instance id in a semantic render (``image_size`` square pixels, the simulator's hfov).
  ``iou`` is the intersection over union of the object's pixels and the image's centre rectangle
  (half its width and height).
- **ObjectNav**: a category drawn uniformly among the scene's object categories (minus structural
  ones: floor, wall, ceiling, ...) that have at least one instance with view points; the goals are
  all its instances with view points; the start is kept when its geodesic distance to the nearest
  view point is in ``[min_distance, max_distance]``.
- **Instructions**: 1-4 ordered subgoals mixing rooms and objects (no two consecutive ones the
  same); an object subgoal names the instance's colour when another instance of its category has a
  different colour, and then only instances of that colour are goals. The route visits each
  subgoal's nearest target in turn (greedy; the nearest by walking distance among the 8 nearest in a
  straight line); each leg must be at least ``min_leg_distance`` and the
  route at most ``max_route_distance``. ``info["geodesic_distance"]`` is the route's length.

The instruction text comes from several paraphrase templates ("go to the kitchen, then find the
red mug, then go to the sofa").
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from envs.episodes import (
    AgentState,
    AnyEpisode,
    InstructionEpisode,
    NavigationGoal,
    ObjectGoal,
    ObjectNavEpisode,
    ObjectViewLocation,
    PointNavEpisode,
    Subgoal,
)
from envs.measures import goal_targets, subgoal_distance
from envs.raycast import SceneRaycaster
from envs.scene import Scene, SceneObject
from envs.simulator import Navigation, Simulator, camera_pose
from envs.types import CameraIntrinsics, Pose, quat_from_yaw

STRUCTURAL_CATEGORIES = ("floor", "wall", "ceiling", "door", "doorway", "window", "stairs", "roof", "beam", "column")
"""Categories never used as ObjectNav or instruction targets."""

_MAX_HEIGHT_DIFFERENCE = 0.5  # habitat: start and goal on the same floor
_ROUTE_CANDIDATES = 8  # targets per subgoal whose geodesic distance the route compares


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class PointNavConfig:
    """PointNav sampling (habitat's ``generate_pointnav_episode`` defaults); distances in metres."""

    min_distance: float = 1.0
    max_distance: float = 30.0
    geodesic_to_euclid_ratio: float = 1.1
    success_distance: float = 0.2
    """Stored as each goal's ``radius``, as habitat's generator does."""
    retries_per_target: int = 10
    max_attempts: int = 2000
    """Targets tried before giving up with an error."""


@dataclass(frozen=True)
class ViewPointConfig:
    """Where an object's view points are searched and how visibility is checked (metres, pixels)."""

    max_distance: float = 1.0
    """Largest x/z distance from the object's box."""
    spacing: float = 0.1
    """Lattice step of the candidates; <= 0.14 m keeps every point within ObjectNav's 0.1 m of one."""
    min_pixels: int = 2
    image_size: int | None = 64
    """Side of the square semantic render; None renders with ``simulator.render`` at its own size."""
    max_view_points: int | None = None
    """Keep at most this many per object (an even subsample), or all."""


@dataclass(frozen=True)
class ObjectNavConfig:
    """ObjectNav sampling; distances in metres."""

    min_distance: float = 1.0
    max_distance: float = 30.0
    categories: tuple[str, ...] | None = None
    """Draw only these categories (all must exist in the scene); None: every non-structural one."""
    max_attempts: int = 2000


@dataclass(frozen=True)
class InstructionConfig:
    """Instruction sampling; distances in metres."""

    min_subgoals: int = 1
    max_subgoals: int = 4
    room_probability: float = 0.5
    min_leg_distance: float = 0.5
    max_route_distance: float = 60.0
    max_attempts: int = 2000


# --------------------------------------------------------------------------------------------------
# small pure helpers


def random_yaw_rotation(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A rotation about +Y by a uniform angle in [0, 2 pi), as [x, y, z, w]."""
    return tuple(float(c) for c in quat_from_yaw(float(rng.uniform(0.0, 2.0 * math.pi))))  # type: ignore[return-value]


def yaw_towards(origin: np.ndarray, target: np.ndarray) -> float:
    """The yaw (radians about +Y, 0 = facing -Z) that faces ``target`` from ``origin`` in x/z."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    return math.atan2(-d[0], -d[2])


def box_distance_xz(points: np.ndarray, bbox_min: np.ndarray, bbox_max: np.ndarray) -> np.ndarray:
    """x/z distance (metres) of points (N, 3) to an axis-aligned box (0 inside its footprint)."""
    p = np.atleast_2d(points)
    dx = np.maximum(np.maximum(bbox_min[0] - p[:, 0], 0.0), p[:, 0] - bbox_max[0])
    dz = np.maximum(np.maximum(bbox_min[2] - p[:, 2], 0.0), p[:, 2] - bbox_max[2])
    return np.hypot(dx, dz)


def centre_iou(mask: np.ndarray) -> float:
    """IoU of a boolean (H, W) mask and the image's centre rectangle (half its width and height)."""
    h, w = mask.shape
    rect = np.zeros_like(mask, dtype=bool)
    rect[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    union = np.logical_or(mask, rect).sum()
    return float(np.logical_and(mask, rect).sum() / union) if union else 0.0


def _lattice(lo: float, hi: float, step: float) -> np.ndarray:
    """Multiples of ``step`` in [lo, hi] (a global lattice, so results do not depend on the box)."""
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return np.arange(first, last + 1, dtype=np.float64) * step


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


# --------------------------------------------------------------------------------------------------
# validation and splits


def validate_episode(episode: AnyEpisode, navigation: Navigation) -> float:
    """Check that ``episode`` can be run on ``navigation``; returns the geodesic distance (metres)
    from the start to the goal (instruction episodes: to the first subgoal).

    Raises ``ValueError`` naming the episode when the start is not navigable, an ObjectNav goal has
    no view points, or a goal (every subgoal, for instructions) is unreachable from the start.
    """
    start = np.asarray(episode.start_position, dtype=np.float64)
    name = f"episode {episode.episode_id!r} (scene {episode.scene_id!r})"
    if not navigation.is_navigable(start):
        snapped = navigation.snap_point(start)
        raise ValueError(
            f"{name}: start position {np.round(start, 3).tolist()} is not navigable "
            f"(nearest navigable point: {np.round(snapped, 3).tolist()}); is the episode from another scene "
            "or agent size?"
        )
    if isinstance(episode, InstructionEpisode):
        first = math.inf
        for i, sg in enumerate(episode.subgoals):
            d = subgoal_distance(navigation, sg, start)
            if not math.isfinite(d):
                raise ValueError(f"{name}: subgoal {i} ({sg.kind} {sg.describe()!r}) is unreachable from the start")
            if i == 0:
                first = d
        return first
    targets = goal_targets(episode)  # raises when ObjectNav goals have no view points
    d = float(navigation.geodesic_distance(start, targets))
    if not math.isfinite(d):
        what = "view points" if isinstance(episode, ObjectNavEpisode) else "goal positions"
        raise ValueError(f"{name}: no goal is reachable from the start (geodesic distance to the {what} is inf)")
    return d


def split_scene_ids(
    scene_ids: Sequence[str | int],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    names: Sequence[str] = ("train", "val", "test"),
    salt: str = "nav3d",
) -> dict[str, list]:
    """Deterministic splits of scenes (e.g. house seeds) into disjoint groups, by scene.

    Scenes are ordered by a hash of ``salt`` and their id (independent of the input order) and cut
    into consecutive groups of ``round(fraction * n)`` scenes (largest remainders; every split with
    a positive fraction gets a scene when there are enough). Returns ``{name: [ids]}`` with each
    list in the input's order. Raises ``ValueError`` on duplicate ids or bad fractions.
    """
    ids = list(scene_ids)
    if len(set(map(str, ids))) != len(ids):
        raise ValueError("scene ids must be unique")
    if len(fractions) != len(names):
        raise ValueError(f"got {len(fractions)} fractions for {len(names)} split names")
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {list(fractions)}")
    n = len(ids)
    exact = [f * n for f in fractions]
    counts = [int(math.floor(e)) for e in exact]
    for i in sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))[: n - sum(counts)]:
        counts[i] += 1
    # make sure a positive fraction gets at least one scene when others can spare one
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: counts[j])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] += 1
    order = sorted(ids, key=lambda s: (_stable_hash(f"{salt}:{s}"), str(s)))
    out: dict[str, list] = {}
    start = 0
    for name, count in zip(names, counts):
        chosen = set(map(str, order[start : start + count]))
        out[name] = [s for s in ids if str(s) in chosen]
        start += count
    return out


# --------------------------------------------------------------------------------------------------
# semantic rendering for visibility checks


class SemanticRenderer:
    """A semantic-only pinhole camera over a ``Scene`` (open3d ray casting), for view-point checks.

    Uses the same camera model as the simulators (``CameraIntrinsics.ray_directions``: OpenGL camera,
    looking down -Z). ``render(camera_pose) -> (H, W) int32`` instance ids, 0 where nothing is hit.
    """

    def __init__(self, scene: Scene, intrinsics: CameraIntrinsics) -> None:
        self._raycaster = SceneRaycaster(scene)
        self.intrinsics = intrinsics
        self._camera_rays = SceneRaycaster.camera_rays(intrinsics)  # (H*W, 3)

    def render(self, cam: Pose) -> np.ndarray:
        face = self._raycaster.cast(cam, self._camera_rays).face
        return self._raycaster.instance_ids(face).reshape(self.intrinsics.height, self.intrinsics.width)


# --------------------------------------------------------------------------------------------------
# the generator


class EpisodeGenerator:
    """Samples episodes in one scene; caches view points and room points (deterministic, so the
    caches never change results).

    ``simulator`` gives the navigation, the agent's sensor height and camera hfov (and renders when
    ``view_config.image_size`` is None); ``scene`` defaults to ``simulator.scene``; ``scene_id`` to
    ``scene.name``. A room subgoal's goal points lie on a ``room_point_spacing`` (metres) lattice.
    """

    def __init__(
        self,
        simulator: Simulator,
        scene: Scene | None = None,
        scene_id: str | None = None,
        view_config: ViewPointConfig = ViewPointConfig(),
        room_point_spacing: float = 0.5,
    ) -> None:
        if room_point_spacing <= 0:
            raise ValueError(f"room_point_spacing must be positive (metres), got {room_point_spacing}")
        self.room_point_spacing = float(room_point_spacing)
        scene = scene if scene is not None else getattr(simulator, "scene", None)
        if scene is None:
            raise ValueError("EpisodeGenerator needs the Scene (its objects and rooms): pass scene=")
        self.simulator = simulator
        self.scene = scene
        self.scene_id = scene_id or scene.name
        self.navigation: Navigation = simulator.navigation
        self.view_config = view_config
        self.sensor_height = float(simulator.agent_config.sensor_height)
        if view_config.image_size is None:
            self._render: Callable[[Pose], np.ndarray] = lambda pose: simulator.render(pose).semantic
        else:
            size = int(view_config.image_size)
            intr = CameraIntrinsics.from_hfov_degrees(size, size, simulator.sensor_config.hfov_deg)
            self._render = SemanticRenderer(scene, intr).render
        self._view_points: dict[int, tuple[ObjectViewLocation, ...]] = {}
        self._room_points: dict[str, tuple[tuple[NavigationGoal, ...], tuple]] = {}

    # ------------------------------------------------------------------------------- targets

    def target_categories(self) -> list[str]:
        """The scene's categories that may be targets (non-structural), sorted."""
        return [c for c in self.scene.categories if c not in STRUCTURAL_CATEGORIES]

    def view_points(self, obj: SceneObject) -> tuple[ObjectViewLocation, ...]:
        """The object's view points (see the module doc), in lattice order (by z, then x)."""
        if obj.instance_id in self._view_points:
            return self._view_points[obj.instance_id]
        cfg = self.view_config
        lo, hi = np.asarray(obj.bbox_min, float), np.asarray(obj.bbox_max, float)
        floor = self.navigation.snap_point(np.array([obj.center[0], lo[1], obj.center[2]]))
        found: list[ObjectViewLocation] = []
        if np.isfinite(floor).all():
            xs = _lattice(lo[0] - cfg.max_distance, hi[0] + cfg.max_distance, cfg.spacing)
            zs = _lattice(lo[2] - cfg.max_distance, hi[2] + cfg.max_distance, cfg.spacing)
            zz, xx = np.meshgrid(zs, xs, indexing="ij")
            cands = np.stack([xx.ravel(), np.full(xx.size, floor[1]), zz.ravel()], axis=1)
            cands = cands[box_distance_xz(cands, lo, hi) <= cfg.max_distance + 1e-9]
            centre = (lo + hi) / 2.0
            for p in cands:
                if not self.navigation.is_navigable(p):
                    continue
                yaw = yaw_towards(p, centre)
                agent = Pose.from_yaw(p, yaw)
                semantic = self._render(camera_pose(agent, self.sensor_height, 0.0))
                mask = semantic == obj.instance_id
                if int(mask.sum()) >= cfg.min_pixels:
                    state = AgentState(tuple(p.tolist()), tuple(float(c) for c in agent.rotation))
                    found.append(ObjectViewLocation(state, round(centre_iou(mask), 6)))
        if cfg.max_view_points is not None and len(found) > cfg.max_view_points:
            keep = np.linspace(0, len(found) - 1, cfg.max_view_points).round().astype(int)
            found = [found[i] for i in keep]
        self._view_points[obj.instance_id] = tuple(found)
        return self._view_points[obj.instance_id]

    def object_goal(self, obj: SceneObject) -> ObjectGoal:
        """An ``ObjectGoal`` for one instance (its centre, id, category, room and view points)."""
        return ObjectGoal(
            position=tuple(float(c) for c in obj.center),
            object_id=int(obj.instance_id),
            object_category=obj.category,
            object_name=f"{obj.category}_{obj.instance_id}",
            room_name=obj.region,
            view_points=self.view_points(obj),
        )

    def object_goals(self, category: str, color: str | None = None) -> tuple[ObjectGoal, ...]:
        """Goals for every instance of ``category`` (of ``color`` when given) that has view points,
        by instance id. Raises ``KeyError`` naming the known categories for an unknown one."""
        objs = sorted(self.scene.objects_of_category(category), key=lambda o: o.instance_id)
        if color is not None:
            objs = [o for o in objs if o.color == color]
        goals = [self.object_goal(o) for o in objs]
        return tuple(g for g in goals if g.view_points)

    def room_goals(self, name: str) -> tuple[tuple[NavigationGoal, ...], tuple]:
        """A room's navigable goal points (the ``room_point_spacing`` lattice points inside every
        region called ``name`` that are navigable; when none is, the navigable point nearest the
        region's centre if it lies inside) and the regions' extents. Empty points: unreachable room."""
        if name in self._room_points:
            return self._room_points[name]
        regions = [r for r in self.scene.regions if r.name == name]
        if not regions:
            self.scene.region(name)  # raises KeyError naming the known regions
        spacing = self.room_point_spacing
        points: list[tuple[float, float, float]] = []
        extents = []
        for r in regions:
            lo, hi = np.asarray(r.bbox_min, float), np.asarray(r.bbox_max, float)
            extents.append((tuple(lo.tolist()), tuple(hi.tolist())))
            centre = self.navigation.snap_point(r.center)
            if not np.isfinite(centre).all():
                continue
            inside = []
            for z in _lattice(lo[2], hi[2], spacing):
                for x in _lattice(lo[0], hi[0], spacing):
                    p = np.array([x, centre[1], z])
                    if self.navigation.is_navigable(p):
                        inside.append((float(x), float(centre[1]), float(z)))
            if not inside and r.contains(centre)[0]:
                inside.append(tuple(float(c) for c in centre))
            points.extend(inside)
        result = (tuple(NavigationGoal(p) for p in points), tuple(extents))
        self._room_points[name] = result
        return result

    def _rooms(self) -> list[str]:
        return sorted({r.name for r in self.scene.regions if self.room_goals(r.name)[0]})

    # ------------------------------------------------------------------------------- PointNav

    def pointnav_episode(self, rng: np.random.Generator, config: PointNavConfig = PointNavConfig(), episode_id: str | None = None) -> PointNavEpisode:
        """One PointNav episode (habitat's rules, see the module doc)."""
        nav = self.navigation
        for _ in range(config.max_attempts):
            target = nav.sample_navigable_point(rng)
            for _retry in range(config.retries_per_target):
                source = nav.sample_navigable_point(rng)
                d = self._compatible(source, target, config, rng)
                if d is not None:
                    return PointNavEpisode(
                        episode_id=episode_id or self._episode_id("pointnav", source, target),
                        scene_id=self.scene_id,
                        start_position=tuple(source.tolist()),
                        start_rotation=random_yaw_rotation(rng),
                        goals=(NavigationGoal(tuple(target.tolist()), config.success_distance),),
                        info={"geodesic_distance": d},
                    )
        raise RuntimeError(
            f"no PointNav episode with geodesic distance in [{config.min_distance}, {config.max_distance}] m "
            f"found in scene {self.scene_id!r} after {config.max_attempts} targets; is the navigable area large enough?"
        )

    def _compatible(self, s: np.ndarray, t: np.ndarray, config: PointNavConfig, rng: np.random.Generator) -> float | None:
        """habitat's ``is_compatible_episode``: the geodesic distance, or None to reject."""
        if abs(s[1] - t[1]) > _MAX_HEIGHT_DIFFERENCE:
            return None
        d = float(self.navigation.geodesic_distance(s, t))
        if not math.isfinite(d) or not config.min_distance <= d <= config.max_distance:
            return None
        euclid = float(np.linalg.norm(s - t))
        ratio = d / euclid if euclid > 0 else math.inf
        if ratio < config.geodesic_to_euclid_ratio and rng.random() > 20.0 * (ratio - 0.98) ** 2:
            return None
        return d

    # ------------------------------------------------------------------------------- ObjectNav

    def objectnav_episode(self, rng: np.random.Generator, config: ObjectNavConfig = ObjectNavConfig(), episode_id: str | None = None) -> ObjectNavEpisode:
        """One ObjectNav episode (see the module doc). Raises ``KeyError`` for a configured category
        the scene lacks, ``ValueError`` when no candidate category has a visible, reachable instance."""
        candidates = self._candidate_categories(config)
        alive = list(candidates)
        nav = self.navigation
        for _ in range(config.max_attempts):
            if not alive:
                break
            category = alive[int(rng.integers(len(alive)))]
            goals = self.object_goals(category)
            if not goals:
                alive.remove(category)
                continue
            start = nav.sample_navigable_point(rng)
            per_goal = [float(nav.geodesic_distance(start, g.view_point_positions)) for g in goals]
            best = int(np.argmin(per_goal))
            d = per_goal[best]
            if not (math.isfinite(d) and config.min_distance <= d <= config.max_distance):
                continue
            euclid = min(float(np.linalg.norm(start - np.asarray(g.position))) for g in goals)
            return ObjectNavEpisode(
                episode_id=episode_id or self._episode_id("objectnav", start, np.asarray(goals[0].position)),
                scene_id=self.scene_id,
                start_position=tuple(start.tolist()),
                start_rotation=random_yaw_rotation(rng),
                object_category=category,
                goals=goals,
                info={"geodesic_distance": d, "euclidean_distance": euclid, "closest_goal_object_id": goals[best].object_id},
            )
        if not alive:
            raise ValueError(
                f"scene {self.scene_id!r}: none of the categories {candidates} has an instance visible from a "
                f"navigable point within {self.view_config.max_distance} m"
            )
        raise RuntimeError(
            f"no ObjectNav start with geodesic distance in [{config.min_distance}, {config.max_distance}] m found in "
            f"scene {self.scene_id!r} after {config.max_attempts} attempts"
        )

    def _candidate_categories(self, config: ObjectNavConfig) -> list[str]:
        if config.categories is None:
            cats = self.target_categories()
            if not cats:
                raise ValueError(f"scene {self.scene_id!r} has no object categories to navigate to")
            return cats
        for c in config.categories:
            self.scene.objects_of_category(c)  # KeyError naming the known categories
        return sorted(set(config.categories))

    # ------------------------------------------------------------------------------- instructions

    def instruction_episode(self, rng: np.random.Generator, config: InstructionConfig = InstructionConfig(), episode_id: str | None = None) -> InstructionEpisode:
        """One instruction episode (see the module doc)."""
        if not 1 <= config.min_subgoals <= config.max_subgoals:
            raise ValueError(f"need 1 <= min_subgoals <= max_subgoals, got {config.min_subgoals}, {config.max_subgoals}")
        rooms = self._rooms()
        categories = self.target_categories()
        if not rooms and not categories:
            raise ValueError(f"scene {self.scene_id!r} has neither rooms nor objects to build instructions from")
        nav = self.navigation
        for _ in range(config.max_attempts):
            k = int(rng.integers(config.min_subgoals, config.max_subgoals + 1))
            start = nav.sample_navigable_point(rng)
            subgoals: list[Subgoal] = []
            for _j in range(k):
                sg = self._draw_subgoal(rng, rooms, categories, config, subgoals[-1] if subgoals else None)
                if sg is None:
                    break
                subgoals.append(sg)
            if len(subgoals) != k:
                continue
            route = self._route(start, subgoals, config)
            if route is None:
                continue
            length, path = route
            text = instruction_text(subgoals, rng)
            return InstructionEpisode(
                episode_id=episode_id or self._episode_id("instruction", start, path[-1]),
                scene_id=self.scene_id,
                start_position=tuple(start.tolist()),
                start_rotation=random_yaw_rotation(rng),
                instruction=text,
                subgoals=tuple(subgoals),
                reference_path=tuple(tuple(float(c) for c in p) for p in path),
                info={"geodesic_distance": length},
            )
        raise RuntimeError(f"no valid instruction episode found in scene {self.scene_id!r} after {config.max_attempts} attempts")

    def _draw_subgoal(self, rng, rooms: list[str], categories: list[str], config: InstructionConfig, previous: Subgoal | None) -> Subgoal | None:
        for _ in range(8):
            use_room = bool(rooms) and (not categories or rng.random() < config.room_probability)
            if use_room:
                name = rooms[int(rng.integers(len(rooms)))]
                goals, extents = self.room_goals(name)
                sg = Subgoal(kind="room", target=name, goals=goals, extents=extents)
            else:
                category = categories[int(rng.integers(len(categories)))]
                goals_all = self.object_goals(category)
                if not goals_all:
                    continue
                chosen = goals_all[int(rng.integers(len(goals_all)))]
                color = self._disambiguating_color(self.scene.objects[int(chosen.object_id)])
                goals = self.object_goals(category, color) if color else goals_all
                sg = Subgoal(kind="object", target=category, color=color, goals=goals)
            if previous is not None and (sg.kind, sg.target, sg.color) == (previous.kind, previous.target, previous.color):
                continue
            return sg
        return None

    def _disambiguating_color(self, obj: SceneObject) -> str | None:
        """The object's colour when another instance of its category has a different one, else None."""
        if obj.color is None:
            return None
        others = [o for o in self.scene.objects_of_category(obj.category) if o.instance_id != obj.instance_id]
        return obj.color if any(o.color != obj.color for o in others) else None

    def _route(self, start: np.ndarray, subgoals: Sequence[Subgoal], config: InstructionConfig) -> tuple[float, list[np.ndarray]] | None:
        """The greedy in-order route: (length, waypoints), or None when a leg is unreachable or too
        short or the route too long. Each leg ends at the subgoal's target nearest (geodesic) among
        its ``_ROUTE_CANDIDATES`` targets nearest in a straight line."""
        nav = self.navigation
        current = np.asarray(start, dtype=np.float64)
        total = 0.0
        path = [current]
        for sg in subgoals:
            targets = sg.goal_positions
            if len(targets) == 0 or subgoal_distance(nav, sg, current) < config.min_leg_distance:
                return None
            order = np.argsort(np.linalg.norm(targets - current, axis=1), kind="stable")[:_ROUTE_CANDIDATES]
            # from each candidate back to ``current``: one fast-marching field (cached per goal) serves them all
            dists = [float(nav.geodesic_distance(targets[i], current)) for i in order]
            best = int(np.argmin(dists))
            if not math.isfinite(dists[best]):
                return None
            end = targets[order[best]]
            leg = nav.shortest_path(current, end)
            if len(leg) == 0:
                return None
            total += dists[best]
            path.extend(np.asarray(leg, dtype=np.float64)[1:])
            current = np.asarray(end, dtype=np.float64)
        if total > config.max_route_distance:
            return None
        return total, path

    # ------------------------------------------------------------------------------- batches

    def pointnav_episodes(self, n: int, rng: np.random.Generator, config: PointNavConfig = PointNavConfig()) -> list[PointNavEpisode]:
        """``n`` PointNav episodes with ids ``"<scene_id>:<i>"``."""
        return [self.pointnav_episode(rng, config, f"{self.scene_id}:{i}") for i in range(n)]

    def objectnav_episodes(self, n: int, rng: np.random.Generator, config: ObjectNavConfig = ObjectNavConfig()) -> list[ObjectNavEpisode]:
        """``n`` ObjectNav episodes with ids ``"<scene_id>:<i>"``."""
        return [self.objectnav_episode(rng, config, f"{self.scene_id}:{i}") for i in range(n)]

    def instruction_episodes(self, n: int, rng: np.random.Generator, config: InstructionConfig = InstructionConfig()) -> list[InstructionEpisode]:
        """``n`` instruction episodes with ids ``"<scene_id>:<i>"``."""
        return [self.instruction_episode(rng, config, f"{self.scene_id}:{i}") for i in range(n)]

    def _episode_id(self, task: str, start: np.ndarray, goal: np.ndarray) -> str:
        digest = hashlib.sha1(f"{task}:{np.round(start, 4).tolist()}:{np.round(goal, 4).tolist()}".encode()).hexdigest()[:10]
        return f"{self.scene_id}:{task}:{digest}"


# --------------------------------------------------------------------------------------------------
# instruction text

_ROOM_PHRASES = ("go to the {t}", "head to the {t}", "walk into the {t}", "enter the {t}", "make your way to the {t}")
_OBJECT_PHRASES = ("find the {t}", "go to the {t}", "walk over to the {t}", "navigate to the {t}", "look for the {t}")


def _clause(sg: Subgoal, rng: np.random.Generator) -> str:
    phrases = _ROOM_PHRASES if sg.kind == "room" else _OBJECT_PHRASES
    target = sg.target if sg.kind == "room" else (f"{sg.color} {sg.target}" if sg.color else sg.target)
    return phrases[int(rng.integers(len(phrases)))].format(t=target)


def instruction_text(subgoals: Sequence[Subgoal], rng: np.random.Generator) -> str:
    """An English instruction naming the subgoals in order, from one of several templates, e.g.
    ``"go to the kitchen, then find the red mug, then go to the sofa"``."""
    clauses = [_clause(sg, rng) for sg in subgoals]
    if len(clauses) == 1:
        return clauses[0]
    style = int(rng.integers(4))
    if style == 0:
        return ", then ".join(clauses)
    if style == 1:
        return "first " + ", then ".join(clauses[:-1]) + ", and finally " + clauses[-1]
    if style == 2:
        return ". ".join([clauses[0]] + [f"after that, {c}" for c in clauses[1:]])
    return ", and then ".join(clauses)
