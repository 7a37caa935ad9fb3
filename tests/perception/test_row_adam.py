"""RowAdam and the grid's training reads (perception.row_adam, SparseLatentGrid.read): the same
updates as torch's SparseAdam over sparse embedding gradients, without the sparse gradient."""

import numpy as np
import torch
import torch.nn.functional as F

from perception.neural_grid import SparseLatentGrid, distinct_rows
from perception.row_adam import RowAdam


def test_distinct_rows_and_their_positions():
    rows = torch.tensor([[5, 2, 5], [9, 0, 2]])
    distinct, inverse = distinct_rows(rows, capacity=12)
    assert distinct.tolist() == [0, 2, 5, 9]
    assert torch.equal(distinct[inverse], rows)


def test_a_read_blends_as_embedding_bag_and_its_gradients_match():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(40, 6, generator=g)
    rows = torch.randint(0, 40, (30, 8), generator=g)
    weights = torch.rand(30, 8, generator=g).requires_grad_()
    grid = SparseLatentGrid(vertex_size=0.1, dim=6, initial_capacity=40)
    grid.tables[0].copy_(table)
    out, read = grid.read(rows, weights, 0)
    upstream = torch.randn(30, 6, generator=g)
    out.backward(upstream)
    reference_table = table.clone().requires_grad_()
    reference_weights = weights.detach().clone().requires_grad_()
    expected = F.embedding_bag(rows, reference_table, per_sample_weights=reference_weights, mode="sum")
    expected.backward(upstream)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(read.latents.grad, reference_table.grad[read.rows])
    assert float(reference_table.grad[~torch.isin(torch.arange(40), read.rows)].abs().sum()) == 0.0  # rows not read get nothing
    torch.testing.assert_close(weights.grad, reference_weights.grad)


def test_row_adam_steps_as_sparse_adam_through_growth():
    """Steps of reads with repeated rows, small gradients (where eps counts) and a grid that grows
    between steps: RowAdam's tables stay within float rounding of SparseAdam's."""
    rng = np.random.default_rng(0)
    grid = SparseLatentGrid(vertex_size=0.1, dim=(3, 5), initial_capacity=16)
    grid.allocate_cells(rng.uniform(-0.2, 0.2, size=(20, 3)))
    grid.write_rows(0, torch.from_numpy(rng.normal(size=(len(grid), 8)).astype(np.float32)))
    reference = [torch.nn.Parameter(t.clone()) for t in grid.tables]
    ours, theirs = RowAdam(grid.tables, lr=0.02), torch.optim.SparseAdam(reference, lr=0.02)
    for step in range(6):
        if step == 3:  # the grid grows: both optimisers carry their moments over
            grid.allocate_cells(rng.uniform(0.3, 0.6, size=(40, 3)))
            assert grid.grew
            ours = ours.grown(grid.tables)
            more = [torch.nn.Parameter(torch.cat([r.detach(), t[len(r):]])) for r, t in zip(reference, grid.tables)]
            state = {new: theirs.state[old] for old, new in zip(reference, more)}
            for s, new in zip(state.values(), more):
                pad = torch.zeros(new.shape[0] - s["exp_avg"].shape[0], new.shape[1])
                s["exp_avg"], s["exp_avg_sq"] = torch.cat([s["exp_avg"], pad]), torch.cat([s["exp_avg_sq"], pad])
            reference, theirs = more, torch.optim.SparseAdam(more, lr=0.02)
            theirs.state.update(state)
        rows = torch.from_numpy(rng.integers(0, len(grid), size=(64, 8)))
        weights = torch.from_numpy(rng.random((64, 8)).astype(np.float32))
        target = torch.from_numpy(rng.normal(size=(64, 8)).astype(np.float32)) * (1e-4 if step % 2 else 1.0)
        reads, loss = [], 0.0
        for t, (lo, hi) in enumerate(((0, 3), (3, 8))):
            out, read = grid.read(rows, weights, t)
            reads.append(read)
            loss = loss + ((out - target[:, lo:hi]) ** 2).mean()
        loss.backward()
        ours.step(reads)
        expected = sum(((F.embedding_bag(rows, r, per_sample_weights=weights, mode="sum", sparse=True) - target[:, lo:hi]) ** 2).mean()
                       for r, (lo, hi) in zip(reference, ((0, 3), (3, 8))))
        theirs.zero_grad()
        expected.backward()
        theirs.step()
        for ours_table, their_table in zip(grid.tables, reference):
            torch.testing.assert_close(ours_table, their_table.detach(), atol=1e-5, rtol=1e-5)
