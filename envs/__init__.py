"""envs: scenes, simulators (embedded CPU and habitat-sim), navigation tasks, measures and gymnasium envs.

Conventions (habitat-sim's): metres, radians; world Y up; the agent faces -Z at zero rotation;
quaternions [x, y, z, w]; depth is z-distance in metres (0 = no return). See ``envs.types``.

Importing ``envs`` registers ``nav3d/PointNav-v0``, ``nav3d/ObjectNav-v0`` and
``nav3d/Instruction-v0`` with gymnasium. ``envs`` imports none of nav3d's other packages.
"""

from envs.gym_env import InstructionEnv, NavEnv, ObjectNavEnv, PointNavEnv, register_envs
from envs.scene import Region, Scene, SceneObject
from envs.simulator import AgentConfig, Navigation, NavigationConfig, SensorConfig, Simulator
from envs.types import FORWARD_VECTOR, UP_VECTOR, Action, CameraIntrinsics, Frame, Pose

register_envs()

__all__ = [
    "Action",
    "AgentConfig",
    "CameraIntrinsics",
    "FORWARD_VECTOR",
    "Frame",
    "InstructionEnv",
    "NavEnv",
    "Navigation",
    "NavigationConfig",
    "ObjectNavEnv",
    "PointNavEnv",
    "Pose",
    "Region",
    "Scene",
    "SceneObject",
    "SensorConfig",
    "Simulator",
    "UP_VECTOR",
]
