"""RGB-D sequences in the TUM RGB-D benchmark layout: read them as nav3d ``Frame``s, write simulator
rollouts in it.

Layout (https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats)::

    folder/
      rgb.txt           "timestamp filename" per line ('#' comments); filename relative to folder
      depth.txt         the same for the depth images
      groundtruth.txt   "timestamp tx ty tz qx qy qz qw" per line ('#' comments)
      rgb/*.png         8-bit RGB
      depth/*.png       16-bit; value / 5000 = z-distance in metres, 0 = no measurement
      intrinsics.json   nav3d's addition (TUM publishes intrinsics on its web page; see below)

Timestamps are seconds. Each RGB image is paired with a depth image greedily by nearest timestamp, at
most ``max_image_difference`` (0.02 s) apart, each image used once: TUM's ``associate.py``
(which uses a strict ``<``; nav3d "at most"). Each pair takes the groundtruth pose nearest the RGB
timestamp, at most ``max_pose_difference`` (0.02 s) away (no interpolation); pairs without one are
skipped, as TUM's evaluation tools do.

Pose conventions (checked by ``tests/perception/test_tum.py`` against TUM's own back-projection):

- TUM's groundtruth is the pose of the colour camera's optical centre, **world-from-camera**, in the
  *computer-vision* camera convention: x right, y down, z forward (the viewing direction).
- nav3d's camera is OpenGL-style: x right, y up, looking down -z (``envs.types``). Same optical
  centre, so the position is unchanged and ``R_nav = R_tum @ F`` with ``F = diag(1, -1, -1)``
  (``CV_TO_GL``; F is its own inverse, so the writer uses ``R_tum = R_nav @ F``).
- TUM's world frame is whatever the motion-capture system's was (the freiburg sequences have +Z up);
  nav3d's world is +Y up. ``world_up="y"`` (default) takes the file's world as nav3d's;
  ``world_up="z"`` turns a Z-up world to Y-up with (x, y, z) -> (x, z, -y) (``Z_UP_TO_Y_UP``, the
  rotation ``envs.scene_io.load_scene`` applies to meshes with ``up_axis="z"``):
  ``p_nav = A @ p_file``, ``R_nav = A @ R_tum @ F``.
- Depth is the z-distance along the optical axis in both (Kinect-style depth images), so only the
  scale changes: metres = value / 5000.

Intrinsics: nav3d's ``CameraIntrinsics`` is a pinhole camera (focal lengths and principal point;
lens distortion is not modelled). They are given explicitly (a ``CameraIntrinsics``, a dict or the
path of a JSON file) or read from ``intrinsics.json`` in the folder, which holds either::

    {"width": 640, "height": 480, "hfov": 62.9}                  (degrees: centred, square pixels)
    {"width": 640, "height": 480, "fx": 517.3, "fy": 516.5, "cx": 318.6, "cy": 255.3}

or both (then hfov must agree with fx). fx, fy are in pixels; cx, cy follow the OpenCV / TUM pixel
convention (pixel centres at integer coordinates, so a centred principal point is ((W - 1) / 2,
(H - 1) / 2)). TUM's calibrated freiburg1/2/3 colour intrinsics and its ROS defaults (525, 525,
319.5, 239.5) both work; undistort the images first where the lens distortion matters.

Writing (``write_tum_sequence``): depth is stored as ``uint16(round(depth * 5000))``; depths beyond
13.107 m (what 16 bits hold), non-finite and non-positive depths (and depths below 0.1 mm) are
written as 0 (no measurement), never as a wrong distance. Image files are written as frames arrive; the three
text files and ``intrinsics.json`` last, so an interrupted export leaves no readable sequence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.types import Z_UP_TO_Y_UP, CameraIntrinsics, Frame, Pose, quat_from_matrix, quat_to_matrix

TUM_DEPTH_SCALE = 5000.0
"""TUM depth PNG units per metre."""
MAX_WRITABLE_DEPTH = 65535 / TUM_DEPTH_SCALE
"""13.107 m: the largest depth a 16-bit TUM depth PNG holds."""
CV_TO_GL = np.diag([1.0, -1.0, -1.0])
"""Camera axes, computer vision (x right, y down, z forward) <-> OpenGL (x right, y up, -z forward)."""
WORLD_UPS = ("y", "z")
SEQUENCE_FILES = ("rgb.txt", "depth.txt", "groundtruth.txt")
INTRINSICS_FILE = "intrinsics.json"

_INTRINSICS_KEYS = {"width", "height", "hfov", "fx", "fy", "cx", "cy"}
_PINHOLE_KEYS = ("fx", "fy", "cx", "cy")
_FOCAL_TOLERANCE = 0.005  # relative, fx vs hfov when both are given
_QUATERNION_NORM_TOLERANCE = 1e-2


# ------------------------------------------------------------------------------------ conventions


def _world_rotation(world_up: str) -> np.ndarray:
    """A: file world -> nav3d world (3x3)."""
    if world_up not in WORLD_UPS:
        raise ValueError(f"world_up must be 'y' or 'z' (the sequence's world up axis), got {world_up!r}")
    return Z_UP_TO_Y_UP if world_up == "z" else np.eye(3)


def pose_from_tum(position: np.ndarray, quaternion: np.ndarray, world_up: str = "y") -> Pose:
    """nav3d's world-from-camera (OpenGL camera, Y-up world) of a TUM groundtruth pose: ``position``
    (3,) metres and unit ``quaternion`` [qx, qy, qz, qw] of the world-from-camera rotation of a
    computer-vision camera, in a world whose up axis is ``world_up``."""
    a = _world_rotation(world_up)
    rotation = a @ quat_to_matrix(np.asarray(quaternion, dtype=np.float64)) @ CV_TO_GL
    return Pose(a @ np.asarray(position, dtype=np.float64), quat_from_matrix(rotation))


def pose_to_tum(pose: Pose, world_up: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The inverse of ``pose_from_tum``: (position (3,), quaternion [qx, qy, qz, qw]) for groundtruth.txt."""
    a = _world_rotation(world_up)
    rotation = a.T @ pose.rotation_matrix @ CV_TO_GL
    return a.T @ pose.position, quat_from_matrix(rotation)


# ------------------------------------------------------------------------------------ intrinsics


def intrinsics_from_dict(data: Mapping, source: str = "intrinsics") -> CameraIntrinsics:
    """``CameraIntrinsics`` from the JSON form in the module docstring (``source`` names it in errors).

    Raises ``ValueError`` on missing, unknown or non-numeric keys, non-positive focal lengths, and an
    hfov that disagrees with fx."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object with width, height and hfov or fx/fy/cx/cy, got {type(data).__name__}")
    unknown = sorted(set(data) - _INTRINSICS_KEYS)
    if unknown:
        raise ValueError(
            f"{source}: unknown keys {unknown}; nav3d reads width, height and hfov (degrees) or fx/fy/cx/cy "
            "(lens distortion is not supported)"
        )
    values = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{source}: {key} must be a finite number, got {value!r}")
        values[key] = float(value)
    for key in ("width", "height"):
        if key not in values:
            raise ValueError(f"{source}: missing {key!r} (pixels)")
        if values[key] != int(values[key]) or values[key] <= 0:
            raise ValueError(f"{source}: {key} must be a positive integer, got {data[key]!r}")
    width, height = int(values["width"]), int(values["height"])
    given = [k for k in _PINHOLE_KEYS if k in values]
    if given and len(given) < 4:
        raise ValueError(f"{source}: has {', '.join(given)} but not {', '.join(k for k in _PINHOLE_KEYS if k not in values)}; give all of fx, fy, cx, cy")
    if not given and "hfov" not in values:
        raise ValueError(f"{source}: give hfov (degrees) or fx, fy, cx, cy (pixels)")
    if "hfov" in values and not 0.0 < values["hfov"] < 180.0:
        raise ValueError(f"{source}: hfov is in degrees and must lie in (0, 180), got {values['hfov']}")
    if not given:
        return CameraIntrinsics.from_hfov_degrees(width, height, values["hfov"])
    fx, fy, cx, cy = (values[k] for k in _PINHOLE_KEYS)
    if fx <= 0 or fy <= 0:
        raise ValueError(f"{source}: focal lengths must be positive pixels, got fx={fx}, fy={fy}")
    intrinsics = CameraIntrinsics.from_opencv(width, height, fx, fy, cx, cy)
    if "hfov" in values and abs(intrinsics.fx - CameraIntrinsics.from_hfov_degrees(width, height, values["hfov"]).fx) > _FOCAL_TOLERANCE * fx:
        raise ValueError(
            f"{source}: hfov {values['hfov']:g} deg disagrees with fx={fx:g} "
            f"(which gives {math.degrees(intrinsics.hfov):.4g} deg at width {width}); give one of them"
        )
    return intrinsics


def intrinsics_to_dict(intrinsics: CameraIntrinsics) -> dict:
    """The JSON form written to ``intrinsics.json``: width, height, fx, fy, cx, cy (OpenCV pixel
    convention) and hfov (degrees)."""
    return {
        "width": intrinsics.width,
        "height": intrinsics.height,
        "fx": intrinsics.fx,
        "fy": intrinsics.fy,
        "cx": intrinsics.cx - 0.5,
        "cy": intrinsics.cy - 0.5,
        "hfov": math.degrees(intrinsics.hfov),
    }


def load_intrinsics(path: str | Path) -> CameraIntrinsics:
    """``CameraIntrinsics`` from a JSON file (module docstring); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"intrinsics file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"intrinsics file {str(path)!r} is not valid JSON ({exc})") from exc
    return intrinsics_from_dict(data, source=f"intrinsics file {str(path)!r}")


def _resolve_intrinsics(intrinsics: CameraIntrinsics | Mapping | str | Path | None, folder: Path) -> tuple[CameraIntrinsics, str]:
    if isinstance(intrinsics, CameraIntrinsics):
        return intrinsics, "the given intrinsics"
    if isinstance(intrinsics, Mapping):
        return intrinsics_from_dict(intrinsics, "the given intrinsics"), "the given intrinsics"
    if intrinsics is not None:
        return load_intrinsics(intrinsics), str(intrinsics)
    path = folder / INTRINSICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"TUM sequence {str(folder)!r} has no {INTRINSICS_FILE}; pass the camera's intrinsics (a JSON file "
            '{"width": 640, "height": 480, "fx": 525, "fy": 525, "cx": 319.5, "cy": 239.5} or with "hfov" in degrees; '
            "nav3d map --intrinsics)"
        )
    return load_intrinsics(path), str(path)


# ------------------------------------------------------------------------------------ text files


@dataclass(frozen=True)
class _Rows:
    """The data lines of one TUM text file: timestamps (N,) seconds, the other fields, line numbers."""

    path: Path
    timestamps: np.ndarray
    fields: list[list[str]]
    lines: np.ndarray


def _read_rows(path: Path, n_fields: int, layout: str) -> _Rows:
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist; a TUM RGB-D sequence folder holds {', '.join(SEQUENCE_FILES)} (lines '{layout}')"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not a text file ({exc})") from exc
    stamps, rest, lines = [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").replace("\t", " ").split()  # as TUM's associate.py
        if len(fields) != n_fields:
            raise ValueError(f"{path}:{number}: expected '{layout}' ({n_fields} fields), got {raw.strip()!r}")
        try:
            stamp = float(fields[0])
        except ValueError:
            stamp = math.nan
        if not math.isfinite(stamp):
            raise ValueError(f"{path}:{number}: timestamp {fields[0]!r} is not a finite number of seconds")
        stamps.append(stamp)
        rest.append(fields[1:])
        lines.append(number)
    return _Rows(path, np.array(stamps, dtype=np.float64), rest, np.array(lines, dtype=np.int64))


def _read_groundtruth(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps (N,), positions (N, 3), unit quaternions (N, 4) [x, y, z, w]) of groundtruth.txt."""
    rows = _read_rows(path, 8, "timestamp tx ty tz qx qy qz qw")
    values = np.full((len(rows.fields), 7), np.nan)
    for i, fields in enumerate(rows.fields):
        try:
            values[i] = [float(f) for f in fields]
        except ValueError:
            pass  # stays NaN and is reported below
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{path}:{rows.lines[i]}: tx ty tz qx qy qz qw must be finite numbers, got {' '.join(rows.fields[i])!r}")
    quats = values[:, 3:]
    norms = np.linalg.norm(quats, axis=1)
    off = np.abs(norms - 1.0) > _QUATERNION_NORM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"{path}:{rows.lines[i]}: quaternion (qx qy qz qw) = {quats[i].tolist()} has norm {norms[i]:.6g}, not a unit "
            "rotation (nav3d normalises quaternions within 1% of unit length)"
        )
    return rows.timestamps, values[:, :3], quats / norms[:, None]


def associate(first: np.ndarray, second: np.ndarray, max_difference: float = 0.02) -> list[tuple[int, int]]:
    """Pairs (i, j) of timestamps ``first[i]``, ``second[j]`` (seconds) at most ``max_difference``
    apart, matched greedily by smallest difference with each index used once (TUM's associate.py);
    sorted by i. Vectorised candidate search; only the few candidates per timestamp are visited."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return []
    order_b = np.argsort(b, kind="stable")
    b_sorted = b[order_b]
    lo = np.searchsorted(b_sorted, a - max_difference, side="left")  # (N,)
    hi = np.searchsorted(b_sorted, a + max_difference, side="right")  # (N,)
    counts = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(len(a)), counts)  # (P,) candidate pairs
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    jb = order_b[np.repeat(lo, counts) + within]  # (P,)
    diff = np.abs(a[ia] - b[jb])
    keep = diff <= max_difference
    ia, jb, diff = ia[keep], jb[keep], diff[keep]
    used_a = np.zeros(len(a), dtype=bool)
    used_b = np.zeros(len(b), dtype=bool)
    pairs = []
    for k in np.lexsort((b[jb], a[ia], diff)):  # smallest difference first, ties as associate.py
        i, j = int(ia[k]), int(jb[k])
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            pairs.append((i, j))
    return sorted(pairs)


def _nearest(sorted_times: np.ndarray, queries: np.ndarray, max_difference: float) -> np.ndarray:
    """(M,) index of the nearest of ``sorted_times`` (N,) to each query, -1 when farther than
    ``max_difference``."""
    if len(sorted_times) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    right = np.clip(np.searchsorted(sorted_times, queries), 0, len(sorted_times) - 1)
    left = np.clip(right - 1, 0, len(sorted_times) - 1)
    pick = np.where(np.abs(sorted_times[left] - queries) <= np.abs(sorted_times[right] - queries), left, right)
    return np.where(np.abs(sorted_times[pick] - queries) <= max_difference, pick, -1)


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class TumFrameEntry:
    """One associated frame: RGB timestamp (seconds), image paths with the lines that list them,
    nav3d camera pose (world-from-camera, OpenGL camera, Y-up world), index among associated frames."""

    timestamp: float
    rgb: Path
    rgb_line: int
    depth: Path
    depth_line: int
    pose: Pose
    index: int


@dataclass(frozen=True)
class TumSequence:
    """An opened TUM RGB-D sequence: text files parsed and checked, frames associated; images are read
    when iterated. ``len()`` counts the frames iteration yields (after stride and max_frames).

    - ``unpaired_rgb``: RGB images without a depth image close enough in time.
    - ``unposed``: RGB-D pairs without a groundtruth pose close enough in time (skipped).
    """

    folder: Path
    intrinsics: CameraIntrinsics
    intrinsics_source: str
    world_up: str
    entries: tuple[TumFrameEntry, ...]
    unpaired_rgb: int
    unposed: int
    depth_scale: float = TUM_DEPTH_SCALE

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Frame]:
        for entry in self.entries:
            yield self.read_frame(entry)

    def read_frame(self, entry: TumFrameEntry) -> Frame:
        """The ``Frame`` of one entry: rgb (H, W, 3) uint8, depth (H, W, 1) float32 metres, no
        semantics, ``camera_pose`` the entry's, ``step`` its index, no agent pose."""
        rgb = _read_png(entry.rgb, f"rgb.txt:{entry.rgb_line}")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            raise ValueError(f"{entry.rgb}: expected an 8-bit RGB image, got shape {rgb.shape} {rgb.dtype}")
        depth = _read_png(entry.depth, f"depth.txt:{entry.depth_line}")
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[:, :, 0]
        if depth.dtype == np.int32 and depth.ndim == 2 and depth.min(initial=0) >= 0 and depth.max(initial=0) <= 65535:
            depth = depth.astype(np.uint16)  # older Pillow reads 16-bit greyscale as mode "I"
        if depth.dtype != np.uint16 or depth.ndim != 2:
            bits = "8-bit" if depth.dtype == np.uint8 else f"{depth.dtype}"
            raise ValueError(
                f"{entry.depth}: depth images must be 16-bit single-channel PNGs (value / {self.depth_scale:g} = metres), "
                f"got a {bits} image of shape {depth.shape}"
            )
        h, w = self.intrinsics.height, self.intrinsics.width
        for path, image in ((entry.rgb, rgb), (entry.depth, depth)):
            if image.shape[:2] != (h, w):
                raise ValueError(
                    f"{path}: image is {image.shape[1]}x{image.shape[0]} but the intrinsics ({self.intrinsics_source}) "
                    f"say {w}x{h}"
                )
        metres = (depth.astype(np.float32) / np.float32(self.depth_scale))[:, :, None]  # (H, W, 1)
        return Frame(np.ascontiguousarray(rgb[:, :, :3]), metres, None, entry.pose, self.intrinsics, step=entry.index)


def _read_png(path: Path, listed_at: str) -> np.ndarray:
    import imageio.v3 as iio

    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} (listed at {listed_at}) does not exist")
    try:
        return np.asarray(iio.imread(path))
    except Exception as exc:  # imageio/Pillow raise many types on corrupt files
        raise ValueError(f"{str(path)!r} (listed at {listed_at}) cannot be read as an image ({type(exc).__name__}: {exc})") from exc


def open_tum_sequence(
    folder: str | Path,
    intrinsics: CameraIntrinsics | Mapping | str | Path | None = None,
    world_up: str = "y",
    max_frames: int | None = None,
    stride: int = 1,
    max_pose_difference: float = 0.02,
    max_image_difference: float = 0.02,
) -> TumSequence:
    """Parse and check a TUM RGB-D sequence folder (module docstring) without reading its images.

    ``intrinsics``: a ``CameraIntrinsics``, a dict or JSON path in the module docstring's form, or
    None to read ``folder/intrinsics.json``. ``world_up``: the up axis of the groundtruth's world
    ("y" or "z"). ``stride`` keeps every n-th associated frame, then ``max_frames`` the first n.
    Time differences are in seconds. Raises ``FileNotFoundError`` for a missing folder or file and
    ``ValueError`` naming the file and line for malformed content, and when no frame is left."""
    folder = Path(folder)
    _world_rotation(world_up)
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise ValueError(f"max_frames must be an integer >= 1 or None, got {max_frames}")
    for name, value in (("max_pose_difference", max_pose_difference), ("max_image_difference", max_image_difference)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0 seconds, got {value}")
    if not folder.is_dir():
        raise FileNotFoundError(f"TUM sequence folder {str(folder)!r} does not exist" + (" (it is a file)" if folder.exists() else ""))
    camera, source = _resolve_intrinsics(intrinsics, folder)
    rgb = _read_rows(folder / "rgb.txt", 2, "timestamp filename")
    depth = _read_rows(folder / "depth.txt", 2, "timestamp filename")
    gt_times, gt_positions, gt_quats = _read_groundtruth(folder / "groundtruth.txt")

    pairs = associate(rgb.timestamps, depth.timestamps, max_image_difference)
    pair_rgb = np.array([i for i, _ in pairs], dtype=np.int64)
    pair_depth = np.array([j for _, j in pairs], dtype=np.int64)
    in_time = np.argsort(rgb.timestamps[pair_rgb], kind="stable")  # file order when already sorted
    pair_rgb, pair_depth = pair_rgb[in_time], pair_depth[in_time]
    gt_order = np.argsort(gt_times, kind="stable")
    nearest = _nearest(gt_times[gt_order], rgb.timestamps[pair_rgb], max_pose_difference)  # (P,)
    posed = nearest >= 0
    entries = []
    for k in np.flatnonzero(posed):
        i, j, g = int(pair_rgb[k]), int(pair_depth[k]), int(gt_order[nearest[k]])
        entries.append(
            TumFrameEntry(
                timestamp=float(rgb.timestamps[i]),
                rgb=folder / rgb.fields[i][0],
                rgb_line=int(rgb.lines[i]),
                depth=folder / depth.fields[j][0],
                depth_line=int(depth.lines[j]),
                pose=pose_from_tum(gt_positions[g], gt_quats[g], world_up),
                index=len(entries),
            )
        )
    if not entries:
        raise ValueError(
            f"TUM sequence {str(folder)!r}: no frames: {len(rgb.timestamps)} rgb and {len(depth.timestamps)} depth images "
            f"give {len(pairs)} pairs within {max_image_difference} s, {int(posed.sum())} of them with a groundtruth pose "
            f"within {max_pose_difference} s (of {len(gt_times)} poses)"
        )
    kept = entries[::stride][:max_frames]
    return TumSequence(
        folder=folder,
        intrinsics=camera,
        intrinsics_source=source,
        world_up=world_up,
        entries=tuple(kept),
        unpaired_rgb=len(rgb.timestamps) - len(pairs),
        unposed=int((~posed).sum()),
    )


def read_tum_sequence(
    folder: str | Path,
    intrinsics: CameraIntrinsics | Mapping | str | Path | None = None,
    world_up: str = "y",
    max_frames: int | None = None,
    stride: int = 1,
    max_pose_difference: float = 0.02,
) -> Iterator[Frame]:
    """The frames of a TUM RGB-D sequence, in time order (``open_tum_sequence``; errors in the text
    files and intrinsics raise here, errors in an image when it is reached)."""
    return iter(open_tum_sequence(folder, intrinsics, world_up, max_frames, stride, max_pose_difference))


# ------------------------------------------------------------------------------------ writing


def depth_to_tum(depth: np.ndarray) -> np.ndarray:
    """Depth in metres (any shape) -> uint16 TUM depth values: round(depth * 5000); non-finite,
    non-positive and unwritable depths (beyond 13.107 m) -> 0 (no measurement), never a wrong one."""
    d = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(d) & (d > 0)
    valid &= d <= MAX_WRITABLE_DEPTH
    scaled = np.rint(np.where(valid, d, 0.0) * TUM_DEPTH_SCALE)
    return scaled.astype(np.uint16)


def write_tum_sequence(
    frames: Iterable[Frame],
    folder: str | Path,
    world_up: str = "y",
    fps: float = 30.0,
    start_time: float = 0.0,
    overwrite: bool = False,
) -> int:
    """Write frames as a TUM RGB-D sequence (module docstring) and return how many were written.

    Frame i gets timestamp ``start_time + i / fps`` seconds, images ``rgb/<t>.png`` and
    ``depth/<t>.png`` and its camera pose in groundtruth.txt (converted as in the module docstring;
    ``world_up="z"`` writes a Z-up world). All frames must share one camera. Refuses (``ValueError``)
    a folder that already holds a sequence unless ``overwrite``."""
    import imageio.v3 as iio

    from envs.files import atomic_write_text

    folder = Path(folder)
    _world_rotation(world_up)
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
    existing = [name for name in (*SEQUENCE_FILES, INTRINSICS_FILE) if (folder / name).exists()]
    if existing and not overwrite:
        raise ValueError(f"{str(folder)!r} already holds a TUM sequence ({', '.join(existing)}); choose another folder or overwrite")
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    rgb_lines = ["# color images", "# written by nav3d (perception.tum)", "# timestamp filename"]
    depth_lines = ["# depth maps", "# written by nav3d (perception.tum)", "# timestamp filename"]
    pose_lines = ["# ground truth trajectory", "# written by nav3d (perception.tum)", "# timestamp tx ty tz qx qy qz qw"]
    camera: CameraIntrinsics | None = None
    count = 0
    for frame in frames:
        if camera is None:
            camera = frame.intrinsics
        elif frame.intrinsics != camera:
            raise ValueError(f"frame {count} has intrinsics {frame.intrinsics} but frame 0 has {camera}; a TUM sequence has one camera")
        stamp = f"{start_time + count / fps:.6f}"
        iio.imwrite(folder / "rgb" / f"{stamp}.png", frame.rgb)
        iio.imwrite(folder / "depth" / f"{stamp}.png", depth_to_tum(frame.depth[:, :, 0]))
        position, quaternion = pose_to_tum(frame.camera_pose, world_up)
        rgb_lines.append(f"{stamp} rgb/{stamp}.png")
        depth_lines.append(f"{stamp} depth/{stamp}.png")
        pose_lines.append(" ".join([stamp, *(f"{v:.9f}" for v in (*position, *quaternion))]))
        count += 1
    if camera is None:
        raise ValueError("no frames to write")
    atomic_write_text(folder / INTRINSICS_FILE, json.dumps(intrinsics_to_dict(camera), indent=2) + "\n")
    for name, lines in zip(SEQUENCE_FILES, (rgb_lines, depth_lines, pose_lines)):
        atomic_write_text(folder / name, "\n".join(lines) + "\n")
    return count
