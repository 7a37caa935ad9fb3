"""Ray casting a ``Scene`` with open3d (Embree): the one place that turns camera rays into hits.

``SceneRaycaster`` holds an open3d ``RaycastingScene`` of the scene's triangles and the per-face
tables the renderers read (colour, instance id), each with one extra sentinel face F that stands
for "no hit" (black, unlabelled). Camera rays are built with z = -1 in the camera frame
(``CameraIntrinsics.ray_directions``), so a hit's parameter ``t`` *is* its z-depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from envs.scene import Scene
from envs.types import CameraIntrinsics, Pose


def raycasting_scene(scene: Scene) -> o3d.t.geometry.RaycastingScene:
    """An open3d ray-casting scene holding ``scene``'s triangles (geometry id 0)."""
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(scene.vertices, dtype=np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(scene.faces, dtype=np.uint32)),
    )
    return rc


@dataclass
class CameraHits:
    """What a camera's rays hit, one entry per pixel (row-major, N = H * W).

    - ``depth``: (N,) float32 z-distance in metres, ``inf`` on a miss.
    - ``face``: (N,) uint32 hit face index, the sentinel F on a miss.
    - ``normals``: (N, 3) float32 unit world-frame face normals (0 on a miss).
    - ``barycentric``: (N, 2) float32 weights of the face's corners 1 and 2.
    - ``directions``: (N, 3) float32 world-frame ray directions (camera z component -1).
    """

    depth: np.ndarray
    face: np.ndarray
    normals: np.ndarray
    barycentric: np.ndarray
    directions: np.ndarray


class SceneRaycaster:
    """Casts camera rays into a ``Scene`` and looks up what the hit faces carry."""

    def __init__(self, scene: Scene, num_threads: int = 0) -> None:
        self.scene = scene
        self.raycasting_scene = raycasting_scene(scene)
        self.num_threads = num_threads
        n_faces = len(scene.faces)
        self.miss_face = np.uint32(n_faces)  # the sentinel face index
        rgba = np.zeros((n_faces + 1, 4), np.uint8)
        rgba[:n_faces, :3] = scene.face_colors
        self._packed_face_colors = rgba.view(np.uint32).reshape(-1)  # (F + 1,) one RGBA word per face
        self._face_instance = np.concatenate([scene.face_instance, np.zeros(1, np.int32)])  # (F + 1,)
        self._faces = np.concatenate([scene.faces, np.zeros((1, 3), np.int32)])  # (F + 1, 3)
        self._vertex_colors = None if scene.vertex_colors is None else scene.vertex_colors.astype(np.float32)

    @staticmethod
    def camera_rays(intrinsics: CameraIntrinsics) -> np.ndarray:
        """Camera-frame ray directions (H * W, 3) float32, z = -1."""
        return intrinsics.ray_directions().reshape(-1, 3).astype(np.float32)

    def cast(self, camera: Pose, camera_rays: np.ndarray) -> CameraHits:
        """Cast ``camera_rays`` (N, 3, camera frame) from a camera at ``camera`` (world-from-camera)."""
        directions = camera_rays @ camera.rotation_matrix.astype(np.float32).T  # (N, 3) world frame
        rays = np.empty((len(camera_rays), 6), dtype=np.float32)  # (N, 6) origin + direction
        rays[:, :3] = camera.position
        rays[:, 3:] = directions
        hit = self.raycasting_scene.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=self.num_threads)
        # a miss has primitive id INVALID_ID (2**32 - 1): clip it to the sentinel face
        face = np.minimum(hit["primitive_ids"].numpy(), self.miss_face)
        return CameraHits(hit["t_hit"].numpy(), face, hit["primitive_normals"].numpy(), hit["primitive_uvs"].numpy(), directions)

    def instance_ids(self, face: np.ndarray) -> np.ndarray:
        """Instance ids (N,) int32 of hit faces (0 on a miss)."""
        return np.take(self._face_instance, face)

    def albedo(self, hits: CameraHits) -> np.ndarray:
        """Surface colour of the hits, 0..255: (N, 4) uint8 RGBA from face colours, or (N, 3) float32
        vertex colours interpolated with the hits' barycentric coordinates."""
        if self._vertex_colors is None:
            return np.take(self._packed_face_colors, hits.face).view(np.uint8).reshape(-1, 4)
        corners = self._vertex_colors[self._faces[hits.face]]  # (N, 3 corners, 3)
        u, v = hits.barycentric[:, :1], hits.barycentric[:, 1:2]
        colors = (1.0 - u - v) * corners[:, 0] + u * corners[:, 1] + v * corners[:, 2]
        colors[hits.face == self.miss_face] = 0.0
        return colors
