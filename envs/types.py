"""The small value types every nav3d package shares: poses, camera intrinsics, frames, actions.

Conventions (habitat-sim's, stated once here and used everywhere):

- Units are metres, radians and seconds.
- World frame is **Y up** (gravity along -Y). At zero rotation the agent faces **-Z**.
- Rotations are unit quaternions stored **[x, y, z, w]** (habitat's episode JSON order).
- A pose is *world-from-body*: ``p_world = R @ p_body + t``.
- Cameras are OpenGL-style: x right, y up, looking down -Z. Depth is the **z-distance** along the
  optical axis in metres (not the ray length); 0 means "no return / out of range".
- Images are numpy arrays H x W x C with row 0 at the top.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

UP_VECTOR = np.array([0.0, 1.0, 0.0])
"""World up (+Y)."""
FORWARD_VECTOR = np.array([0.0, 0.0, -1.0])
"""The body's forward direction at zero rotation (-Z), in the body frame."""
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
"""(x, y, z) -> (x, z, -y): a -90 deg rotation about +X taking a Z-up world (many Matterport-derived
meshes, Blender exports, TUM recordings) to nav3d's Y-up one."""


class Action(enum.IntEnum):
    """Discrete actions, in habitat's order (``STOP`` is 0)."""

    STOP = 0
    MOVE_FORWARD = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3
    LOOK_UP = 4
    LOOK_DOWN = 5

    @classmethod
    def parse(cls, value: "Action | int | str") -> "Action":
        """An action from an enum member, its integer value or its name (``"move_forward"``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                names = ", ".join(a.name.lower() for a in cls)
                raise ValueError(f"unknown action {value!r}; expected one of: {names}") from None
        try:
            return cls(int(value))
        except ValueError:
            raise ValueError(f"unknown action {value!r}; expected an integer in 0..{len(cls) - 1}") from None


# --------------------------------------------------------------------------------------------------
# quaternions, [x, y, z, w]


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """The unit quaternion along ``q`` ([x, y, z, w]); raises on a zero or non-finite quaternion."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    n = float(np.linalg.norm(q))
    if not np.isfinite(q).all() or n < 1e-8:
        raise ValueError(f"rotation {q.tolist()} is not a valid quaternion [x, y, z, w]")
    return q / n


def quat_from_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """The rotation by ``angle`` radians about ``axis`` (right-handed), as [x, y, z, w]."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    s = math.sin(angle / 2.0)
    return np.array([axis[0] * s, axis[1] * s, axis[2] * s, math.cos(angle / 2.0)])


def quat_from_yaw(yaw: float) -> np.ndarray:
    """The rotation by ``yaw`` radians about +Y (counter-clockwise seen from above: a left turn)."""
    return quat_from_axis_angle(UP_VECTOR, yaw)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hamilton product ``a * b`` (apply ``b`` first, then ``a``), both [x, y, z, w]."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """The 3x3 rotation matrix of the unit quaternion ``q`` ([x, y, z, w])."""
    x, y, z, w = quat_normalize(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """The unit quaternion [x, y, z, w] of the 3x3 rotation matrix ``m`` (w >= 0)."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    q = quat_normalize(np.array(q))
    return q if q[3] >= 0 else -q


def yaw_from_quat(q: np.ndarray) -> float:
    """The heading (radians about +Y, 0 = facing -Z) of the rotation ``q`` ([x, y, z, w])."""
    forward = quat_to_matrix(q) @ FORWARD_VECTOR
    return math.atan2(-forward[0], -forward[2])


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """A rigid pose, world-from-body: ``p_world = R @ p_body + position``.

    ``position`` is (3,) metres in the world frame; ``rotation`` is a unit quaternion [x, y, z, w].
    """

    position: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))

    def __post_init__(self) -> None:
        position = np.asarray(self.position, dtype=np.float64).reshape(-1)
        if position.shape != (3,) or not np.isfinite(position).all():
            raise ValueError(f"pose position must be 3 finite numbers (metres), got {self.position!r}")
        rotation = np.asarray(self.rotation, dtype=np.float64).reshape(-1)
        if rotation.shape != (4,):
            raise ValueError(f"pose rotation must be a quaternion [x, y, z, w], got {self.rotation!r}")
        object.__setattr__(self, "position", position)
        object.__setattr__(self, "rotation", quat_normalize(rotation))

    @classmethod
    def from_yaw(cls, position: np.ndarray, yaw: float) -> "Pose":
        """A pose at ``position`` turned ``yaw`` radians about +Y from facing -Z."""
        return cls(np.asarray(position, dtype=np.float64), quat_from_yaw(yaw))

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> "Pose":
        """The pose of a 4x4 world-from-body matrix."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"expected a 4x4 matrix, got shape {matrix.shape}")
        return cls(matrix[:3, 3].copy(), quat_from_matrix(matrix[:3, :3]))

    @property
    def rotation_matrix(self) -> np.ndarray:
        """The 3x3 world-from-body rotation."""
        return quat_to_matrix(self.rotation)

    def matrix(self) -> np.ndarray:
        """The 4x4 world-from-body transform."""
        m = np.eye(4)
        m[:3, :3] = self.rotation_matrix
        m[:3, 3] = self.position
        return m

    @property
    def yaw(self) -> float:
        """Heading in radians about +Y (0 = facing -Z, positive = turned left)."""
        return yaw_from_quat(self.rotation)

    @property
    def forward(self) -> np.ndarray:
        """The body's forward direction (-Z of the body) in the world frame."""
        return self.rotation_matrix @ FORWARD_VECTOR

    def transform_points(self, points: np.ndarray) -> np.ndarray:
        """Body-frame points (N, 3) to world-frame points (N, 3)."""
        return np.asarray(points) @ self.rotation_matrix.T + self.position

    def compose(self, other: "Pose") -> "Pose":
        """``self * other``: the pose of ``other``'s body in this pose's parent frame."""
        return Pose(
            self.position + self.rotation_matrix @ other.position,
            quat_multiply(self.rotation, other.rotation),
        )

    def inverse(self) -> "Pose":
        """Body-from-world."""
        r_t = self.rotation_matrix.T
        return Pose(-r_t @ self.position, quat_from_matrix(r_t))

    def to_dict(self) -> dict:
        """JSON-ready ``{"position": [x, y, z], "rotation": [x, y, z, w]}``."""
        return {"position": self.position.tolist(), "rotation": self.rotation.tolist()}


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera: ``width`` x ``height`` pixels and a horizontal field of view ``hfov`` (radians).

    By default pixels are square and the principal point is the image centre (the simulators'
    cameras). A general pinhole camera (a calibrated real one) also sets ``focal_y`` (pixels) and
    ``principal_point`` (cx, cy) in pixel-edge coordinates, where (0, 0) is the top-left corner of the
    image and (width / 2, height / 2) its centre; ``from_opencv`` converts OpenCV's convention (pixel
    centres at integers). Pixel (u, v) with u right, v down looks along the camera-frame direction
    ``((u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -1)``. Lens distortion is not modelled.
    """

    width: int
    height: int
    hfov: float
    focal_y: float | None = None
    principal_point: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (0.0 < float(self.hfov) < math.pi):
            raise ValueError(f"hfov must be in (0, pi) radians, got {self.hfov}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "hfov", float(self.hfov))
        if self.focal_y is not None:
            if not (math.isfinite(self.focal_y) and self.focal_y > 0):
                raise ValueError(f"focal_y must be a positive number of pixels, got {self.focal_y}")
            object.__setattr__(self, "focal_y", float(self.focal_y))
        if self.principal_point is not None:
            cx, cy = (float(v) for v in self.principal_point)
            if not (math.isfinite(cx) and math.isfinite(cy)):
                raise ValueError(f"principal_point must be finite pixels, got {self.principal_point}")
            object.__setattr__(self, "principal_point", (cx, cy))

    @classmethod
    def from_hfov_degrees(cls, width: int, height: int, hfov_deg: float) -> "CameraIntrinsics":
        """Intrinsics from a horizontal field of view in degrees (habitat's config unit)."""
        return cls(width, height, math.radians(hfov_deg))

    @classmethod
    def from_opencv(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> "CameraIntrinsics":
        """A general pinhole camera from OpenCV-convention values (pixels; pixel centres at integer
        coordinates, so a centred camera has cx = (width - 1) / 2)."""
        if not (math.isfinite(fx) and fx > 0):
            raise ValueError(f"fx must be a positive number of pixels, got {fx}")
        return cls(width, height, 2.0 * math.atan(width / (2.0 * fx)), focal_y=fy, principal_point=(cx + 0.5, cy + 0.5))

    @property
    def fx(self) -> float:
        """Focal length in pixels (x)."""
        return self.width / (2.0 * math.tan(self.hfov / 2.0))

    @property
    def fy(self) -> float:
        """Focal length in pixels (y); ``fx`` (square pixels) unless ``focal_y`` is set."""
        return self.fx if self.focal_y is None else self.focal_y

    @property
    def vfov(self) -> float:
        """Vertical field of view in radians (of a centred principal point): ``2 atan(height / (2 fy))``."""
        return 2.0 * math.atan(self.height / (2.0 * self.fy))

    @property
    def cx(self) -> float:
        """Principal point x, pixel-edge coordinates (``width / 2`` unless set)."""
        return self.width / 2.0 if self.principal_point is None else self.principal_point[0]

    @property
    def cy(self) -> float:
        """Principal point y, pixel-edge coordinates (``height / 2`` unless set)."""
        return self.height / 2.0 if self.principal_point is None else self.principal_point[1]

    def matrix(self) -> np.ndarray:
        """The 3x3 matrix K in the computer-vision convention (x right, y down, z forward)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def ray_directions(self) -> np.ndarray:
        """Camera-frame ray directions (H, W, 3) with z = -1, so a hit at parameter t has depth t."""
        u = (np.arange(self.width) + 0.5 - self.cx) / self.fx
        v = -(np.arange(self.height) + 0.5 - self.cy) / self.fy
        uu, vv = np.meshgrid(u, v)  # (H, W) each
        return np.stack([uu, vv, -np.ones_like(uu)], axis=-1)

    def pixel_ray_directions(self, pixels: np.ndarray) -> np.ndarray:
        """``ray_directions()`` of the flat (row-major) pixel indices ``pixels`` (N,) alone -> (N, 3),
        without building the whole image's."""
        rows, cols = np.divmod(np.asarray(pixels, dtype=np.int64), self.width)  # (N,) each
        u = (cols + 0.5 - self.cx) / self.fx
        v = -(rows + 0.5 - self.cy) / self.fy
        return np.stack([u, v, -np.ones_like(u)], axis=-1)

    def to_dict(self) -> dict:
        out = {"width": self.width, "height": self.height, "hfov": self.hfov}
        if self.focal_y is not None or self.principal_point is not None:
            out.update(fy=self.fy, cx=self.cx, cy=self.cy)  # pixel-edge convention, as the fields
        return out


@dataclass
class Frame:
    """One observation: RGB-D (+ semantic) images, the camera's pose and intrinsics.

    - ``rgb``: (H, W, 3) uint8.
    - ``depth``: (H, W, 1) float32 z-distance in metres; 0 = no return or out of range.
    - ``semantic``: (H, W) int32 instance ids (0 = unlabelled) or None.
    - ``camera_pose``: world-from-camera (camera looks down its -Z, y up).
    - ``agent_pose``: world-from-agent-body (position at the feet) or None.
    - ``step``: index of the frame in its episode.
    """

    rgb: np.ndarray
    depth: np.ndarray
    semantic: np.ndarray | None
    camera_pose: Pose
    intrinsics: CameraIntrinsics
    step: int = 0
    agent_pose: Pose | None = None

    def __post_init__(self) -> None:
        h, w = self.intrinsics.height, self.intrinsics.width
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be ({h}, {w}, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        if self.depth.shape != (h, w, 1) or self.depth.dtype != np.float32:
            raise ValueError(f"depth must be ({h}, {w}, 1) float32, got {self.depth.shape} {self.depth.dtype}")
        if self.semantic is not None and (self.semantic.shape != (h, w) or self.semantic.dtype != np.int32):
            raise ValueError(
                f"semantic must be ({h}, {w}) int32, got {self.semantic.shape} {self.semantic.dtype}"
            )
