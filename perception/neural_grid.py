"""``SparseLatentGrid``: learnable latent vectors on the vertices of a sparse 3D grid, read by
trilinear interpolation -- the storage of the neural-field map (``perception.neural_field_map``).

Vertex (i, j, k) sits at world position ``(i, j, k) * vertex_size`` (metres). Only vertices that
were allocated exist; their keys live in a ``VoxelIndex`` and their D-dim latents are the rows of
``(capacity, D_t)`` tensors, one per table (D = the sum of the tables' widths), read with
``torch.nn.functional.embedding_bag``. A gradient step reads through ``read``: the distinct rows a
batch touches are copied once into a small leaf, so the step's gradient and update
(``perception.row_adam.RowAdam``) touch only those rows and its cost does not grow with the map.
Tables let a caller read part of a latent at some points only: the neural field reads its geometry
at every ray sample and its feature code at the surface sample alone (``corners`` once, then
``read`` or ``blend`` per table). Capacity doubles when full (amortised O(1) per vertex); memory
grows with the allocated vertices, i.e. with explored surface, not with frames.

A point's latent is the trilinear blend of its cell's 8 corner vertices, renormalised over the
corners that exist: a point with at least one allocated corner is *known*; one with none reads zero.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from perception.row_adam import TableRead
from perception.voxels import VoxelIndex, grown, pack_ijk, unpack_keys


def distinct_rows(rows: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (any shape) into tables of ``capacity`` rows -> (the distinct rows (U,), ascending;
    each index's position among them, ``rows``' shape). A mark per row of the table, no sort: O(N +
    capacity)."""
    seen = torch.zeros(capacity, dtype=torch.bool)
    seen[rows.reshape(-1)] = True
    distinct = seen.nonzero()[:, 0]  # (U,)
    position = torch.empty(capacity, dtype=torch.long)
    position[distinct] = torch.arange(len(distinct))
    return distinct, position[rows]


class _WeightedRows(torch.autograd.Function):
    """``embedding_bag(rows, latents, per_sample_weights=weights, mode="sum")`` -> (N, D) whose
    backward adds the weighted output gradients into the (U, D) latents with one ``index_add_``:
    embedding_bag's own dense backward on this CPU took twice as long (5.2 against 2.5 ms for
    8,192 x 8 reads of 12 channels)."""

    @staticmethod
    def forward(ctx, latents: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(latents, rows, weights)
        return F.embedding_bag(rows, latents.detach(), per_sample_weights=weights.detach(), mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        latents, rows, weights = ctx.saved_tensors
        grad_latents = grad_weights = None
        if ctx.needs_input_grad[0]:
            spread = (grad[:, None, :] * weights[..., None]).reshape(-1, grad.shape[1])  # (N*8, D)
            grad_latents = torch.zeros_like(latents).index_add_(0, rows.reshape(-1), spread)  # (U, D)
        if ctx.needs_input_grad[2]:
            grad_weights = (latents[rows] * grad[:, None, :]).sum(dim=-1)  # (N, 8)
        return grad_latents, None, grad_weights


CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.int64)  # (8, 3)


class SparseLatentGrid:
    """D-dim latents on allocated grid vertices, in one or more tables (see module doc)."""

    def __init__(self, vertex_size: float, dim: int | tuple[int, ...], initial_capacity: int = 4096) -> None:
        if vertex_size <= 0:
            raise ValueError(f"vertex_size must be positive metres, got {vertex_size}")
        self.vertex_size = float(vertex_size)
        self.dims = (int(dim),) if isinstance(dim, (int, np.integer)) else tuple(int(d) for d in dim)  # widths of the tables
        if not self.dims or min(self.dims) < 1:
            raise ValueError(f"every table needs a width >= 1, got {dim!r}")
        self.dim = sum(self.dims)
        self.index = VoxelIndex()  # vertex keys -> rows of the tables
        self.cells = VoxelIndex()  # keys of the cells whose 8 corners are allocated
        self._corner_rows = np.zeros((0, 8), np.int64)  # (capacity, 8) vertex rows of each cell's corners, in cell-row order
        self.tables = [torch.zeros(initial_capacity, d) for d in self.dims]  # (capacity, D_t) each
        self.grew = False  # whether the last ``allocate_cells`` replaced the tables by larger ones

    def __len__(self) -> int:
        return len(self.index)

    @property
    def latents(self) -> torch.Tensor:
        """The table of a one-table grid (a grid of several has ``tables``)."""
        if len(self.tables) != 1:
            raise AttributeError(f"this grid has {len(self.tables)} tables (widths {self.dims}): read grid.tables")
        return self.tables[0]

    @property
    def capacity(self) -> int:
        """Rows each table holds (>= ``len(self)``)."""
        return self.tables[0].shape[0]

    @classmethod
    def from_arrays(cls, vertex_size: float, keys: np.ndarray, latents: np.ndarray, cells: np.ndarray, dims: tuple[int, ...] | None = None) -> "SparseLatentGrid":
        """A grid whose vertex ``keys[i]`` (M,) holds ``latents[i]`` (M, D: the tables side by side,
        ``dims`` their widths, one table by default), with the allocated ``cells`` (keys, as
        ``cells.keys`` gives them)."""
        latents = np.asarray(latents, np.float32)
        dims = (latents.shape[1],) if dims is None else tuple(dims)
        if sum(dims) != latents.shape[1]:
            raise ValueError(f"latents are {latents.shape[1]} wide, the tables {dims} sum to {sum(dims)}")
        grid = cls(vertex_size, dims, initial_capacity=max(len(keys), 1))
        grid.index = VoxelIndex.from_keys(keys)
        grid.cells = VoxelIndex.from_keys(cells)
        cell_ijk = unpack_keys(grid.cells.keys)  # (P, 3)
        grid._corner_rows = grid.index.rows(pack_ijk(cell_ijk[:, None, :] + CORNERS[None], vertex_size))  # (P, 8)
        grid.write_rows(0, torch.from_numpy(latents))
        return grid

    def write_rows(self, start: int, latents: torch.Tensor) -> None:
        """Set rows ``start``.. of the tables to ``latents`` (U, D) (the tables side by side), without gradient."""
        with torch.no_grad():
            column = 0
            for table, d in zip(self.tables, self.dims):
                table[start : start + len(latents)] = latents[:, column : column + d]
                column += d

    def rows_array(self) -> np.ndarray:
        """(M, D) float32 copy of the allocated vertices' latents, the tables side by side."""
        return np.concatenate([t.detach().numpy()[: len(self)] for t in self.tables], axis=1)

    def vertex_positions_of(self, rows: np.ndarray) -> np.ndarray:
        """(R,) rows -> (R, 3) float64 world positions of those vertices, metres."""
        return unpack_keys(self.index.keys[rows]).astype(np.float64) * self.vertex_size

    def allocate_cells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Allocate the 8 corners of every grid cell holding one of the (N, 3) world ``points``;
        new vertices start at zero. Only cells not seen before are processed, so a frame of
        already-mapped surface costs one lookup. Returns (the index of one of the points in each new
        cell (P,), the rows of those cells' corners (P, 8), the new vertex rows (K,)); the tables
        may be replaced by larger tensors (``grew``)."""
        cells = np.floor(np.asarray(points, np.float64) / self.vertex_size).astype(np.int64)  # (N, 3)
        known_cells = len(self.cells)
        cell_rows, _ = self.cells.add(pack_ijk(cells, self.vertex_size))  # (N,)
        in_new = np.flatnonzero(cell_rows >= known_cells)  # points in new cells (new cells get appended rows)
        _, first = np.unique(cell_rows[in_new], return_index=True)
        in_new_cell = in_new[first]  # (P,) one point per new cell
        corner_keys = pack_ijk(cells[in_new_cell, None, :] + CORNERS[None], self.vertex_size)  # (P, 8)
        rows, fresh = self.index.add(corner_keys.reshape(-1))
        # new cells hold rows known_cells.. in the order of ``in_new_cell``: their corners append
        if len(self.cells) > len(self._corner_rows):
            self._corner_rows = grown(self._corner_rows, max(len(self.cells), 2 * len(self._corner_rows)))
        self._corner_rows[known_cells : len(self.cells)] = rows.reshape(-1, 8)
        self.grew = len(self.index) > self.capacity
        if self.grew:
            capacity = max(len(self.index), 2 * self.capacity)
            self.tables = [torch.from_numpy(grown(t.numpy(), capacity)) for t in self.tables]
        return in_new_cell, rows.reshape(-1, 8), fresh

    def interpolate(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents at world points (N, 3) (differentiable in the points): returns ((N, D) blended
        latents, the tables side by side, (N,) bool known)."""
        rows, weights, known = self.corners(points)
        return torch.cat([self.blend(rows, weights, t) for t in range(len(self.tables))], dim=1), known

    def corners(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The trilinear read of world points (N, 3): their cells' corner rows (N, 8) (unallocated
        corners read row 0 at weight 0), the corners' weights (N, 8) (renormalised over the allocated
        corners; differentiable in the points) and (N,) bool known (some corner allocated)."""
        scaled = points / self.vertex_size  # (N, 3) in vertex units
        base = torch.floor(scaled.detach())  # (N, 3)
        frac = scaled - base  # (N, 3) in [0, 1)
        rows = torch.from_numpy(self._corners_of(base.numpy().astype(np.int64)))  # (N, 8), -1 where unallocated
        allocated = rows >= 0  # (N, 8)
        # (N, 8): product over axes of frac (corner offset 1) or 1 - frac (offset 0), corners ordered as CORNERS
        wx, wy, wz = (torch.stack([1.0 - frac[:, a], frac[:, a]], dim=1) for a in range(3))  # 3 x (N, 2)
        weights = (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(-1, 8)
        weights = weights * allocated
        total = weights.sum(dim=1, keepdim=True)  # (N, 1)
        return rows.clamp_min(0), weights / total.clamp_min(1e-9), total[:, 0] > 1e-9

    def blend(self, rows: torch.Tensor, weights: torch.Tensor, table: int = 0) -> torch.Tensor:
        """(N, D_t) latents of table ``table`` blended over ``corners``' rows (N, 8) and weights (N, 8),
        in one pass that never materialises (N, 8, D_t). Differentiable in the weights, not the table
        (a gradient step reads with ``read``)."""
        return F.embedding_bag(rows, self.tables[table], per_sample_weights=weights, mode="sum")

    def read(self, rows: torch.Tensor, weights: torch.Tensor, table: int = 0) -> tuple[torch.Tensor, TableRead]:
        """As :meth:`blend`, differentiable in the latents of the rows read: (N, D_t) and the
        :class:`TableRead` whose ``latents.grad`` after backward is the gradient on those rows (for
        ``RowAdam``)."""
        distinct, inverse = distinct_rows(rows, self.capacity)  # (U,), (N, 8)
        latents = self.tables[table].index_select(0, distinct).requires_grad_()  # (U, D_t) leaf
        return _WeightedRows.apply(latents, inverse, weights), TableRead(table, distinct, latents)

    def _corners_of(self, cell_ijk: np.ndarray) -> np.ndarray:
        """(N, 3) int64 cell coordinates -> (N, 8) vertex rows of their corners (-1 where unallocated):
        one lookup per point in an allocated cell, eight for the others."""
        cell_rows = self.cells.rows(pack_ijk(cell_ijk, self.vertex_size))  # (N,)
        inside = cell_rows >= 0
        rows = np.empty((len(cell_ijk), 8), np.int64)
        rows[inside] = self._corner_rows[cell_rows[inside]]
        if not inside.all():
            rows[~inside] = self.index.rows(pack_ijk(cell_ijk[~inside, None, :] + CORNERS[None], self.vertex_size))
        return rows
