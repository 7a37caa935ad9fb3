"""The ``Policy`` protocol and the pose helpers every policy shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.types import Action, Pose


@runtime_checkable
class Policy(Protocol):
    """Drives the agent towards a goal, one discrete action per call."""

    def reset(self) -> None:
        """Forget per-episode state."""

    def act(self, observation: Mapping[str, Any], goal: np.ndarray) -> Action:
        """The next action. ``observation`` is what the nav3d gymnasium env returns (it carries the
        agent's ``position`` (3,) and ``rotation`` [x, y, z, w]); ``goal`` a world point (3,), metres."""


def agent_pose_of(observation: Mapping[str, Any]) -> Pose:
    """The agent's world pose from an env observation (keys ``position`` and ``rotation``)."""
    try:
        return Pose(np.asarray(observation["position"]), np.asarray(observation["rotation"]))
    except KeyError as exc:
        raise KeyError(f"observation has no {exc.args[0]!r}; policies need the env's 'position' and 'rotation' keys") from None
