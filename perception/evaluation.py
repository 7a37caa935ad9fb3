"""How good a map is, against a scene's ground truth: surface accuracy and completeness, and
open-vocabulary query precision (the figures ``benchmarks/map_throughput.py`` prints)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.scene import Scene
from envs.types import Frame
from perception.geometry import backproject


def instances_at(points: np.ndarray, scene: Scene) -> np.ndarray:
    """(N,) instance id of the scene triangle nearest each world point (N, 3)."""
    import open3d as o3d

    from envs.raycast import raycasting_scene

    closest = raycasting_scene(scene).compute_closest_points(o3d.core.Tensor(np.asarray(points, np.float32)))
    return scene.face_instance[closest["primitive_ids"].numpy().astype(np.int64)]


def query_precision(feature_map, scene: Scene, category: str, k: int = 100) -> float:
    """Of the map's top-k points for ``category`` (by ``text_relevance``), the share that truly belong
    to an instance of it; k shrinks to the number of such points when the map holds fewer. Raises
    ``ValueError`` when the map holds no point of the category."""
    truth = np.array([scene.objects[i].category if i > 0 else "" for i in instances_at(feature_map.points(), scene)])
    k = min(k, int((truth == category).sum()))
    if k == 0:
        raise ValueError(f"the map holds no point of {category!r}")
    top = np.argsort(-feature_map.text_relevance(category))[:k]
    return float((truth[top] == category).mean())


def object_categories_in(feature_map, scene: Scene, exclude: Sequence[str] = ("wall", "floor", "ceiling")) -> list[str]:
    """The categories of the scene's instances that the map's points lie on, less ``exclude``."""
    seen = {scene.objects[i].category for i in np.unique(instances_at(feature_map.points(), scene)) if i > 0}
    return sorted(seen - set(exclude))


def surface_quality(feature_map, frames: Sequence[Frame], scene: Scene) -> tuple[float, float]:
    """(accuracy, completeness) in metres: the mean distance of the map's points to the scene's
    triangles, and the mean distance of the observed true surface (the frames' back-projected depth,
    every 4th pixel) to the map's points."""
    import open3d as o3d
    from scipy.spatial import cKDTree

    from envs.raycast import raycasting_scene

    points = feature_map.points()
    accuracy = float(raycasting_scene(scene).compute_distance(o3d.core.Tensor(points)).numpy().mean())
    observed = np.concatenate([backproject(f, stride=4).points for f in frames])
    completeness = float(cKDTree(points).query(observed)[0].mean())
    return accuracy, completeness
