"""Ground truth for map tests: the instance each map point belongs to, from the scene's mesh."""

import numpy as np
import open3d as o3d

from envs.raycast import raycasting_scene
from envs.scene import Scene
from perception.maps import MapConfig
from perception.occupancy import UNKNOWN


def integrated_map(construction, rollout, config: MapConfig = MapConfig(pixel_stride=1)):
    """A map of ``construction`` (a FeatureMap class) holding every frame of the rollout."""
    scene, sim, frames, extractor = rollout
    feature_map = construction(extractor, config)
    for f in frames:
        feature_map.integrate(f, extractor(f))
    return feature_map


def states_where_navigable(grid, navigation) -> tuple[np.ndarray, np.ndarray]:
    """(states of the grid's known cells (K,), whether the simulator can stand at each (K,))."""
    cells = np.argwhere(grid.cells != UNKNOWN)
    navigable = np.array([navigation.is_navigable(p) for p in grid.cell_to_world(cells)])
    return grid.cells[cells[:, 0], cells[:, 1]], navigable


def instances_at(points: np.ndarray, scene: Scene) -> np.ndarray:
    """(N,) instance id of the triangle nearest each point (N, 3)."""
    closest = raycasting_scene(scene).compute_closest_points(o3d.core.Tensor(np.asarray(points, np.float32)))
    return scene.face_instance[closest["primitive_ids"].numpy().astype(np.int64)]


def query_precision(feature_map, scene: Scene, category: str, k: int = 100) -> float:
    """Of the map's top-k points for ``category`` (by text relevance), the share that truly belong to
    an instance of it; k shrinks to the number of such points when the map holds fewer."""
    truth = np.array([scene.objects[i].category if i > 0 else "" for i in instances_at(feature_map.points(), scene)])
    k = min(k, int((truth == category).sum()))
    if k == 0:
        raise ValueError(f"the map holds no point of {category!r}")
    top = np.argsort(-feature_map.text_relevance(category))[:k]
    return float((truth[top] == category).mean())
