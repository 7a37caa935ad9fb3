"""TUM RGB-D sequences: a simulator rollout written and read back unchanged; the pose conventions
checked against TUM's own (computer-vision) back-projection and by maps that agree, and that a wrong
convention is caught; Z-up worlds; bad inputs; and the ``nav3d map`` / ``export-tum`` commands."""

import dataclasses
import json
import math
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, CameraIntrinsics, Pose
from perception.color_features import ColorFeatureExtractor
from perception.geometry import backproject
from perception.maps import MapConfig
from perception.neural_field_map import NeuralFieldMap
from perception.pointcloud_map import PointCloudMap
from envs.types import Z_UP_TO_Y_UP
from perception.tum import (
    CV_TO_GL,
    associate,
    depth_to_tum,
    intrinsics_from_dict,
    intrinsics_to_dict,
    open_tum_sequence,
    pose_from_tum,
    pose_to_tum,
    read_tum_sequence,
    write_tum_sequence,
)

VOXEL = 0.05


@pytest.fixture(scope="module")
def live_frames():
    """20 frames at 64 x 48 in house 0: turning in place, then walking with turns (and a look down)."""
    scene = generate_house(0)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=64, height=48, semantic=False))
    nav = sim.navigation
    rng = np.random.default_rng(0)
    frames = [sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, nav.largest_island()), 0.4))]
    actions = [Action.TURN_LEFT] * 6 + [Action.LOOK_DOWN] + [Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_RIGHT] * 4
    for action in actions[:19]:
        frames.append(sim.step(action)[0])
    return frames


@pytest.fixture(scope="module")
def written(live_frames, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tum") / "sequence"
    assert write_tum_sequence(live_frames, folder) == len(live_frames)
    return folder


@pytest.fixture
def sequence_copy(written, tmp_path):
    """A scratch copy of the written sequence, to corrupt."""
    return shutil.copytree(written, tmp_path / "copy")


def _build_map(frames) -> PointCloudMap:
    extractor = ColorFeatureExtractor()
    m = PointCloudMap(extractor, MapConfig(voxel_size=VOXEL, pixel_stride=1))
    for frame in frames:
        m.integrate(frame, extractor(frame))
    return m


def _mean_nearest_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between point sets (metres)."""
    return 0.5 * (cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def _assert_same_poses(original, read, tol=1e-6):
    for a, b in zip(original, read, strict=True):
        np.testing.assert_allclose(b.camera_pose.position, a.camera_pose.position, atol=tol)
        np.testing.assert_allclose(b.camera_pose.rotation_matrix, a.camera_pose.rotation_matrix, atol=tol)


# ----------------------------------------------------------------------------------- round trip


def test_round_trip_is_exact_up_to_depth_quantisation(live_frames, written):
    assert sorted(p.name for p in written.iterdir()) == ["depth", "depth.txt", "groundtruth.txt", "intrinsics.json", "rgb", "rgb.txt"]
    read = list(read_tum_sequence(written))
    assert len(read) == len(live_frames)
    _assert_same_poses(live_frames, read)
    for a, b in zip(live_frames, read):
        assert b.rgb.dtype == np.uint8 and b.depth.dtype == np.float32 and b.depth.shape == (48, 64, 1)
        assert b.semantic is None and b.agent_pose is None and b.step == a.step
        np.testing.assert_array_equal(b.rgb, a.rgb)
        assert np.abs(b.depth - a.depth).max() <= 1 / 5000
        np.testing.assert_array_equal(b.depth > 0, a.depth > 0)
        assert (b.intrinsics.width, b.intrinsics.height) == (64, 48)
        assert b.intrinsics.hfov == pytest.approx(a.intrinsics.hfov, abs=1e-12)


def test_stride_and_max_frames(written):
    seq = open_tum_sequence(written, stride=3, max_frames=4)
    assert len(seq) == 4 and [f.step for f in seq] == [0, 3, 6, 9]
    assert seq.unpaired_rgb == 0 and seq.unposed == 0


def test_recording_style_timestamps(sequence_copy, live_frames):
    """As in TUM's recordings: depth a few ms after rgb, unix-time stamps, a 100 Hz groundtruth with
    extra poses, tab separators, and an rgb image whose depth is missing."""
    def shift(name, offset):
        path = sequence_copy / name
        rows = [line.split() for line in path.read_text().splitlines() if not line.startswith("#")]
        path.write_text("".join("\t".join([f"{float(r[0]) + offset:.6f}", *r[1:]]) + "\n" for r in rows))

    base = 1305031102.0
    shift("rgb.txt", base)
    shift("depth.txt", base + 0.012)
    shift("groundtruth.txt", base - 0.004)
    with open(sequence_copy / "groundtruth.txt", "a") as f:  # poses between frames, far from their pose
        f.write(f"{base + 0.017:.6f} 9 9 9 0 0 0 1\n{base + 0.0505:.6f} 9 9 9 0 0 0 1\n")
    with open(sequence_copy / "rgb.txt", "a") as f:
        f.write(f"{base + 10:.6f} rgb/missing-depth.png\n")
    seq = open_tum_sequence(sequence_copy)
    assert len(seq) == 20 and seq.unpaired_rgb == 1 and seq.unposed == 0
    assert seq.entries[0].timestamp == pytest.approx(base)
    _assert_same_poses(live_frames, list(seq))
    with pytest.raises(ValueError, match="no frames"):
        open_tum_sequence(sequence_copy, max_pose_difference=0.003)


# ----------------------------------------------------------------------------------- conventions


def test_files_follow_tum_conventions(live_frames, written):
    """Back-projecting the *files* the way TUM's tools do (computer-vision camera: X = (u - cx) Z / fx,
    Y = (v - cy) Z / fy, Z = depth / 5000; p = R(q) X + t from groundtruth.txt), without nav3d's
    reader, gives the points nav3d back-projects from the live frames."""
    k = json.loads((written / "intrinsics.json").read_text())
    gt = np.loadtxt(written / "groundtruth.txt")
    depth_files = [line.split()[1] for line in (written / "depth.txt").read_text().splitlines() if not line.startswith("#")]
    for frame, row, name in zip(live_frames, gt, depth_files, strict=True):
        z = iio.imread(written / name).astype(np.float64) / 5000.0  # (H, W)
        v, u = np.nonzero(z > 0)  # row-major, as backproject's flat indices
        zz = z[v, u]
        camera = np.stack([(u - k["cx"]) * zz / k["fx"], (v - k["cy"]) * zz / k["fy"], zz], axis=1)
        world = camera @ Rotation.from_quat(row[4:8]).as_matrix().T + row[1:4]
        expected = backproject(frame)
        assert len(world) == len(expected.points) > 0
        np.testing.assert_allclose(world, expected.points, atol=2e-3)  # depth quantisation: 0.1 mm along z


def _quantised(frames):
    """The frames with depth rounded to TUM's 0.2 mm steps, the one thing storing them changes."""
    return [dataclasses.replace(f, depth=depth_to_tum(f.depth).astype(np.float32) / np.float32(5000)) for f in frames]


def test_maps_from_live_and_reread_frames_agree(live_frames, written):
    """Same extractor, same config: the map of the re-read frames is the map of the live ones.

    Point counts are compared with the live frames' depth rounded as TUM stores it: the generated
    house's floor, ceiling and walls lie exactly on voxel boundaries (multiples of 5 cm), so the
    0.1 mm rounding alone moves ~7% of the voxels to the neighbouring layer (same place, other side
    of the boundary); the raw live frames' map is compared by distance."""
    live = _build_map(live_frames)
    reread = _build_map(read_tum_sequence(written))
    assert len(live) > 2000
    assert _mean_nearest_distance(live.points(), reread.points()) < VOXEL
    live_quantised = _build_map(_quantised(live_frames))
    assert abs(len(reread) - len(live_quantised)) <= 0.02 * len(live_quantised)
    assert _mean_nearest_distance(live_quantised.points(), reread.points()) < 1e-3


def _write_groundtruth(folder, frames, rotation_of, position_of):
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    stamps = [line.split()[0] for line in (folder / "rgb.txt").read_text().splitlines() if not line.startswith("#")]
    for stamp, frame in zip(stamps, frames, strict=True):
        q = Rotation.from_matrix(rotation_of(frame.camera_pose.rotation_matrix)).as_quat()  # [x, y, z, w]
        lines.append(" ".join([stamp, *(f"{x:.9f}" for x in (*position_of(frame.camera_pose.position), *q))]))
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "wrong",
    ["no camera-axis flip", "z-up world read as y-up"],
)
def test_a_wrong_convention_is_caught(live_frames, sequence_copy, wrong):
    """The map comparison can fail: poses written without the CV <-> OpenGL flip, or in a Z-up world
    but read as Y-up, give maps that do not agree."""
    if wrong == "no camera-axis flip":  # R_tum = R_nav (should be R_nav @ diag(1, -1, -1))
        _write_groundtruth(sequence_copy, live_frames, lambda r: r, lambda t: t)
    else:  # a Z-up file (correctly flipped) that the reader is not told about
        a_inv = Z_UP_TO_Y_UP.T
        _write_groundtruth(sequence_copy, live_frames, lambda r: a_inv @ r @ CV_TO_GL, lambda t: a_inv @ t)
    live = _build_map(_quantised(live_frames))
    wrong_map = _build_map(read_tum_sequence(sequence_copy, world_up="y"))
    assert _mean_nearest_distance(live.points(), wrong_map.points()) > 5 * VOXEL


def test_world_up_z_round_trip(live_frames, tmp_path):
    folder = tmp_path / "zup"
    write_tum_sequence(live_frames, folder, world_up="z")
    gt = np.loadtxt(folder / "groundtruth.txt")
    positions = np.array([f.camera_pose.position for f in live_frames])
    np.testing.assert_allclose(gt[:, 3], positions[:, 1], atol=1e-8)  # file z = nav3d y (up)
    np.testing.assert_allclose(gt[:, 2], -positions[:, 2], atol=1e-8)  # file y = -nav3d z
    # in the Z-up file the cameras look level: their forward (+z, CV) has no vertical part at the
    # start (no tilt yet), so the file's up axis really is z
    first_forward = Rotation.from_quat(gt[0, 4:8]).as_matrix()[:, 2]
    assert abs(first_forward[2]) < 1e-8 and abs(np.linalg.norm(first_forward[:2]) - 1) < 1e-8
    _assert_same_poses(live_frames, list(read_tum_sequence(folder, world_up="z")))


@pytest.mark.parametrize("world_up", ["y", "z"])
def test_pose_conversion_inverts(world_up):
    rng = np.random.default_rng(1)
    for _ in range(5):
        pose = Pose(rng.normal(size=3), rng.normal(size=4))
        back = pose_from_tum(*pose_to_tum(pose, world_up), world_up)
        np.testing.assert_allclose(back.matrix(), pose.matrix(), atol=1e-12)


def test_identity_tum_pose_looks_down_plus_z():
    """A TUM camera with identity rotation looks along the world's +z with image-down along +y."""
    pose = pose_from_tum(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))
    np.testing.assert_allclose(pose.forward, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(pose.rotation_matrix @ [0, 1, 0], [0, -1, 0], atol=1e-12)  # nav3d camera up


def test_associate_is_greedy_by_smallest_difference():
    first = [0.0, 0.03, 0.06, 1.0]
    second = [0.011, 0.05, 0.2, 1.019]
    # 0.06-0.05 (0.01) before 0.0-0.011 (0.011); 0.03 then finds both partners taken; 1.0-1.019 pairs
    assert associate(first, second, 0.02) == [(0, 0), (2, 1), (3, 3)]
    assert associate(first, second, 0.015) == [(0, 0), (2, 1)]
    assert associate([], second) == []


def test_depth_encoding_marks_invalid_and_unwritable_depth_as_no_measurement():
    d = np.array([0.0, -1.0, np.nan, np.inf, 1e-5, 1.0, 13.107, 20.0])
    np.testing.assert_array_equal(depth_to_tum(d), [0, 0, 0, 0, 0, 5000, 65535, 0])


# ----------------------------------------------------------------------------------- bad input


def test_missing_folder_and_files(tmp_path, sequence_copy):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_tum_sequence(tmp_path / "nowhere")
    (sequence_copy / "groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError, match="groundtruth.txt"):
        open_tum_sequence(sequence_copy)


def test_missing_intrinsics(sequence_copy):
    (sequence_copy / "intrinsics.json").unlink()
    with pytest.raises(FileNotFoundError, match="intrinsics"):
        open_tum_sequence(sequence_copy)
    assert len(open_tum_sequence(sequence_copy, intrinsics={"width": 64, "height": 48, "hfov": 79})) == 20


@pytest.mark.parametrize(
    "name, bad_line",
    [
        ("rgb.txt", "0.5 rgb/a.png extra"),
        ("depth.txt", "zero depth/a.png"),
        ("groundtruth.txt", "0.5 1 2 3 0 0 0"),
        ("groundtruth.txt", "0.5 1 2 x 0 0 0 1"),
        ("groundtruth.txt", "0.5 1 2 3 0 0 0 0"),  # zero quaternion
        ("groundtruth.txt", "0.5 1 2 3 nan 0 0 1"),
        ("groundtruth.txt", "0.5 1 2 3 0 0 0 2"),  # far from unit
    ],
)
def test_malformed_line_names_file_and_line(sequence_copy, name, bad_line):
    path = sequence_copy / name
    lines = path.read_text().splitlines()
    lines.insert(5, bad_line)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{name}:6\b"):
        open_tum_sequence(sequence_copy)


def test_nearly_unit_quaternion_is_normalised(sequence_copy, live_frames):
    path = sequence_copy / "groundtruth.txt"
    lines = path.read_text().splitlines()
    fields = lines[3].split()
    fields[4:8] = [f"{float(x) * 1.004:.9f}" for x in fields[4:8]]
    lines[3] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")
    frame = next(read_tum_sequence(sequence_copy))
    np.testing.assert_allclose(frame.camera_pose.rotation_matrix, live_frames[0].camera_pose.rotation_matrix, atol=1e-6)


def test_8_bit_depth_png_is_refused(sequence_copy):
    first = sorted((sequence_copy / "depth").iterdir())[0]
    iio.imwrite(first, np.zeros((48, 64), np.uint8))
    frames = read_tum_sequence(sequence_copy)
    with pytest.raises(ValueError, match=rf"{first.name}.*16-bit.*8-bit"):
        next(frames)


def test_image_size_must_match_intrinsics(sequence_copy):
    frames = read_tum_sequence(sequence_copy, intrinsics=CameraIntrinsics(32, 24, math.radians(79)))
    with pytest.raises(ValueError, match=r"\.png: image is 64x48 but the intrinsics .* say 32x24"):
        next(frames)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fy": -45.0}, r"focal lengths must be positive"),
        ({"hfov": 60.0}, "disagrees"),
        ({"k1": 0.1}, "distortion"),
        ({"width": "64"}, "finite number"),
    ],
)
def test_unsupported_intrinsics(sequence_copy, change, message):
    path = sequence_copy / "intrinsics.json"
    data = {**json.loads(path.read_text()), **change}
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        open_tum_sequence(sequence_copy)


def test_general_pinhole_intrinsics_round_trip(sequence_copy):
    # TUM freiburg1's calibrated colour camera scaled to 64 x 48: off-centre, fx != fy (OpenCV convention)
    calibrated = {"width": 64, "height": 48, "fx": 51.73, "fy": 51.65, "cx": 31.86, "cy": 25.53}
    (sequence_copy / "intrinsics.json").write_text(json.dumps(calibrated))
    camera = open_tum_sequence(sequence_copy).intrinsics
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == pytest.approx((51.73, 51.65, 32.36, 26.03))
    written = intrinsics_to_dict(camera)
    assert {k: written[k] for k in calibrated} == pytest.approx(calibrated)
    assert intrinsics_from_dict(written) == camera


def test_no_associated_frames(sequence_copy):
    path = sequence_copy / "groundtruth.txt"
    gt = np.loadtxt(path)
    gt[:, 0] += 100.0
    np.savetxt(path, gt)
    with pytest.raises(ValueError, match="no frames.*20 pairs.*0 of them with a groundtruth pose"):
        open_tum_sequence(sequence_copy)


def test_bad_options_and_existing_output(written, live_frames):
    with pytest.raises(ValueError, match="world_up"):
        open_tum_sequence(written, world_up="x")
    with pytest.raises(ValueError, match="stride"):
        open_tum_sequence(written, stride=0)
    with pytest.raises(ValueError, match="already holds a TUM sequence"):
        write_tum_sequence(live_frames[:1], written)


# ----------------------------------------------------------------------------------- CLI


def test_cli_export_then_map(tmp_path, capsys):
    from agent.cli import main

    folder, out = tmp_path / "seq", tmp_path / "map.npz"
    assert main(["export-tum", "--scene", "house:0", "--seed", "0", "--frames", "16", "--size", "32", "--out", str(folder)]) == 0
    assert len(open_tum_sequence(folder)) == 16
    assert main(["map", str(folder), "--out", str(out), "--voxel-size", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "frames: 16" in printed and "points:" in printed and "extent:" in printed
    loaded = PointCloudMap.load(out, ColorFeatureExtractor())
    assert loaded.frames_integrated == 16 and len(loaded) > 100 and loaded.config.voxel_size == 0.1
    neural_out = tmp_path / "neural.npz"
    assert main(["map", str(folder), "--out", str(neural_out), "--construction", "neural", "--voxel-size", "0.1"]) == 0
    neural = NeuralFieldMap.load(neural_out, ColorFeatureExtractor())
    assert neural.frames_integrated == 16 and len(neural) > 100


def test_cli_missing_folder(tmp_path, capsys):
    from agent.cli import main

    missing = tmp_path / "no-such-sequence"
    assert main(["map", str(missing), "--out", str(tmp_path / "m.npz")]) == 2
    assert str(missing) in capsys.readouterr().err
