"""``SparseLatentGrid``: learnable latent vectors on the vertices of a sparse 3D grid, read by
trilinear interpolation -- the storage of the neural-field map (``perception.neural_field_map``).

Vertex (i, j, k) sits at world position ``(i, j, k) * vertex_size`` (metres). Only vertices that
were allocated exist; their keys live in a ``VoxelIndex`` and their D-dim latents are the rows of
one ``(capacity, D)`` parameter read with ``torch.nn.functional.embedding(..., sparse=True)``, so a
gradient step touches only the rows a batch read (``torch.optim.SparseAdam``) and its cost does not
grow with the map. Capacity doubles when full (amortised O(1) per vertex); memory grows with the
allocated vertices, i.e. with explored surface, not with frames.

A point's latent is the trilinear blend of its cell's 8 corner vertices, renormalised over the
corners that exist: a point with at least one allocated corner is *known*; one with none reads zero.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from perception.voxels import VoxelIndex, grown, pack_ijk, unpack_keys

CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.int64)  # (8, 3)


class SparseLatentGrid:
    """D-dim latents on allocated grid vertices (see module doc); ``latents`` is the parameter."""

    def __init__(self, vertex_size: float, dim: int, initial_capacity: int = 4096) -> None:
        if vertex_size <= 0:
            raise ValueError(f"vertex_size must be positive metres, got {vertex_size}")
        self.vertex_size = float(vertex_size)
        self.dim = int(dim)
        self.index = VoxelIndex()  # vertex keys -> rows of ``latents``
        self.cells = VoxelIndex()  # keys of the cells whose 8 corners are allocated
        self.latents = torch.nn.Parameter(torch.zeros(initial_capacity, self.dim))  # (capacity, D)
        self.grew = False  # whether the last ``allocate_cells`` replaced ``latents`` by a larger parameter

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def from_arrays(cls, vertex_size: float, keys: np.ndarray, latents: np.ndarray, cells: np.ndarray) -> "SparseLatentGrid":
        """A grid whose vertex ``keys[i]`` (M,) holds ``latents[i]`` (M, D), with the allocated
        ``cells`` (keys, as ``cells.keys`` gives them)."""
        grid = cls(vertex_size, latents.shape[1], initial_capacity=max(len(keys), 1))
        grid.index = VoxelIndex.from_keys(keys)
        grid.cells = VoxelIndex.from_keys(cells)
        with torch.no_grad():
            grid.latents[: len(keys)] = torch.from_numpy(np.asarray(latents, np.float32))
        return grid

    def vertex_positions_of(self, rows: np.ndarray) -> np.ndarray:
        """(R,) rows -> (R, 3) float64 world positions of those vertices, metres."""
        return unpack_keys(self.index.keys[rows]).astype(np.float64) * self.vertex_size

    def allocate_cells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Allocate the 8 corners of every grid cell holding one of the (N, 3) world ``points``;
        new vertices start at zero. Only cells not seen before are processed, so a frame of
        already-mapped surface costs one lookup. Returns (the index of one of the points in each new
        cell (P,), the rows of those cells' corners (P, 8), the new vertex rows (K,)); ``latents``
        may be replaced by a larger parameter (``grew``)."""
        cells = np.floor(np.asarray(points, np.float64) / self.vertex_size).astype(np.int64)  # (N, 3)
        known_cells = len(self.cells)
        cell_rows, _ = self.cells.add(pack_ijk(cells, self.vertex_size))  # (N,)
        in_new = np.flatnonzero(cell_rows >= known_cells)  # points in new cells (new cells get appended rows)
        _, first = np.unique(cell_rows[in_new], return_index=True)
        in_new_cell = in_new[first]  # (P,) one point per new cell
        corner_keys = pack_ijk(cells[in_new_cell, None, :] + CORNERS[None], self.vertex_size)  # (P, 8)
        rows, fresh = self.index.add(corner_keys.reshape(-1))
        self.grew = len(self.index) > self.latents.shape[0]
        if self.grew:
            capacity = max(len(self.index), 2 * self.latents.shape[0])
            self.latents = torch.nn.Parameter(torch.from_numpy(grown(self.latents.detach().numpy(), capacity)))
        return in_new_cell, rows.reshape(-1, 8), fresh

    def interpolate(self, points: torch.Tensor, sparse_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents at world points (N, 3) (differentiable in both the latents and the points):
        returns ((N, D) blended latents, (N,) bool known)."""
        scaled = points / self.vertex_size  # (N, 3) in vertex units
        base = torch.floor(scaled.detach())  # (N, 3)
        frac = scaled - base  # (N, 3) in [0, 1)
        keys = pack_ijk(base.numpy().astype(np.int64)[:, None, :] + CORNERS[None], self.vertex_size)  # (N, 8)
        rows = torch.from_numpy(self.index.rows(keys))  # (N, 8), -1 where unallocated
        allocated = rows >= 0  # (N, 8)
        corner = torch.from_numpy(CORNERS).to(points.dtype)  # (8, 3)
        # (N, 8): product over axes of frac (corner offset 1) or 1 - frac (offset 0)
        weights = torch.prod(torch.where(corner[None] > 0, frac[:, None, :], 1.0 - frac[:, None, :]), dim=2)
        weights = weights * allocated
        total = weights.sum(dim=1, keepdim=True)  # (N, 1)
        known = total[:, 0] > 1e-9
        weights = weights / total.clamp_min(1e-9)
        # read each distinct vertex once: the sparse gradient then has U unique rows, not N * 8
        unique, inverse = torch.unique(rows.clamp_min(0), return_inverse=True)  # (U,), (N, 8)
        gathered = F.embedding(unique, self.latents, sparse=sparse_grad)[inverse]  # (U, D) -> (N, 8, D)
        # a weighted sum, not einsum/bmm: 8-long dot products batched as N tiny matmuls are ~30x slower on CPU
        return (weights[:, :, None] * gathered).sum(dim=1), known  # (N, 8, D) -> (N, D)
