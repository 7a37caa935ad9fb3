"""Choosing a simulator backend for a scene id, and keeping the loaded one.

Backends: ``"embedded"`` (the default: open3d ray casting, any scene id nav3d reads),
``"habitat"`` (habitat-sim; mesh files only) and ``"auto"`` (habitat-sim when it is importable and
the scene is a file, else embedded).
"""

from __future__ import annotations

from envs.simulator import AgentConfig, SensorConfig, Simulator

BACKENDS = ("embedded", "habitat", "auto")


def make_simulator(scene_id: str, backend: str = "embedded", agent: AgentConfig = AgentConfig(), sensor: SensorConfig = SensorConfig(), up_axis: str = "y") -> Simulator:
    """A simulator for ``scene_id`` (a mesh path, or ``house:<seed>`` for a generated house)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from envs.habitat_backend import habitat_available
    from envs.house import parse_house_id

    is_file = parse_house_id(scene_id) is None
    if backend == "habitat" or (backend == "auto" and is_file and habitat_available()):
        if not is_file:
            raise ValueError(f"the habitat backend renders mesh files; {scene_id!r} is a generated house: use backend='embedded'")
        from envs.habitat_backend import HabitatSimulator

        return HabitatSimulator(scene_id, agent_config=agent, sensor_config=sensor)
    from envs.embedded import EmbeddedSimulator
    from envs.scene_io import resolve_scene

    return EmbeddedSimulator(resolve_scene(scene_id, up_axis=up_axis), agent_config=agent, sensor_config=sensor)


class SimulatorCache:
    """Holds the simulator of the last scene used; switching scenes closes it and loads the next."""

    def __init__(self, backend: str, agent: AgentConfig, sensor: SensorConfig) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.agent = agent
        self.sensor = sensor
        self._scene_id: str | None = None
        self._sim: Simulator | None = None

    def get(self, scene_id: str) -> Simulator:
        if scene_id != self._scene_id or self._sim is None:
            self.close()
            self._sim = make_simulator(scene_id, self.backend, self.agent, self.sensor)
            self._scene_id = scene_id
        return self._sim

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
        self._sim, self._scene_id = None, None
