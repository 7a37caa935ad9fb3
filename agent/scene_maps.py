"""The 3D features a 3D-LLM training record refers to: a scene explored and mapped as the agent maps it.

``explore_and_map`` runs a deterministic exploration rollout on a simulator and integrates every
frame into the chosen ``FeatureMap`` construction (``"neural"``, the agent's default, ``"fusion"``
or ``"pointcloud"``; or ``"multiview"``, the 2D baseline's image tokens) with
``SemanticTextExtractor`` features, exactly as the agent integrates its frames online; the map's
``points_and_features(n)`` (what the 3D-LLM reads) is kept as :class:`SceneFeatures`, saved as one
``.npz`` per scene.

Exploration rollout (world frame Y up, metres, yaw 0 = facing -Z, positive = turned left):

1. For every region (room) in ``scene.regions`` order, its *anchor*: the navigable point on the
   navigation grid's largest island nearest the region's centre among the points of an
   ``anchor_spacing`` lattice inside the region (``room_anchor``). Rooms without one are skipped
   (listed in ``SceneFeatures.info["rooms_skipped"]``).
2. At each anchor the agent turns 360 degrees in place: ``views_per_room`` headings ``360 /
   views_per_room`` degrees apart, starting at a yaw drawn from ``seed`` per room.
3. The agent moves between rooms (and between headings) by **teleporting**: ``Simulator.reset`` at
   each pose. Each reset returns the frame seen from that pose (camera level, at the agent's sensor
   height), the same frame a ``TURN_LEFT`` of that angle would give, so the map sees every room from
   its middle without frames spent walking between rooms.
4. A scene without regions (or none with an anchor) is explored from ``fallback_viewpoints``
   navigable points of the largest island drawn from ``seed`` instead.
5. ``max_frames`` (when set) keeps the first poses in that order.

The location codec is ``LocationCodec.from_points`` over all of the map's points (``points()``),
grown by ``codec_margin`` metres so that floor-level waypoints and points the sampling missed stay
inside: ``map_codec`` is the function the agent should use on its own map at run time.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.location_codec import DEFAULT_BINS, LocationCodec
from envs.files import atomic_write_bytes
from envs.scene import Region, Scene
from envs.simulator import Navigation, Simulator
from envs.types import Pose
from perception.maps import MapConfig

CONSTRUCTIONS: dict[str, tuple[str, str]] = {
    "neural": ("perception.neural_field_map", "NeuralFieldMap"),
    "fusion": ("perception.fusion_map", "FusionMap"),
    "pointcloud": ("perception.pointcloud_map", "PointCloudMap"),
}
"""Construction name -> (module, class) of a ``FeatureMap`` taking (extractor, MapConfig)."""

SCENE_INPUTS: dict[str, tuple[str, str]] = {
    **CONSTRUCTIONS,
    "multiview": ("perception.multiview_features", "MultiViewImageFeatures"),
}
"""What a 3D-LLM's training scenes can be read as: a map construction, or ``multiview``, image patch
tokens with no 3D lifting (the 2D baseline of 3D-LLM's ablation; not a map an agent can plan on)."""

SCENE_FEATURES_VERSION = 1


@dataclass(frozen=True)
class ExplorationConfig:
    """The exploration rollout and what is kept of its map (pixels, metres).

    - ``size``: square frame side in pixels.
    - ``views_per_room``: headings of the turn in place at each room anchor.
    - ``max_frames``: keep at most this many frames (the first poses); None keeps all.
    - ``anchor_spacing``: lattice step (metres) of the candidate room anchors.
    - ``fallback_viewpoints``: for a scene without regions (or none with an anchor), the turns in
      place happen at this many random navigable points of the largest island instead.
    - ``points``: ``n`` of ``points_and_features(n)``, the points kept for the 3D-LLM.
    - ``bins``: location bins per axis of the codec.
    - ``codec_margin``: metres the codec's bounds grow beyond the map's points.
    - ``map``: the ``MapConfig`` of the map (the agent's own at run time should match it).
    """

    size: int = 128
    views_per_room: int = 6
    max_frames: int | None = None
    anchor_spacing: float = 0.1
    fallback_viewpoints: int = 8
    points: int = 1024
    bins: int = DEFAULT_BINS
    codec_margin: float = 0.1
    map: MapConfig = field(default_factory=MapConfig)

    def __post_init__(self) -> None:
        if isinstance(self.map, dict):  # from a saved header
            object.__setattr__(self, "map", MapConfig(**self.map))
        for name in ("size", "views_per_room", "points", "fallback_viewpoints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ExplorationConfig.{name} must be an integer >= 1, got {value!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"ExplorationConfig.max_frames must be >= 1 or None, got {self.max_frames!r}")
        if not self.anchor_spacing > 0:
            raise ValueError(f"ExplorationConfig.anchor_spacing must be positive metres, got {self.anchor_spacing}")
        if not (math.isfinite(self.codec_margin) and self.codec_margin >= 0):
            raise ValueError(f"ExplorationConfig.codec_margin must be finite metres >= 0, got {self.codec_margin}")
        if isinstance(self.bins, bool) or not isinstance(self.bins, (int, np.integer)) or self.bins < 2:
            raise ValueError(f"ExplorationConfig.bins must be an integer >= 2, got {self.bins!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_construction(construction: str, choices: dict[str, tuple[str, str]] = CONSTRUCTIONS) -> str:
    """``construction`` if it names one of ``choices`` (the map constructions; ``SCENE_INPUTS`` for a
    3D-LLM's training scenes), else a ``ValueError`` listing them."""
    if construction not in choices:
        raise ValueError(f"unknown map construction {construction!r}; choose one of {', '.join(choices)}")
    return construction


def map_file_name(scene_id: str) -> str:
    """A file name for a scene's features: ``house:3`` -> ``house_3.npz``; other ids keep their safe
    characters and get a short hash so distinct ids never share a name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", scene_id).strip("._") or "scene"
    if re.fullmatch(r"house:\d+", scene_id):
        return f"{safe}.npz"
    digest = hashlib.sha1(scene_id.encode("utf-8")).hexdigest()[:8]
    return f"{safe[-80:]}-{digest}.npz"


def map_codec(points: np.ndarray, bins: int = DEFAULT_BINS, margin: float = 0.1) -> LocationCodec:
    """The location codec over a map's points (N, 3) (world metres), grown by ``margin`` metres."""
    return LocationCodec.from_points(np.asarray(points, dtype=np.float64), bins=bins, margin=margin)


# --------------------------------------------------------------------------------------------------
# rooms and the rollout


def room_anchor(navigation: Navigation, region: Region, island: int | None = None, spacing: float = 0.1) -> np.ndarray | None:
    """The navigable point (3,) at floor height inside ``region`` (x/z) nearest its centre, among the
    points of a ``spacing`` lattice (metres, multiples of ``spacing``), optionally only on
    ``island``; None when the region holds no such point."""
    lo, hi = np.asarray(region.bbox_min, float), np.asarray(region.bbox_max, float)
    centre = (lo + hi) / 2.0
    snapped = navigation.snap_point(centre)
    if not np.isfinite(snapped).all():
        return None
    xs = np.arange(math.ceil(lo[0] / spacing - 1e-9), math.floor(hi[0] / spacing + 1e-9) + 1) * spacing
    zs = np.arange(math.ceil(lo[2] / spacing - 1e-9), math.floor(hi[2] / spacing + 1e-9) + 1) * spacing
    if len(xs) == 0 or len(zs) == 0:
        return None
    zz, xx = np.meshgrid(zs, xs, indexing="ij")
    cands = np.stack([xx.ravel(), np.full(xx.size, snapped[1]), zz.ravel()], axis=1)
    d = np.hypot(cands[:, 0] - centre[0], cands[:, 2] - centre[2])
    for i in np.argsort(d, kind="stable"):
        p = cands[i]
        if navigation.is_navigable(p) and (island is None or navigation.island_of(p) == island):
            return p.copy()
    return None


def largest_island(navigation: Navigation) -> int | None:
    """The navigation's largest island id when it knows islands (``NavGrid``), else None."""
    largest = getattr(navigation, "largest_island", None)
    return int(largest()) if callable(largest) else None


@dataclass(frozen=True)
class ExplorationPlan:
    """The rollout's poses (agent body, feet at floor height), the room of each, and the rooms that
    had no anchor."""

    poses: tuple[Pose, ...]
    rooms: tuple[str, ...]
    skipped: tuple[str, ...]


def exploration_plan(scene: Scene, navigation: Navigation, config: ExplorationConfig = ExplorationConfig(), seed: int = 0) -> ExplorationPlan:
    """The poses of the exploration rollout (see the module doc), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    island = largest_island(navigation)
    poses: list[Pose] = []
    rooms: list[str] = []
    skipped: list[str] = []
    step = 2.0 * math.pi / config.views_per_room
    for region in scene.regions:
        yaw0 = float(rng.uniform(0.0, 2.0 * math.pi))  # drawn for every region, so skips never shift the others
        anchor = room_anchor(navigation, region, island, config.anchor_spacing)
        if anchor is None:
            skipped.append(region.name)
            continue
        for k in range(config.views_per_room):
            yaw = (yaw0 + k * step + math.pi) % (2.0 * math.pi) - math.pi
            poses.append(Pose.from_yaw(anchor, yaw))
            rooms.append(region.name)
    if not poses:  # no regions (or none reachable): random navigable points of the largest island
        for k in range(config.fallback_viewpoints):
            try:
                anchor = navigation.sample_navigable_point(rng, island)
            except ValueError as exc:
                raise ValueError(f"scene {scene.name!r} has no navigable point to explore from ({exc}); is its floor walkable?") from exc
            yaw0 = float(rng.uniform(0.0, 2.0 * math.pi))
            for j in range(config.views_per_room):
                poses.append(Pose.from_yaw(anchor, (yaw0 + j * step + math.pi) % (2.0 * math.pi) - math.pi))
                rooms.append(f"viewpoint {k}")
    if config.max_frames is not None:
        poses, rooms = poses[: config.max_frames], rooms[: config.max_frames]
    return ExplorationPlan(tuple(poses), tuple(rooms), tuple(skipped))


# --------------------------------------------------------------------------------------------------
# the features


@dataclass(frozen=True)
class SceneFeatures:
    """What the 3D-LLM reads of one scene's map.

    - ``points``: (N, 3) float32 world metres (Y up), spread over the map by farthest-point sampling.
    - ``features``: (N, C) float16 features at those points (float16 halves the files).
    - ``construction``: the map construction that produced them.
    - ``codec``: the location codec over the map's bounds (``map_codec``).
    - ``info``: how they were made (exploration config, seed, frames, rooms, seconds).
    """

    scene_id: str
    construction: str
    points: np.ndarray
    features: np.ndarray
    codec: LocationCodec
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        points = np.ascontiguousarray(self.points, dtype=np.float32)
        features = np.ascontiguousarray(self.features, dtype=np.float16)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"SceneFeatures {self.scene_id!r}: points must be (N, 3), got {points.shape}")
        if features.ndim != 2 or len(features) != len(points):
            raise ValueError(f"SceneFeatures {self.scene_id!r}: features must be (N, C) with N = {len(points)}, got {features.shape}")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "features", features)

    @property
    def feature_dim(self) -> int:
        """C, the feature size."""
        return int(self.features.shape[1])

    def header(self) -> dict[str, Any]:
        return {
            "version": SCENE_FEATURES_VERSION,
            "scene_id": self.scene_id,
            "construction": self.construction,
            "feature_dim": self.feature_dim,
            "codec": self.codec.to_dict(),
            "info": self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (points, features, a JSON header; no pickle) atomically."""
        buffer = io.BytesIO()
        header = np.frombuffer(json.dumps(self.header()).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(buffer, header=header, points=self.points, features=self.features)
        return atomic_write_bytes(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "SceneFeatures":
        """Features saved by ``save``; raises ``FileNotFoundError``/``ValueError`` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"scene features file {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(data["header"].tobytes().decode("utf-8"))
                points, features = data["points"], data["features"]
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not a nav3d scene features file ({type(exc).__name__}: {exc})") from exc
        if header.get("version") != SCENE_FEATURES_VERSION:
            raise ValueError(f"{str(path)!r} has scene features version {header.get('version')}, this nav3d reads {SCENE_FEATURES_VERSION}")
        return cls(header["scene_id"], header["construction"], points, features, LocationCodec.from_dict(header["codec"]), header.get("info", {}))


def read_features_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a saved :class:`SceneFeatures` (without reading its arrays)."""
    with np.load(Path(path), allow_pickle=False) as data:
        return json.loads(data["header"].tobytes().decode("utf-8"))


def new_feature_map(construction: str, extractor, map_config: MapConfig, seed: int = 0, training=None):
    """An empty ``FeatureMap`` of ``construction``, or of any ``SCENE_INPUTS`` name (the neural
    field's initialisation and ray sampling seeded by ``seed``; its training run by ``training``, a
    ``perception.field_training`` kind, inline by default; the others have no training to place)."""
    module, name = SCENE_INPUTS[check_construction(construction, SCENE_INPUTS)]
    cls = getattr(importlib.import_module(module), name)
    if construction == "neural":
        from perception.neural_field_map import NeuralFieldConfig

        return cls(extractor, map_config, NeuralFieldConfig(seed=int(seed)), training=training)
    return cls(extractor, map_config)


def explore_and_map(
    scene: Scene,
    construction: str = "neural",
    config: ExplorationConfig = ExplorationConfig(),
    seed: int = 0,
    encoder=None,
    simulator: Simulator | None = None,
    scene_id: str | None = None,
) -> SceneFeatures:
    """Explore ``scene`` (see the module doc), integrate every frame into a ``construction`` map with
    ``SemanticTextExtractor`` features and return its ``points_and_features(config.points)``.

    ``encoder``: a ``SentenceEncoder`` (default: the shipped all-MiniLM-L6-v2; pass one to load it
    once for many scenes). ``simulator``: an ``EmbeddedSimulator`` of ``scene`` whose frames are
    ``config.size`` square (default: one is built). Deterministic in ``seed``.
    """
    t0 = time.perf_counter()
    explored = explore(scene, construction, config, seed, encoder, simulator)
    feature_map = explored.map
    t_read = time.perf_counter()
    bounds = feature_map.bounds()
    if bounds is None:
        raise ValueError(f"scene {scene.name!r}: the exploration saw no surface (no valid depth in {len(explored.plan.poses)} frames)")
    points, features = feature_map.points_and_features(config.points)
    codec = map_codec(bounds, config.bins, config.codec_margin)
    t_end = time.perf_counter()
    info = {
        "exploration": config.to_dict(),
        "seed": int(seed),
        "frames": len(explored.plan.poses),
        "rooms_visited": sorted(set(explored.plan.rooms)),
        "rooms_skipped": list(explored.plan.skipped),
        "objects_seen": len(explored.seen & set(scene.objects)),
        "objects_total": len(scene.objects),
        "map_points": int(len(feature_map.points())),
        "seconds": {"setup": round(explored.setup_seconds, 3), "integrate": round(t_read - t0 - explored.setup_seconds, 3), "readout": round(t_end - t_read, 3)},
    }
    return SceneFeatures(scene_id or scene.name, construction, points, features, codec, info)


@dataclass
class Exploration:
    """An explored scene: the ``FeatureMap`` holding every frame, the ``ExplorationPlan`` walked, the
    semantic ids seen, and the seconds spent before the first frame (simulator, encoder, plan)."""

    map: Any
    plan: ExplorationPlan
    seen: set[int]
    setup_seconds: float


def explore(
    scene: Scene,
    construction: str = "neural",
    config: ExplorationConfig = ExplorationConfig(),
    seed: int = 0,
    encoder=None,
    simulator: Simulator | None = None,
) -> Exploration:
    """Walk the exploration plan of ``scene`` and integrate every frame into a new ``construction``
    map (any ``SCENE_INPUTS`` name) with ``SemanticTextExtractor`` features (arguments as
    ``explore_and_map``)."""
    check_construction(construction, SCENE_INPUTS)
    from perception.semantic_text import SemanticTextExtractor

    t0 = time.perf_counter()
    if simulator is None:
        simulator = exploration_simulator(scene, config)
    sensor = simulator.sensor_config
    if (sensor.width, sensor.height) != (config.size, config.size):
        raise ValueError(
            f"the simulator renders {sensor.width}x{sensor.height} frames but ExplorationConfig.size is {config.size}; "
            "build it with exploration_simulator(scene, config)"
        )
    if not sensor.semantic:
        raise ValueError("the simulator has no semantic sensor; SemanticTextExtractor needs SensorConfig(semantic=True)")
    if encoder is None:
        from perception.text_encoder import SentenceEncoder

        encoder = SentenceEncoder.from_path()
    extractor = SemanticTextExtractor.from_scene(scene, encoder)
    plan = exploration_plan(scene, simulator.navigation, config, seed)
    feature_map = new_feature_map(construction, extractor, config.map, seed)
    setup = time.perf_counter() - t0
    seen: set[int] = set()
    for pose in plan.poses:
        frame = simulator.reset(pose)
        feature_map.integrate(frame, extractor(frame))
        seen.update(np.unique(frame.semantic).tolist())
    return Exploration(feature_map, plan, seen, setup)


def exploration_simulator(scene: Scene, config: ExplorationConfig = ExplorationConfig()):
    """An ``EmbeddedSimulator`` of ``scene`` rendering ``config.size`` square frames (default agent)."""
    from envs.embedded import EmbeddedSimulator
    from envs.simulator import SensorConfig

    return EmbeddedSimulator(scene, sensor_config=SensorConfig(width=config.size, height=config.size))
