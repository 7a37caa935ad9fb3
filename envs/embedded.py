"""``EmbeddedSimulator``: the default CPU backend, rendering by ray casting with open3d (Embree).

Rendering (``envs.raycast``): the camera's rays are precomputed once in the camera frame with
z = -1, so the hit parameter of a ray *is* its z-depth; each frame rotates them into the world and
casts them all in one call. RGB is the face (or interpolated vertex) albedo shaded Lambertian with a light at the
camera; semantic is the hit face's instance id; depth is 0 where there is no hit or the hit lies
outside ``[min_depth, max_depth]`` (habitat's sensors clip; nav3d marks "no return" with 0).

Motion: the agent stands at floor height on the ``NavGrid``; ``move_forward`` succeeds when the
straight segment stays navigable, else it collides and (habitat's ``allow_sliding=False`` default)
stays put, or slides along the blocking axis when ``allow_sliding`` is set.
"""

from __future__ import annotations

import math

import numpy as np

from envs.navigation import NavGrid
from envs.raycast import SceneRaycaster
from envs.scene import Scene
from envs.simulator import AgentConfig, NavigationConfig, SensorConfig, camera_pose
from envs.types import Action, Frame, Pose

_AMBIENT = 0.35


class EmbeddedSimulator:
    """A Habitat-style simulator over a ``Scene`` that needs only pip packages (see module doc)."""

    def __init__(
        self,
        scene: Scene,
        agent_config: AgentConfig = AgentConfig(),
        sensor_config: SensorConfig = SensorConfig(),
        nav_config: NavigationConfig = NavigationConfig(),
        num_threads: int = 0,
    ) -> None:
        if sensor_config.max_depth <= sensor_config.min_depth:
            raise ValueError(f"SensorConfig: max_depth {sensor_config.max_depth} must exceed min_depth {sensor_config.min_depth}")
        self.scene = scene
        self.agent_config = agent_config
        self.sensor_config = sensor_config
        self.intrinsics = sensor_config.intrinsics
        self._raycaster = SceneRaycaster(scene, num_threads)
        self._navigation = NavGrid.from_scene(scene, agent_config, nav_config, raycaster=self._raycaster.raycasting_scene)
        self._camera_rays = SceneRaycaster.camera_rays(self.intrinsics)  # (H*W, 3), z = -1
        self._inv_ray_norm = (1.0 / np.linalg.norm(self._camera_rays, axis=1)).astype(np.float32)  # (H*W,)
        self._position = np.zeros(3)
        self._yaw = 0.0
        self._tilt = 0.0
        self._step = 0

    # ------------------------------------------------------------------------------- protocol

    @property
    def navigation(self) -> NavGrid:
        return self._navigation

    @property
    def agent_pose(self) -> Pose:
        return Pose.from_yaw(self._position, self._yaw)

    @property
    def tilt(self) -> float:
        """Camera pitch in radians (positive looks up)."""
        return self._tilt

    def reset(self, pose: Pose) -> Frame:
        """Place the agent's feet at ``pose`` (heading taken from its yaw), level the camera and
        return frame 0. Raises ``ValueError`` when the position is not navigable."""
        if not self._navigation.is_navigable(pose.position):
            snapped = self._navigation.snap_point(pose.position)
            raise ValueError(
                f"start position {np.round(pose.position, 3).tolist()} is not navigable in scene "
                f"{self.scene.name!r} (nearest navigable point: {np.round(snapped, 3).tolist()})"
            )
        self._position = np.array([pose.position[0], self._navigation.floor_height, pose.position[2]])
        self._yaw = pose.yaw
        self._tilt = 0.0
        self._step = 0
        return self._observe()

    def step(self, action: Action | int | str) -> tuple[Frame, bool]:
        """Apply one action; returns the new frame and whether the agent collided."""
        action = Action.parse(action)
        a = self.agent_config
        collided = False
        if action == Action.MOVE_FORWARD:
            collided = self._move_forward(a.forward_step)
        elif action == Action.TURN_LEFT:
            self._yaw = _wrap_angle(self._yaw + math.radians(a.turn_angle_deg))
        elif action == Action.TURN_RIGHT:
            self._yaw = _wrap_angle(self._yaw - math.radians(a.turn_angle_deg))
        elif action in (Action.LOOK_UP, Action.LOOK_DOWN):
            sign = 1.0 if action == Action.LOOK_UP else -1.0
            limit = math.radians(a.max_tilt_deg)
            self._tilt = float(np.clip(self._tilt + sign * math.radians(a.tilt_angle_deg), -limit, limit))
        self._step += 1
        return self._observe(), collided

    def render(self, pose: Pose) -> Frame:
        """The frame seen by a camera at ``pose`` (world-from-camera); the agent does not move."""
        rgb, depth, semantic = self._cast(pose)
        return Frame(rgb, depth, semantic, pose, self.intrinsics, step=self._step, agent_pose=None)

    def close(self) -> None:
        self._raycaster = None

    # ------------------------------------------------------------------------------- internals

    def camera_pose(self) -> Pose:
        """World-from-camera of the agent's sensor now."""
        return camera_pose(self.agent_pose, self.agent_config.sensor_height, self._tilt)

    def _observe(self) -> Frame:
        cam = self.camera_pose()
        rgb, depth, semantic = self._cast(cam)
        return Frame(rgb, depth, semantic, cam, self.intrinsics, step=self._step, agent_pose=self.agent_pose)

    def _cast(self, cam: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        h, w = self.intrinsics.height, self.intrinsics.width
        hits = self._raycaster.cast(cam, self._camera_rays)
        s = self.sensor_config
        t = hits.depth
        depth = np.where((t >= s.min_depth) & (t <= s.max_depth), t, np.float32(0.0)).reshape(h, w, 1)
        # Lambertian with a light at the camera: |n . view direction| (normals are 0 on a miss)
        n, d = hits.normals, hits.directions
        cos = np.abs(n[:, 0] * d[:, 0] + n[:, 1] * d[:, 1] + n[:, 2] * d[:, 2])
        shade = (_AMBIENT + (1.0 - _AMBIENT) * self._inv_ray_norm * cos)[:, None]  # (H*W, 1)
        rgb = (self._raycaster.albedo(hits) * shade).astype(np.uint8)[:, :3].reshape(h, w, 3)
        semantic = self._raycaster.instance_ids(hits.face).reshape(h, w) if s.semantic else None
        return rgb, depth, semantic

    def _move_forward(self, distance: float) -> bool:
        """Move along the heading; returns whether the move collided."""
        nav = self._navigation
        heading = self.agent_pose.forward
        target = self._position + heading * distance
        target[1] = nav.floor_height
        if nav.straight_line_clear(self._position, target):
            self._position = target
            return False
        if self.agent_config.allow_sliding:
            self._position = self._slide(heading * distance)
        return True

    def _slide(self, move: np.ndarray) -> np.ndarray:
        """The farthest reachable of the move's x-only and z-only components (or staying put)."""
        nav = self._navigation
        best, best_len = self._position, 0.0
        for axis in (0, 2):
            partial = np.zeros(3)
            partial[axis] = move[axis]
            candidate = self._position + partial
            if abs(move[axis]) > best_len and nav.straight_line_clear(self._position, candidate):
                best, best_len = candidate, abs(move[axis])
        return best


def _wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
