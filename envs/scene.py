"""A scene: a triangle mesh with colours, a semantic instance id per face, objects and regions.

World frame Y up, metres (see ``envs.types``). Built by the mesh loaders (``envs.scene_io``) or the
procedural house generator (``envs.house``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SceneObject:
    """One semantic instance: its id (> 0), lower-case category name and axis-aligned box (metres).

    ``color`` is a colour name ("red") where the scene knows it, ``region`` the name of the room
    it stands in, or None.
    """

    instance_id: int
    category: str
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    color: str | None = None
    region: str | None = None

    @property
    def center(self) -> np.ndarray:
        return (np.asarray(self.bbox_min) + np.asarray(self.bbox_max)) / 2.0

    def to_dict(self) -> dict:
        return {
            "instance_id": int(self.instance_id),
            "category": self.category,
            "bbox_min": np.asarray(self.bbox_min).tolist(),
            "bbox_max": np.asarray(self.bbox_max).tolist(),
            "color": self.color,
            "region": self.region,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SceneObject":
        return cls(
            int(d["instance_id"]),
            str(d["category"]),
            np.asarray(d["bbox_min"], dtype=np.float64),
            np.asarray(d["bbox_max"], dtype=np.float64),
            d.get("color"),
            d.get("region"),
        )


@dataclass(frozen=True)
class Region:
    """A named room (e.g. "kitchen") and its axis-aligned extent in metres."""

    name: str
    bbox_min: np.ndarray
    bbox_max: np.ndarray

    @property
    def center(self) -> np.ndarray:
        return (np.asarray(self.bbox_min) + np.asarray(self.bbox_max)) / 2.0

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each of the points (N, 3) lies inside the extent in x and z (any height)."""
        p = np.atleast_2d(points)
        lo, hi = np.asarray(self.bbox_min), np.asarray(self.bbox_max)
        return (p[:, 0] >= lo[0]) & (p[:, 0] <= hi[0]) & (p[:, 2] >= lo[2]) & (p[:, 2] <= hi[2])

    def to_dict(self) -> dict:
        return {"name": self.name, "bbox_min": np.asarray(self.bbox_min).tolist(), "bbox_max": np.asarray(self.bbox_max).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Region":
        return cls(str(d["name"]), np.asarray(d["bbox_min"], dtype=np.float64), np.asarray(d["bbox_max"], dtype=np.float64))


@dataclass
class Scene:
    """A triangle mesh with colours and semantics.

    - ``vertices``: (V, 3) float32 metres, world frame (Y up).
    - ``faces``: (F, 3) int32 vertex indices.
    - ``face_colors``: (F, 3) uint8 albedo per face.
    - ``vertex_colors``: (V, 3) uint8 or None; when set, the renderer interpolates them across faces.
    - ``face_instance``: (F,) int32 instance id per face (0 = unlabelled), keys of ``objects``.
    - ``objects``: instance id -> ``SceneObject``.
    - ``regions``: rooms and their extents.
    - ``name``: an identifier (file path, or ``house:<seed>`` for a generated house).
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray
    face_instance: np.ndarray
    objects: dict[int, SceneObject] = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)
    name: str = "scene"
    vertex_colors: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        self.face_colors = np.ascontiguousarray(self.face_colors, dtype=np.uint8)
        self.face_instance = np.ascontiguousarray(self.face_instance, dtype=np.int32)
        n_v, n_f = len(self.vertices), len(self.faces)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3 or n_v == 0:
            raise ValueError(f"scene {self.name!r}: vertices must be (V, 3) with V > 0, got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or n_f == 0:
            raise ValueError(f"scene {self.name!r}: faces must be (F, 3) with F > 0, got {self.faces.shape}")
        if self.faces.min() < 0 or self.faces.max() >= n_v:
            raise ValueError(f"scene {self.name!r}: face indices out of range [0, {n_v})")
        if not np.isfinite(self.vertices).all():
            raise ValueError(f"scene {self.name!r}: vertices contain NaN or inf")
        if self.face_colors.shape != (n_f, 3):
            raise ValueError(f"scene {self.name!r}: face_colors must be ({n_f}, 3), got {self.face_colors.shape}")
        if self.face_instance.shape != (n_f,):
            raise ValueError(f"scene {self.name!r}: face_instance must be ({n_f},), got {self.face_instance.shape}")
        if self.vertex_colors is not None:
            self.vertex_colors = np.ascontiguousarray(self.vertex_colors, dtype=np.uint8)
            if self.vertex_colors.shape != (n_v, 3):
                raise ValueError(f"scene {self.name!r}: vertex_colors must be ({n_v}, 3), got {self.vertex_colors.shape}")

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) corners of the mesh's axis-aligned box, metres."""
        return self.vertices.min(axis=0).astype(np.float64), self.vertices.max(axis=0).astype(np.float64)

    @property
    def categories(self) -> list[str]:
        """The sorted distinct object categories in the scene."""
        return sorted({o.category for o in self.objects.values()})

    def objects_of_category(self, category: str) -> list[SceneObject]:
        """The objects whose category is ``category``; raises naming the known ones when there are none."""
        found = [o for o in self.objects.values() if o.category == category]
        if not found:
            known = ", ".join(self.categories) or "(none: the scene has no semantic objects)"
            raise KeyError(f"scene {self.name!r} has no object of category {category!r}; its categories are: {known}")
        return found

    def region(self, name: str) -> Region:
        """The first region called ``name``; raises naming the known ones."""
        for r in self.regions:
            if r.name == name:
                return r
        known = ", ".join(sorted({r.name for r in self.regions})) or "(none)"
        raise KeyError(f"scene {self.name!r} has no region {name!r}; its regions are: {known}")

    def region_of(self, point: np.ndarray) -> Region | None:
        """The region whose extent contains ``point`` (x/z), or None."""
        for r in self.regions:
            if r.contains(np.asarray(point))[0]:
                return r
        return None
