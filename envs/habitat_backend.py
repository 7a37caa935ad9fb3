"""``HabitatSimulator``: the ``Simulator`` protocol on habitat-sim, and ``HabitatNavigation`` on its
``PathFinder`` (navmesh).

habitat-sim is an optional dependency: it is imported only inside ``HabitatSimulator.__init__`` (and the
helpers it calls), so this module imports without it. Install it with conda
(``conda install habitat-sim -c conda-forge -c aihabitat``; ``habitat-sim headless`` for machines
without a display), then ``pip install -e '.[habitat]'`` adds habitat-lab.

Conventions: habitat-sim's world frame is nav3d's (metres, **Y up**, the agent faces **-Z** at zero
rotation), so positions pass through unchanged. Its cameras are OpenGL-style (x right, y up, looking
down -Z) like nav3d's, and its depth sensor returns the **z-distance** along the optical axis in metres
(0 where nothing was hit). Quaternions: habitat-sim's Python API uses ``numpy-quaternion`` (w first
internally) and magnum; nav3d and habitat's episode files store [x, y, z, w]; the conversion goes
through ``habitat_sim.utils.common.quat_from_coeffs`` / ``quat_to_coeffs``, which use [x, y, z, w].
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from envs.scene import SceneObject
from envs.simulator import AgentConfig, SensorConfig
from envs.types import Action, Frame, Pose

INSTALL_HINT = (
    "habitat-sim is not installed. Install it with conda: "
    "`conda install habitat-sim -c conda-forge -c aihabitat` (or `conda install habitat-sim headless "
    "-c conda-forge -c aihabitat` on machines without a display); then `pip install -e '.[habitat]'` "
    "adds habitat-lab. The default backend, EmbeddedSimulator, needs neither."
)

_RGB, _DEPTH, _SEMANTIC = "rgb", "depth", "semantic"
_ACTION_NAMES = {
    Action.MOVE_FORWARD: "move_forward",
    Action.TURN_LEFT: "turn_left",
    Action.TURN_RIGHT: "turn_right",
    Action.LOOK_UP: "look_up",
    Action.LOOK_DOWN: "look_down",
}
"""nav3d actions -> habitat-sim's registered move functions (``STOP`` moves nothing, so has none)."""


class HabitatNotInstalledError(ImportError):
    """habitat-sim is needed for ``HabitatSimulator`` but is not importable."""


def habitat_available() -> bool:
    """Whether ``habitat_sim`` can be imported (found on the path; not imported here)."""
    return importlib.util.find_spec("habitat_sim") is not None


def _vec3(point: np.ndarray) -> np.ndarray:
    """A (3,) float32 array, the type habitat-sim's bindings convert to a magnum Vector3."""
    return np.asarray(point, dtype=np.float32).reshape(3)


class HabitatNavigation:
    """The ``Navigation`` protocol on a ``habitat_sim.nav.PathFinder`` (the scene's navmesh).

    Points are world-frame (3,) metres at floor height. Habitat semantics: distances are ``math.inf``
    when no path exists; ``snap_point`` gives NaNs when no navmesh polygon is near enough.
    """

    def __init__(self, pathfinder: Any) -> None:
        self.pathfinder = pathfinder

    def is_navigable(self, point: np.ndarray) -> bool:
        """Whether ``point`` lies on the navmesh (within habitat's 0.5 m vertical tolerance)."""
        p = _vec3(point)
        return bool(np.isfinite(p).all() and self.pathfinder.is_navigable(p))

    def snap_point(self, point: np.ndarray) -> np.ndarray:
        """The nearest navmesh point (3,) float64; NaNs when habitat finds none."""
        p = _vec3(point)
        if not np.isfinite(p).all():
            return np.full(3, np.nan)
        return np.array(self.pathfinder.snap_point(p), dtype=np.float64).reshape(3)

    def sample_navigable_point(self, rng: np.random.Generator, island: int | None = None) -> np.ndarray:
        """A random navmesh point (uniform over area), optionally on island ``island``.

        habitat's sampler uses its own global C ``rand``; it is seeded from ``rng`` on every call, so
        results are reproducible for a seeded ``rng``. Raises ``RuntimeError`` when sampling fails.
        """
        self.pathfinder.seed(int(rng.integers(0, 2**31 - 1)))
        point = np.array(
            self.pathfinder.get_random_navigable_point(
                max_tries=100, island_index=-1 if island is None else int(island)
            ),
            dtype=np.float64,
        ).reshape(3)
        if not np.isfinite(point).all():
            raise RuntimeError(f"habitat's pathfinder found no navigable point (island={island})")
        return point

    def geodesic_distance(self, start: np.ndarray, goals: np.ndarray) -> float:
        """Walking distance (metres) from ``start`` to the nearest of ``goals`` ((3,) or (N, 3)) along
        the navmesh, via ``MultiGoalShortestPath``; ``math.inf`` when no goal is reachable."""
        import habitat_sim

        s = _vec3(start)
        ends = np.asarray(goals, dtype=np.float32).reshape(-1, 3)
        ends = ends[np.isfinite(ends).all(axis=1)]
        if not np.isfinite(s).all() or len(ends) == 0:
            return math.inf
        path = habitat_sim.MultiGoalShortestPath()
        path.requested_start = s
        path.requested_ends = ends
        if not self.pathfinder.find_path(path):
            return math.inf
        d = float(path.geodesic_distance)
        return d if math.isfinite(d) else math.inf

    def shortest_path(self, start: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Navmesh waypoints (K, 3) float64 from ``start`` to the nearest of ``goals`` ((3,) or
        (N, 3)), via ``MultiGoalShortestPath``; (0, 3) when unreachable."""
        import habitat_sim

        s = _vec3(start)
        ends = np.asarray(goals, dtype=np.float32).reshape(-1, 3)
        ends = ends[np.isfinite(ends).all(axis=1)]
        if not np.isfinite(s).all() or len(ends) == 0:
            return np.zeros((0, 3))
        path = habitat_sim.MultiGoalShortestPath()
        path.requested_start = s
        path.requested_ends = ends
        if not self.pathfinder.find_path(path) or len(path.points) == 0:
            return np.zeros((0, 3))
        return np.array([np.asarray(p, dtype=np.float64) for p in path.points]).reshape(-1, 3)

    def straight_line_clear(self, start: np.ndarray, end: np.ndarray) -> bool:
        """Whether ``try_step_no_sliding`` (habitat's collision filter without sliding) reaches ``end``."""
        s, e = _vec3(start), _vec3(end)
        reached = np.asarray(self.pathfinder.try_step_no_sliding(s, e), dtype=np.float64)
        return bool(np.linalg.norm(reached - e) < 1e-3)

    def island_of(self, point: np.ndarray) -> int:
        """The navmesh island (connected component) holding ``point``; -1 when it is not navigable.

        habitat's ``get_island`` snaps first, so navigability is checked before asking it.
        """
        if not self.is_navigable(point):
            return -1
        return int(self.pathfinder.get_island(_vec3(point)))


class HabitatSimulator:
    """One agent with RGB, depth and (optionally) semantic pinhole cameras in a habitat-sim scene.

    The three cameras share one pose, ``sensor_config.intrinsics`` and a mount ``sensor_height`` metres
    above the agent's feet. The navmesh is (re)computed for the agent's radius, height and max climb.
    ``reset`` takes the agent's pose (feet, camera level); frames carry world-from-camera poses.
    """

    def __init__(
        self,
        scene_path: str | Path,
        agent_config: AgentConfig = AgentConfig(),
        sensor_config: SensorConfig = SensorConfig(),
        gpu_device_id: int = 0,
    ) -> None:
        scene_path = Path(scene_path)
        if not scene_path.is_file():
            raise FileNotFoundError(f"habitat scene file not found: {scene_path}")
        try:
            import habitat_sim
            from habitat_sim.utils.common import quat_from_coeffs, quat_to_coeffs
        except ImportError as e:
            raise HabitatNotInstalledError(f"{INSTALL_HINT} (import error: {e})") from e
        self.scene_path = scene_path
        self.agent_config = agent_config
        self.sensor_config = sensor_config
        self._hs = habitat_sim
        self._quat_from_xyzw = quat_from_coeffs  # [x, y, z, w] -> numpy-quaternion
        self._quat_to_xyzw = quat_to_coeffs  # numpy-quaternion -> [x, y, z, w]
        self._sim = habitat_sim.Simulator(self._make_configuration(gpu_device_id))
        self._step = 0

    def _make_configuration(self, gpu_device_id: int) -> Any:
        """The ``habitat_sim.Configuration`` (cf. habitat-sim ``utils/settings.make_cfg`` and
        habitat-lab ``HabitatSim.create_sim_config``)."""
        import magnum as mn

        hs, a, s = self._hs, self.agent_config, self.sensor_config
        sim_cfg = hs.SimulatorConfiguration()
        sim_cfg.scene_id = str(self.scene_path)
        sim_cfg.gpu_device_id = int(gpu_device_id)
        sim_cfg.allow_sliding = bool(a.allow_sliding)
        sim_cfg.enable_physics = False
        sim_cfg.navmesh_settings = hs.nav.NavMeshSettings()
        sim_cfg.navmesh_settings.set_defaults()
        sim_cfg.navmesh_settings.agent_radius = float(a.radius)
        sim_cfg.navmesh_settings.agent_height = float(a.height)
        sim_cfg.navmesh_settings.agent_max_climb = float(a.max_climb)

        kinds = [(_RGB, hs.SensorType.COLOR), (_DEPTH, hs.SensorType.DEPTH)]
        if s.semantic:
            kinds.append((_SEMANTIC, hs.SensorType.SEMANTIC))
        specs = []
        for uuid, sensor_type in kinds:
            spec = hs.CameraSensorSpec()
            spec.uuid = uuid
            spec.sensor_type = sensor_type
            spec.sensor_subtype = hs.SensorSubType.PINHOLE
            spec.resolution = mn.Vector2i(s.height, s.width)  # rows, columns
            spec.position = mn.Vector3(0.0, a.sensor_height, 0.0)
            spec.hfov = float(s.hfov_deg)  # degrees
            specs.append(spec)

        # amounts: metres for move_forward, degrees for turns and tilts; the tilt is clamped to
        # +-max_tilt_deg by the actuation's ``constraint`` (habitat's default_controls._rotate_local).
        amounts = {
            "move_forward": (a.forward_step, None),
            "turn_left": (a.turn_angle_deg, None),
            "turn_right": (a.turn_angle_deg, None),
            "look_up": (a.tilt_angle_deg, a.max_tilt_deg),
            "look_down": (a.tilt_angle_deg, a.max_tilt_deg),
        }
        action_space = {
            name: hs.agent.ActionSpec(name, hs.agent.ActuationSpec(amount=float(amount), constraint=limit))
            for name, (amount, limit) in amounts.items()
        }
        agent_cfg = hs.agent.AgentConfiguration(
            height=float(a.height),
            radius=float(a.radius),
            sensor_specifications=specs,
            action_space=action_space,
        )
        return hs.Configuration(sim_cfg, [agent_cfg])

    # ---------------------------------------------------------------------------------------------

    @property
    def navigation(self) -> HabitatNavigation:
        """Navmesh queries (``habitat_sim.nav.PathFinder``) for the loaded scene."""
        return HabitatNavigation(self._sim.pathfinder)

    @property
    def _agent(self) -> Any:
        return self._sim.get_agent(0)

    @property
    def agent_pose(self) -> Pose:
        """World-from-agent-body; position at the feet (habitat's agent state)."""
        state = self._agent.get_state()
        return Pose(np.asarray(state.position, dtype=np.float64), self._to_xyzw(state.rotation))

    def _to_xyzw(self, q: Any) -> np.ndarray:
        return np.asarray(self._quat_to_xyzw(q), dtype=np.float64)

    def reset(self, pose: Pose) -> Frame:
        """Place the agent's feet at ``pose`` (camera level: the tilt is reset) and return frame 0."""
        state = self._hs.agent.AgentState(
            position=np.asarray(pose.position, dtype=np.float64),
            rotation=self._quat_from_xyzw(pose.rotation),
        )
        self._agent.set_state(state, reset_sensors=True, infer_sensor_states=True)
        self._step = 0
        return self._frame(self._sim.get_sensor_observations())

    def step(self, action: Action) -> tuple[Frame, bool]:
        """Apply ``action`` with ``sim.step``; returns the frame and habitat's ``collided`` flag.
        ``STOP`` leaves the agent in place and re-renders."""
        action = Action.parse(action)
        self._step += 1
        if action == Action.STOP:
            return self._frame(self._sim.get_sensor_observations()), False
        obs = self._sim.step(_ACTION_NAMES[action])
        return self._frame(obs), bool(obs.get("collided", False))

    def render(self, pose: Pose) -> Frame:
        """The frame a camera at ``pose`` (world-from-camera) sees. The sensors are moved there
        through the agent state's ``sensor_states`` and put back afterwards; the agent does not move.
        The frame's ``agent_pose`` is None."""
        hs = self._hs
        saved = self._agent.get_state()
        state = hs.agent.AgentState(position=saved.position, rotation=saved.rotation)
        for uuid in saved.sensor_states:
            state.sensor_states[uuid] = hs.agent.SixDOFPose(
                position=np.asarray(pose.position, dtype=np.float64),
                rotation=self._quat_from_xyzw(pose.rotation),
            )
        self._agent.set_state(state, reset_sensors=True, infer_sensor_states=False)
        try:
            obs = self._sim.get_sensor_observations()
        finally:
            self._agent.set_state(saved, reset_sensors=True, infer_sensor_states=False)
        return self._frame(obs, camera=pose, with_agent=False)

    def _frame(self, obs: dict, camera: Pose | None = None, with_agent: bool = True) -> Frame:
        """nav3d ``Frame`` from habitat observations: RGBA -> RGB uint8, depth (H, W) -> (H, W, 1)
        metres with 0 outside [min_depth, max_depth], semantic uint32 -> int32 instance ids."""
        s = self.sensor_config
        rgb = np.ascontiguousarray(np.asarray(obs[_RGB])[..., :3], dtype=np.uint8)
        depth = np.asarray(obs[_DEPTH], dtype=np.float32).reshape(s.height, s.width)
        depth = np.where((depth >= s.min_depth) & (depth <= s.max_depth), depth, 0.0).astype(np.float32)
        semantic = None
        if s.semantic:
            semantic = np.asarray(obs[_SEMANTIC]).reshape(s.height, s.width).astype(np.int32)
        state = self._agent.get_state()
        if camera is None:
            sensor = state.sensor_states[_RGB]
            camera = Pose(np.asarray(sensor.position, dtype=np.float64), self._to_xyzw(sensor.rotation))
        agent = None
        if with_agent:
            agent = Pose(np.asarray(state.position, dtype=np.float64), self._to_xyzw(state.rotation))
        return Frame(rgb, depth[..., None], semantic, camera, s.intrinsics, step=self._step, agent_pose=agent)

    def semantic_objects(self) -> dict[int, SceneObject]:
        """The scene's semantic objects (``sim.semantic_scene.objects``) by instance id (the id the
        semantic camera reports; ids <= 0 are skipped), with lower-case category names, world-frame
        axis-aligned boxes (metres) and the region's category name where known. Empty for a scene
        without semantic annotations."""
        scene = self._sim.semantic_scene
        out: dict[int, SceneObject] = {}
        for obj in (scene.objects if scene is not None else []):
            if obj is None or int(obj.semantic_id) <= 0:
                continue
            aabb = obj.aabb
            if hasattr(aabb, "min"):  # magnum Range3D (habitat-sim >= 0.3)
                lo, hi = np.array(aabb.min, dtype=np.float64), np.array(aabb.max, dtype=np.float64)
            else:  # older esp::geo box with center / sizes
                c, half = np.array(aabb.center, dtype=np.float64), np.array(aabb.sizes, dtype=np.float64) / 2
                lo, hi = c - half, c + half
            category = obj.category.name().strip().lower() if obj.category is not None else "unknown"
            region = None
            if getattr(obj, "region", None) is not None and obj.region.category is not None:
                region = obj.region.category.name().strip().lower() or None
            out[int(obj.semantic_id)] = SceneObject(int(obj.semantic_id), category or "unknown", lo, hi, None, region)
        return out

    def close(self) -> None:
        """Release the simulator (``sim.close()``); safe to call twice."""
        sim, self._sim = getattr(self, "_sim", None), None
        if sim is not None:
            sim.close()
