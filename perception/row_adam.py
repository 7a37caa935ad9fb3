"""``RowAdam``: Adam on the rows of latent tables that a gradient step read, for the neural field's
sparse grid (``perception.neural_grid``).

Each step reads a few thousand rows of tables that hold the whole map. ``torch.optim.SparseAdam``
updates only those rows, but it takes the gradient as a sparse tensor with one entry per lookup
(8 corners x 8,192 ray samples) and coalesces it (a sort) before each update: on this project's
CPU the sort and the sparse bookkeeping were about half of a 256² frame's optimiser time. Here a step
reads each distinct row once (``SparseLatentGrid.read``: a leaf copy of those rows, the lookups
pointing into it), so the gradient arrives dense, one row per distinct row, and the update is
SparseAdam's own arithmetic on those rows: moments ``m, v`` of the rows read, a step count per
table (counting the steps that read it), and
``row -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)``. Rows not read keep
their moments and values, as with SparseAdam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class TableRead:
    """The rows one step read from table ``table``: ``rows`` (U,) distinct, ascending, and ``latents``
    (U, D_t), a leaf copy of them whose ``.grad`` after backward is the table's gradient there."""

    table: int
    rows: torch.Tensor
    latents: torch.Tensor


class RowAdam:
    """Adam over the rows of ``tables`` (each (capacity, D_t)) given per step as :class:`TableRead`s."""

    def __init__(self, tables: Sequence[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if not lr > 0:
            raise ValueError(f"RowAdam: lr must be positive, got {lr}")
        self.tables = list(tables)
        self.lr, self.betas, self.eps = float(lr), betas, float(eps)
        self.exp_avg = [torch.zeros_like(t, requires_grad=False) for t in self.tables]
        self.exp_avg_sq = [torch.zeros_like(t, requires_grad=False) for t in self.tables]
        self.steps = [0] * len(self.tables)

    @torch.no_grad()
    def step(self, reads: Sequence[TableRead]) -> None:
        """Update the rows each read took a gradient at (reads without one are skipped)."""
        beta1, beta2 = self.betas
        for read in reads:
            grad = read.latents.grad  # (U, D_t)
            if grad is None or len(read.rows) == 0:
                continue
            t = read.table
            self.steps[t] += 1
            m = self.exp_avg[t].index_select(0, read.rows).mul_(beta1).add_(grad, alpha=1 - beta1)  # (U, D_t)
            v = self.exp_avg_sq[t].index_select(0, read.rows).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            self.exp_avg[t].index_copy_(0, read.rows, m)
            self.exp_avg_sq[t].index_copy_(0, read.rows, v)
            step_size = self.lr * (1 - beta2 ** self.steps[t]) ** 0.5 / (1 - beta1 ** self.steps[t])
            self.tables[t].index_add_(0, read.rows, m.div_(v.sqrt_().add_(self.eps)), alpha=-step_size)

    def grown(self, tables: Sequence[torch.Tensor]) -> RowAdam:
        """This optimiser over larger ``tables`` (the grid's after it grew: same widths, more rows):
        the old rows keep their moments and the step counts carry over."""
        new = RowAdam(tables, self.lr, self.betas, self.eps)
        for t, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            new.exp_avg[t][: len(m)] = m
            new.exp_avg_sq[t][: len(v)] = v
        new.steps = list(self.steps)
        return new
