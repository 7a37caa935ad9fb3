"""The ``Simulator`` and ``Navigation`` protocols and the configuration both backends share.

Two backends implement them: ``EmbeddedSimulator`` (open3d ray casting, the default, CPU only) and
``HabitatSimulator`` (habitat_sim, imported inside its constructor). Defaults follow habitat-lab's
ObjectNav config: hfov 79 deg, camera at 0.88 m, agent radius 0.18 m and height 0.88 m, turns of
30 deg, forward steps of 0.25 m, no sliding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from envs.types import Action, CameraIntrinsics, Frame, Pose


@dataclass(frozen=True)
class AgentConfig:
    """The agent's body and action magnitudes (metres, degrees as habitat's configs give them)."""

    radius: float = 0.18
    height: float = 0.88
    sensor_height: float = 0.88
    forward_step: float = 0.25
    turn_angle_deg: float = 30.0
    tilt_angle_deg: float = 30.0
    max_tilt_deg: float = 60.0
    max_climb: float = 0.2
    """The largest floor step (metres) the agent walks over."""
    allow_sliding: bool = False
    """habitat-sim's ``allow_sliding``: on a collision, slide along the obstacle instead of stopping."""


@dataclass(frozen=True)
class SensorConfig:
    """The RGB, depth and semantic cameras (all share one pose and intrinsics)."""

    width: int = 256
    height: int = 256
    hfov_deg: float = 79.0
    min_depth: float = 0.0
    max_depth: float = 10.0
    semantic: bool = True

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics.from_hfov_degrees(self.width, self.height, self.hfov_deg)


@dataclass(frozen=True)
class NavigationConfig:
    """How navigability is computed from a mesh: cell size (metres) and the floor height.

    ``floor_height`` None picks the height holding the most upward-facing surface area.
    """

    cell_size: float = 0.05
    floor_height: float | None = None


@runtime_checkable
class Navigation(Protocol):
    """Navigability queries on one floor. Points are world-frame (3,) metres at floor height."""

    def is_navigable(self, point: np.ndarray) -> bool:
        """Whether the agent can stand at ``point``."""

    def snap_point(self, point: np.ndarray) -> np.ndarray:
        """The navigable point nearest to ``point`` (NaNs when there is none)."""

    def sample_navigable_point(self, rng: np.random.Generator, island: int | None = None) -> np.ndarray:
        """A uniformly random navigable point (optionally on one island)."""

    def geodesic_distance(self, start: np.ndarray, goals: np.ndarray) -> float:
        """Shortest walking distance from ``start`` to the nearest of ``goals`` ((3,) or (N, 3));
        ``math.inf`` when no goal is reachable."""

    def shortest_path(self, start: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Waypoints (K, 3) from ``start`` to the nearest of ``goals`` ((3,) or (N, 3)); empty (0, 3)
        when unreachable."""

    def straight_line_clear(self, start: np.ndarray, end: np.ndarray) -> bool:
        """Whether the agent can walk the straight segment start -> end without colliding."""

    def island_of(self, point: np.ndarray) -> int:
        """The id of the connected navigable component holding ``point`` (-1 when not navigable)."""


@runtime_checkable
class Simulator(Protocol):
    """An agent in a scene with RGB-D (+ semantic) sensors and discrete actions."""

    agent_config: AgentConfig
    sensor_config: SensorConfig

    @property
    def navigation(self) -> Navigation:
        """Navigability and geodesic queries for the loaded scene."""

    @property
    def agent_pose(self) -> Pose:
        """World-from-agent-body; the position is at the agent's feet."""

    def reset(self, pose: Pose) -> Frame:
        """Place the agent's feet at ``pose`` (camera level, tilt 0) and return the first frame (step 0)."""

    def step(self, action: Action) -> tuple[Frame, bool]:
        """Apply ``action``; return the new frame and whether the move collided."""

    def render(self, pose: Pose) -> Frame:
        """The frame a camera at ``pose`` (world-from-camera) sees; does not move the agent."""

    def close(self) -> None:
        """Release what the backend holds."""


def camera_pose(agent: Pose, sensor_height: float, tilt: float) -> Pose:
    """World-from-camera for an agent pose, a sensor ``sensor_height`` metres above the feet and a
    camera ``tilt`` (radians, positive looks up)."""
    pitch = np.array([math.sin(tilt / 2.0), 0.0, 0.0, math.cos(tilt / 2.0)])
    return agent.compose(Pose(np.array([0.0, sensor_height, 0.0]), pitch))
