"""Tests for ``envs.habitat_backend``.

habitat-sim is optional and is never faked here: without it these tests check the import guard and
the errors; with it installed, ``test_simple_room`` runs the real simulator on habitat's test scene.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.habitat_backend import (
    HabitatNavigation,
    HabitatNotInstalledError,
    HabitatSimulator,
    habitat_available,
)
from envs.navigation import NavGrid
from envs.simulator import AgentConfig, Navigation, SensorConfig, Simulator
from envs.types import Action, Pose

REPO = Path(__file__).resolve().parents[2]
SIMPLE_ROOM = REPO.parent / "shared" / "scenes" / "habitat-test-assets" / "simple_room.glb"


def test_habitat_available_matches_find_spec() -> None:
    assert habitat_available() == (importlib.util.find_spec("habitat_sim") is not None)


def test_module_imports_without_habitat_sim() -> None:
    """Importing the backend must not import habitat_sim or magnum (checked in a fresh interpreter)."""
    code = (
        "import sys, envs.habitat_backend as hb; "
        "assert 'habitat_sim' not in sys.modules, 'habitat_sim imported at module import'; "
        "assert 'magnum' not in sys.modules, 'magnum imported at module import'; "
        "print(hb.habitat_available())"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(habitat_available())


def test_missing_scene_raises_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_scene.glb"
    with pytest.raises(FileNotFoundError) as excinfo:
        HabitatSimulator(missing)
    assert str(missing) in str(excinfo.value)


@pytest.mark.skipif(habitat_available(), reason="habitat_sim is installed")
def test_missing_habitat_sim_raises_import_error_with_install_route(tmp_path: Path) -> None:
    scene = tmp_path / "scene.glb"
    scene.write_bytes(b"glTF")  # exists; never parsed because the import fails first
    with pytest.raises(ImportError) as excinfo:
        HabitatSimulator(scene)
    assert isinstance(excinfo.value, HabitatNotInstalledError)
    message = str(excinfo.value)
    assert "conda" in message
    assert "habitat-sim" in message
    assert "-c aihabitat" in message
    assert ".[habitat]" in message


def test_classes_have_the_protocol_members() -> None:
    """Structural check without an instance (one needs habitat_sim)."""
    for name in ("navigation", "agent_pose", "reset", "step", "render", "close"):
        assert hasattr(HabitatSimulator, name), name
    nav_methods = [n for n in vars(Navigation) if not n.startswith("_") and callable(getattr(Navigation, n))]
    assert "straight_line_clear" in nav_methods and "geodesic_distance" in nav_methods
    for name in nav_methods:
        theirs = inspect.signature(getattr(Navigation, name))
        for implementation in (HabitatNavigation, NavGrid):
            ours = inspect.signature(getattr(implementation, name))
            assert list(ours.parameters) == list(theirs.parameters), (implementation.__name__, name)
    params = inspect.signature(HabitatSimulator.__init__).parameters
    assert list(params) == ["self", "scene_path", "agent_config", "sensor_config", "gpu_device_id"]


@pytest.mark.skipif(not habitat_available(), reason="habitat_sim is not installed (conda only)")
def test_simple_room() -> None:
    if not SIMPLE_ROOM.is_file():
        pytest.skip(f"test scene not found: {SIMPLE_ROOM}")
    sensors = SensorConfig(width=64, height=48, hfov_deg=79.0, max_depth=10.0, semantic=True)
    sim = HabitatSimulator(SIMPLE_ROOM, AgentConfig(), sensors)
    try:
        assert isinstance(sim, Simulator)
        nav = sim.navigation
        assert isinstance(nav, Navigation)
        rng = np.random.default_rng(0)
        start = nav.sample_navigable_point(rng)
        assert start.shape == (3,) and nav.is_navigable(start)
        assert nav.island_of(start) >= 0

        frame = sim.reset(Pose.from_yaw(start, 0.3))
        assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (48, 64, 1) and frame.depth.dtype == np.float32
        assert frame.semantic is not None
        assert frame.semantic.shape == (48, 64) and frame.semantic.dtype == np.int32
        assert ((frame.depth == 0) | ((frame.depth >= 0) & (frame.depth <= 10.0))).all()
        assert frame.step == 0
        np.testing.assert_allclose(frame.agent_pose.position, start, atol=1e-4)
        np.testing.assert_allclose(frame.camera_pose.position, start + [0, 0.88, 0], atol=1e-4)
        assert abs(frame.camera_pose.yaw - 0.3) < 1e-4

        before = sim.agent_pose
        frame, collided = sim.step(Action.STOP)
        assert collided is False and frame.step == 1
        np.testing.assert_allclose(sim.agent_pose.position, before.position, atol=1e-6)
        frame, _ = sim.step(Action.TURN_LEFT)
        assert abs(math.remainder(sim.agent_pose.yaw - before.yaw - math.radians(30), math.tau)) < 1e-4
        frame, collided = sim.step(Action.MOVE_FORWARD)
        assert isinstance(collided, bool)

        pose_before_render = sim.agent_pose
        view = sim.render(Pose(start + [0, 1.2, 0]))
        assert view.rgb.shape == (48, 64, 3) and view.agent_pose is None
        np.testing.assert_allclose(sim.agent_pose.position, pose_before_render.position, atol=1e-6)

        assert nav.geodesic_distance(start, start) == pytest.approx(0.0, abs=1e-3)
        assert nav.geodesic_distance(start, np.array([np.nan, np.nan, np.nan])) == math.inf
        assert nav.shortest_path(start, np.array([np.nan, 0.0, 0.0])).shape == (0, 3)
        assert np.isnan(nav.snap_point(np.array([np.nan, 0.0, 0.0]))).all()
        assert isinstance(sim.semantic_objects(), dict)
    finally:
        sim.close()
