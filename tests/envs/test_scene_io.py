"""Loading mesh files nobody here made (habitat-sim's test assets) and files with semantics."""

import json
from pathlib import Path

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.scene_io import load_scene, resolve_scene
from envs.simulator import SensorConfig
from envs.types import Pose

ASSETS = Path(__file__).resolve().parents[2].parent / "shared" / "scenes" / "habitat-test-assets"
needs_assets = pytest.mark.skipif(not ASSETS.exists(), reason=f"habitat test assets not found at {ASSETS} (../shared is absent in a fresh clone)")


@needs_assets
def test_simple_room_is_z_up_and_loads_with_the_up_axis_option():
    raw = load_scene(ASSETS / "simple_room.glb")
    lo, hi = raw.bounds
    assert hi[2] - lo[2] < 2.5 < hi[1] - lo[1]  # 2.2 m tall along the file's Z
    scene = load_scene(ASSETS / "simple_room.glb", up_axis="z")
    lo, hi = scene.bounds
    assert hi[1] - lo[1] == pytest.approx(2.2, abs=0.05)
    assert hi[0] - lo[0] == pytest.approx(10.5, abs=0.1) and hi[2] - lo[2] == pytest.approx(10.9, abs=0.1)
    assert len(scene.faces) == 84


@needs_assets
def test_stage_floor_renders_and_is_navigable():
    scene = load_scene(ASSETS / "stage_floor1.glb")
    assert len(scene.faces) == 2048
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=32, height=32))
    nav = sim.navigation
    assert 0.3 < nav.navigable.mean() < 0.95  # a floor with obstacles on it
    p = nav.sample_navigable_point(np.random.default_rng(1), nav.largest_island())
    frame = sim.reset(Pose.from_yaw(p, 0.0))
    assert (frame.depth > 0).mean() > 0.3 and frame.rgb.max() > 0


@needs_assets
def test_chair_with_texture_gets_vertex_colours():
    scene = load_scene(ASSETS / "chair.glb")
    assert scene.vertex_colors is not None and scene.vertex_colors.std() > 0


def test_ply_object_ids_and_semantic_info(tmp_path):
    # two triangles of object 7 ("Chair") and one of object 0 (unlabelled), ASCII PLY as habitat writes
    header = [
        "ply", "format ascii 1.0", "element vertex 4", "property float x", "property float y", "property float z",
        "element face 3", "property list uchar int vertex_indices", "property int object_id", "end_header",
    ]
    body = ["0 0 0", "1 0 0", "1 0 1", "0 0 1", "3 0 1 2 7", "3 0 2 3 7", "3 1 2 3 0"]
    (tmp_path / "m.ply").write_text("\n".join(header + body) + "\n")
    (tmp_path / "info.json").write_text(json.dumps({"objects": [{"id": 7, "class_name": "Chair"}]}))
    scene = load_scene(tmp_path / "m.ply", semantic_info=tmp_path / "info.json")
    assert scene.face_instance.tolist() == [7, 7, 0]
    assert scene.objects[7].category == "chair"
    np.testing.assert_allclose(scene.objects[7].bbox_max, [1, 0, 1])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.glb"):
        load_scene(tmp_path / "nope.glb")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"this is not a glb")
    with pytest.raises(ValueError, match="bad.glb"):
        load_scene(bad)


def test_unsupported_format_and_up_axis(tmp_path):
    (tmp_path / "a.stl").write_text("solid")
    with pytest.raises(ValueError, match="unsupported format"):
        load_scene(tmp_path / "a.stl")
    with pytest.raises(ValueError, match="up_axis"):
        load_scene(tmp_path / "a.stl", up_axis="x")


def test_bad_semantic_info(tmp_path):
    header = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    faces = "element face 1\nproperty list uchar int vertex_indices\nproperty int object_id\nend_header\n"
    (tmp_path / "m.ply").write_text(header + faces + "0 0 0\n1 0 0\n1 0 1\n3 0 1 2 4\n")
    (tmp_path / "info.json").write_text("{not json")
    with pytest.raises(ValueError, match="info.json"):
        load_scene(tmp_path / "m.ply", semantic_info=tmp_path / "info.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_scene(tmp_path / "m.ply", semantic_info=tmp_path / "missing.json")


def test_resolve_scene_rejects_bad_house_ids():
    with pytest.raises(ValueError, match="house:<integer seed>"):
        resolve_scene("house:abc")
