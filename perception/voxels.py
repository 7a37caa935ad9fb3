"""A sparse voxel store with running sums: the shared storage of the point-cloud and fusion maps.

Voxels are keyed by their integer coordinates ``floor(p / voxel_size)`` packed into one int64
(21 bits per axis, so +-1,048,575 voxels: +-5 km at 5 cm). A batch's distinct voxels come from
``np.unique``, are found among the known ones with ``np.searchsorted`` and its samples are summed
into their rows with torch's ``index_add_`` (one multithreaded pass; 6x faster than a numpy sort and
``reduceat`` on 16k x 384-d samples), so memory grows with occupied voxels (explored volume), not frames.
"""

from __future__ import annotations

import numpy as np

_BITS = 21
_OFFSET = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


def voxel_keys(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """(N, 3) world points (metres) -> (N,) int64 keys of the voxels holding them."""
    ijk = np.floor(np.asarray(points, dtype=np.float64) / voxel_size).astype(np.int64) + _OFFSET  # (N, 3)
    if (ijk < 0).any() or (ijk > _MASK).any():
        raise ValueError(f"points beyond +-{_OFFSET * voxel_size:.0f} m cannot be stored at voxel size {voxel_size} m")
    return (ijk[:, 0] << (2 * _BITS)) | (ijk[:, 1] << _BITS) | ijk[:, 2]


def key_centres(keys: np.ndarray, voxel_size: float) -> np.ndarray:
    """(M,) int64 keys -> (M, 3) float64 voxel centres, metres."""
    ijk = np.stack([(keys >> (2 * _BITS)) & _MASK, (keys >> _BITS) & _MASK, keys & _MASK], axis=1) - _OFFSET
    return (ijk + 0.5) * voxel_size


class VoxelSums:
    """Per-voxel running sums of weighted channels.

    Rows are append-only (a voxel keeps its row); a sorted copy of the keys with their rows finds a
    batch's voxels by bisection, so adding N samples to M voxels costs O(N log M) plus copying the
    two 1-D index arrays, never the (M, C) channels.

    - ``keys``: (M,) int64 voxel keys, in row order.
    - ``weight``: (M,) float32 summed sample weights.
    - ``channels``: name -> (M, C) float32 weighted sums (divide by ``weight`` for the mean).
    """

    def __init__(self, voxel_size: float) -> None:
        self.voxel_size = float(voxel_size)
        self._size = 0
        self._keys = np.zeros(0, np.int64)  # (capacity,)
        self._weight = np.zeros(0, np.float32)  # (capacity,)
        self._channels: dict[str, np.ndarray] = {}  # name -> (capacity, C)
        self._sorted_keys = np.zeros(0, np.int64)  # (M,)
        self._sorted_rows = np.zeros(0, np.int64)  # (M,)

    def __len__(self) -> int:
        return self._size

    @property
    def keys(self) -> np.ndarray:
        return self._keys[: self._size]

    @property
    def weight(self) -> np.ndarray:
        return self._weight[: self._size]

    @property
    def channels(self) -> dict[str, np.ndarray]:
        return {name: v[: self._size] for name, v in self._channels.items()}

    @classmethod
    def from_arrays(cls, voxel_size: float, keys: np.ndarray, weight: np.ndarray, channels: dict[str, np.ndarray]) -> "VoxelSums":
        """A store holding the given rows (as ``keys``, ``weight`` and ``channels`` return them)."""
        store = cls(voxel_size)
        store._size = len(keys)
        store._keys, store._weight = np.asarray(keys, np.int64).copy(), np.asarray(weight, np.float32).copy()
        store._channels = {k: np.asarray(v, np.float32).copy() for k, v in channels.items()}
        store._sorted_rows = np.argsort(store._keys, kind="stable")
        store._sorted_keys = store._keys[store._sorted_rows]
        return store

    def add(self, points: np.ndarray, values: dict[str, np.ndarray], weights: np.ndarray | None = None) -> None:
        """Add N samples at ``points`` (N, 3) with ``values`` (name -> (N, C)) and ``weights`` (N,)."""
        n = len(points)
        if n == 0:
            return
        import torch  # index_add_ sums rows into their voxels in one multithreaded pass

        w = np.ones(n, np.float32) if weights is None else np.asarray(weights, np.float32)
        new_keys, inverse = np.unique(voxel_keys(points, self.voxel_size), return_inverse=True)  # (K,), (N,)
        if not self._channels:
            self._channels = {name: np.zeros((0, np.shape(v)[1]), np.float32) for name, v in values.items()}
        if set(values) != set(self._channels):
            raise ValueError(f"channels {sorted(values)} do not match the store's {sorted(self._channels)}")

        pos = np.searchsorted(self._sorted_keys, new_keys)  # (K,) where each key is or would go
        found = pos < self._size
        found[found] = self._sorted_keys[pos[found]] == new_keys[found]
        rows = np.empty(len(new_keys), np.int64)
        rows[found] = self._sorted_rows[pos[found]]
        fresh = np.flatnonzero(~found)
        rows[fresh] = self._size + np.arange(len(fresh))
        self._reserve(self._size + len(fresh))
        self._keys[rows[fresh]] = new_keys[fresh]
        self._sorted_keys = np.insert(self._sorted_keys, pos[fresh], new_keys[fresh])
        self._sorted_rows = np.insert(self._sorted_rows, pos[fresh], rows[fresh])
        self._size += len(fresh)
        sample_rows = torch.from_numpy(rows[inverse])  # (N,) the row of each sample's voxel
        weight = torch.from_numpy(w)
        torch.from_numpy(self._weight).index_add_(0, sample_rows, weight)
        for name, v in values.items():
            src = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))  # (N, C)
            torch.from_numpy(self._channels[name]).index_add_(0, sample_rows, src if weights is None else src * weight[:, None])

    def lookup(self, points: np.ndarray) -> np.ndarray:
        """(N,) int64 rows of the voxels holding ``points`` (N, 3); -1 where the store has none."""
        keys = voxel_keys(points, self.voxel_size)
        pos = np.searchsorted(self._sorted_keys, keys)
        rows = np.full(len(keys), -1, np.int64)
        inside = pos < self._size
        hit = inside.copy()
        hit[inside] = self._sorted_keys[pos[inside]] == keys[inside]
        rows[hit] = self._sorted_rows[pos[hit]]
        return rows

    def mean(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """(M, C) weighted mean of a channel per voxel, or (R, C) for the given ``rows`` only."""
        if rows is None:
            rows = slice(0, self._size)
        return self._channels[name][rows] / np.maximum(self._weight[rows], 1e-12)[:, None]

    def centres(self) -> np.ndarray:
        """(M, 3) voxel centres, metres."""
        return key_centres(self.keys, self.voxel_size)

    def _reserve(self, size: int) -> None:
        """Grow the row arrays (doubling) to hold ``size`` rows; new rows are zero."""
        capacity = len(self._keys)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, 1024)
        self._keys = _grown(self._keys, capacity)
        self._weight = _grown(self._weight, capacity)
        self._channels = {name: _grown(v, capacity) for name, v in self._channels.items()}


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), array.dtype)
    out[: len(array)] = array
    return out
