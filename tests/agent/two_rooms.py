"""A map's points of two rooms side by side, for the tests of the map-geometry waypoints.

Room A spans x 0-4 m, room B x 4-7 m, both z 0-3 m (walls on those lines, 2.5 m high). The wall
between them has a door at z 2.2-2.9 m. A cabinet stands in room B against the shared wall's south
end, x 4.5-5.0, z 0.2-0.8, 1 m high. Walls are drawn by 8 random points per metre of wall, floors by
random points; wall points have the feature ``WALL`` and the rest random unit features.
"""

import numpy as np

C = 16
WALL = np.eye(C, dtype=np.float32)[0]
ROOM_A = ((0.0, 0.0), (4.0, 3.0))
ROOM_B = ((4.0, 0.0), (7.0, 3.0))
DOOR_Z = (2.2, 2.9)
CABINET = ((4.5, 0.2), (5.0, 0.8))


def _wall(rng, a, b, per_metre=8, gap=None):
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = int(np.linalg.norm(b - a) * per_metre)
    t = rng.uniform(0, 1, n)
    xz = a + t[:, None] * (b - a)
    if gap is not None:
        z = xz[:, 1]
        xz = xz[(z < gap[0]) | (z > gap[1])]
    return np.column_stack([xz[:, 0], rng.uniform(0, 2.5, len(xz)), xz[:, 1]])


def two_rooms(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points (N, 3), features (N, C) unit, cabinet (N,) bool: the cabinet's points)."""
    rng = np.random.default_rng(seed)
    walls = np.vstack(
        [
            _wall(rng, (0, 0), (7, 0)), _wall(rng, (0, 3), (7, 3)), _wall(rng, (0, 0), (0, 3)), _wall(rng, (7, 0), (7, 3)),
            _wall(rng, (4, 0), (4, 3), gap=DOOR_Z),
        ]
    )
    floor = np.column_stack([rng.uniform(0.1, 6.9, 150), np.zeros(150), rng.uniform(0.1, 2.9, 150)])
    (x0, z0), (x1, z1) = CABINET
    cabinet = np.column_stack([rng.uniform(x0, x1, 40), rng.uniform(0.0, 1.0, 40), rng.uniform(z0, z1, 40)])
    points = np.vstack([walls, floor, cabinet])
    other = rng.normal(size=(len(floor) + len(cabinet), C)).astype(np.float32)
    other[:, 0] = 0.0
    features = np.vstack([np.tile(WALL, (len(walls), 1)), other / np.linalg.norm(other, axis=1, keepdims=True)])
    is_cabinet = np.zeros(len(points), dtype=bool)
    is_cabinet[-len(cabinet):] = True
    return points, features, is_cabinet
