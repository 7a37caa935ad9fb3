"""Helpers shared by the map tests: a map of the whole rollout, and the occupancy grid's cells beside the
simulator's navigability."""

import numpy as np

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
