"""A location head that points at map points: where the 3D-LLM writes a waypoint's location tokens,
their distribution is a mixture over the scene's own points, mixed with the LM's own.

A language model that must write ``<loc12><loc3><loc40>`` for "the red mug" has to carry the mug's
coordinates from the 32 query vectors of the prefix into its output vocabulary. The pointer reads
them straight from the map instead: at the position before a group's first token (``x``) it scores
every map point against the LM's hidden state, ``alpha = softmax_p(q(h) . k(t_p) / sqrt(d))`` over
the point tokens ``t_p`` of the scene encoder (after local context, so a floor point can know it lies
beside a mug). The three tokens of a triple then follow the mixture, factorised as the LM writes it::

    P(x, y, z) = sum_p alpha_p K_x(x; c_px) K_y(y; c_py) K_z(z; c_pz)
    P(x)       = sum_p alpha_p K_x(x; c_px)
    P(y | x)   = sum_p alpha_p K_x(x; c_px) K_y(y; c_py) / sum_p alpha_p K_x(x; c_px)      (and so for z)

where ``c_p`` is point p's position in bin units (bin k's centre is k) and ``K_a`` a Gaussian over
the bins of width ``sigma_a`` (learned, per axis), normalised over the bins. A box's six tokens are
two such triples (its corners). The final distribution over location tokens is
``g P_pointer + (1 - g) P_lm(. | a location token)`` with a learned gate ``g = sigmoid(w . h)``;
the total probability of a location token stays the LM's, so the grammar and the text are untouched.

Positions where the head applies are found from the tokens alone: the trailing run ``r`` of location
tokens before the position gives the axis ``r mod 3`` and the triple's earlier bins. In training
(teacher forcing) they come from the labels (:func:`pointer_positions`); in generation the
:class:`PointerLogitsProcessor` reads them from the ids so far and takes the hidden state from a hook
on the LM's output layer (:func:`capture_head_input`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from transformers import LogitsProcessor, PreTrainedModel

from agent.constraints import trailing_location_run
from agent.scene_encoder import config_from_dict

MASKED = -1e4
"""Score of padded points: finite, so empty scenes give no NaN (their pointer is replaced by the LM's)."""


@dataclass(frozen=True)
class PointerConfig:
    """Settings of the pointer head: ``sigma``: initial width (bins) of each axis' Gaussian kernel."""

    sigma: float = 1.5

    def __post_init__(self) -> None:
        if not (isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"PointerConfig.sigma must be a number of bins > 0, got {self.sigma!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointerConfig:
        return config_from_dict(cls, data)


def bin_table(location_ids: Sequence[int], size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(size,) long: a token id's location bin (``location_ids`` are in bin order), -1 for other tokens."""
    ids = torch.as_tensor(list(location_ids), dtype=torch.long, device=device)
    table = torch.full((size,), -1, dtype=torch.long, device=device)
    table[ids] = torch.arange(len(ids), device=device)
    return table


def bin_coordinates(points: torch.Tensor, bounds: torch.Tensor, bins: int) -> torch.Tensor:
    """points (B, N, 3) metres, bounds (B, 2, 3) each scene's codec box -> (B, N, 3) positions in bin
    units: bin k's centre is k (the location codec's bins; outside the box values run past 0..bins-1)."""
    lower = bounds[:, 0:1, :]  # (B, 1, 3)
    extent = bounds[:, 1:2, :] - lower  # (B, 1, 3)
    return (points.float() - lower) / extent * bins - 0.5  # (B, N, 3)


class LocationPointer(nn.Module):
    """The head of the module docstring: ``hidden`` is the LM's hidden size H, ``point_dim`` the
    scene encoder's width d, ``bins`` the location bins per axis."""

    def __init__(self, config: PointerConfig, hidden: int, point_dim: int, bins: int) -> None:
        super().__init__()
        self.config = config
        self.bins = bins
        self.query = nn.Linear(hidden, point_dim)
        self.key = nn.Linear(point_dim, point_dim)
        self.gate = nn.Linear(hidden, 1)
        self.log_sigma = nn.Parameter(torch.full((3,), math.log(config.sigma)))

    def keys(self, tokens: torch.Tensor) -> torch.Tensor:
        """Point tokens (B, N, d) -> keys (B, N, d)."""
        return self.key(tokens)

    def log_weights(self, hidden: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """hidden (T, H), keys (T, N, d), mask (T, N) -> log alpha (T, N), log-softmax over real points."""
        q = self.query(hidden.to(keys.dtype))  # (T, d)
        scores = torch.einsum("td,tnd->tn", q, keys) / math.sqrt(keys.shape[-1])  # (T, N)
        return scores.float().masked_fill(~mask, MASKED).log_softmax(dim=-1)

    def _log_kernel(self, at: torch.Tensor, centres: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """log K(at; c): at (T, J) bins, centres (T, N), sigma (T,) -> (T, N, J), normalised over all bins."""
        grid = torch.arange(self.bins, device=centres.device, dtype=torch.float32)  # (bins,)
        inv = 1.0 / (2.0 * sigma[:, None, None] ** 2)  # (T, 1, 1)
        log_z = torch.logsumexp(-((grid[None, None] - centres[..., None]) ** 2) * inv, dim=-1)  # (T, N)
        return -((at[:, None, :] - centres[..., None]) ** 2) * inv - log_z[..., None]  # (T, N, J)

    def location_log_probs(
        self, log_alpha: torch.Tensor, coords: torch.Tensor, axis: torch.Tensor, previous: torch.Tensor
    ) -> torch.Tensor:
        """log P_pointer over the bins of the next token: log alpha (T, N) of the triple, coords (T, N, 3)
        bin units, axis (T,) 0/1/2 (x/y/z), previous (T, 2) the triple's x and y bins written so far
        (ignored where the axis does not need them) -> (T, bins)."""
        sigma = self.log_sigma.exp()  # (3,)
        log_w = log_alpha  # (T, N)
        for a in (0, 1):  # condition on the bins of the triple already written
            seen = (axis > a)[:, None]  # (T, 1)
            k = self._log_kernel(previous[:, a : a + 1].float(), coords[..., a], sigma[a].expand(len(axis)))[..., 0]  # (T, N)
            log_w = log_w + torch.where(seen, k, 0.0)
        centres = coords.gather(2, axis[:, None, None].expand(-1, coords.shape[1], 1))[..., 0]  # (T, N)
        grid = torch.arange(self.bins, device=coords.device, dtype=torch.float32).expand(len(axis), -1)  # (T, bins)
        joint = log_w[..., None] + self._log_kernel(grid, centres, sigma[axis])  # (T, N, bins)
        return joint.logsumexp(dim=1) - log_w.logsumexp(dim=1, keepdim=True)  # (T, bins)

    def mix(
        self, logits: torch.Tensor, hidden: torch.Tensor, log_pointer: torch.Tensor, location_ids: torch.Tensor, has_points: torch.Tensor
    ) -> torch.Tensor:
        """The LM's next-token logits (T, V) with the location tokens' share redistributed as
        ``g P_pointer + (1 - g) P_lm`` -> log-probabilities (T, V). hidden (T, H); log_pointer (T, bins);
        has_points (T,) bool, False = an empty scene (the LM's distribution is kept)."""
        logp = logits.float().log_softmax(dim=-1)  # (T, V)
        loc = logp[:, location_ids]  # (T, bins)
        total = loc.logsumexp(dim=-1, keepdim=True)  # (T, 1) log P(a location token)
        gate = self.gate(hidden.to(self.gate.weight.dtype)).float()  # (T, 1)
        mixed = torch.logaddexp(nn.functional.logsigmoid(gate) + log_pointer, nn.functional.logsigmoid(-gate) + loc - total)
        mixed = torch.where(has_points[:, None], mixed, loc - total)  # (T, bins)
        return logp.index_copy(1, location_ids, total + mixed)  # (T, V)


# -- training: positions from the labels -----------------------------------------------------------


@dataclass
class PointerPositions:
    """Where the head applies in a (B, L) teacher-forced batch, T positions in all: ``row`` (T,),
    ``position`` (T,) the index whose logits predict a location token, ``start`` (T,) the index that
    predicts the triple's first token (its hidden state scores the points), ``axis`` (T,) and
    ``previous`` (T, 2) the triple's earlier bins (0 where unused)."""

    row: torch.Tensor
    position: torch.Tensor
    start: torch.Tensor
    axis: torch.Tensor
    previous: torch.Tensor


def pointer_positions(labels: torch.Tensor, bin_of: torch.Tensor) -> PointerPositions:
    """labels (B, L) (position t's logits predict label t + 1), bin_of (V,) a token's bin or -1."""
    bins = torch.where(labels >= 0, bin_of[labels.clamp(min=0)], -1)  # (B, L)
    is_loc = bins >= 0
    run = torch.zeros_like(bins)  # (B, L) location labels in a row ending here
    for i in range(1, labels.shape[1]):
        run[:, i] = (run[:, i - 1] + 1) * is_loc[:, i]
    row, label = is_loc.nonzero(as_tuple=True)  # (T,), (T,)
    axis = (run[row, label] - 1) % 3  # (T,)
    first = label - axis  # label index of the triple's x
    previous = torch.stack([bins[row, first], bins[row, (first + 1).clamp(max=labels.shape[1] - 1)]], dim=1).clamp(min=0)
    return PointerPositions(row, label - 1, first - 1, axis, previous)


# -- generation -------------------------------------------------------------------------------------


@contextmanager
def capture_head_input(lm: PreTrainedModel) -> Iterator[list[torch.Tensor]]:
    """Within the block, the input of ``lm``'s output layer (its last hidden states, (B, T, H)) of
    each forward call is appended to the yielded list (the last call's only is kept)."""
    store: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        store[:] = [args[0]]

    handle = lm.get_output_embeddings().register_forward_pre_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


class PointerLogitsProcessor(LogitsProcessor):
    """Applies the pointer head during ``generate``: keys (B, N, d), mask (B, N), coords (B, N, 3) of
    the batch's scenes, the LM's last hidden state from ``store`` (:func:`capture_head_input`).
    Every step recomputes the point weights where a triple may start (axis 0) and keeps them through
    its y and z; ids (no beams: one row per scene)."""

    def __init__(
        self,
        pointer: LocationPointer,
        keys: torch.Tensor,
        mask: torch.Tensor,
        coords: torch.Tensor,
        location_ids: Sequence[int],
        store: list[torch.Tensor],
    ) -> None:
        self.pointer = pointer
        self.keys, self.mask, self.coords = keys, mask, coords
        self.location_ids = torch.as_tensor(list(location_ids), device=keys.device)
        self.bin_of = bin_table(location_ids, int(self.location_ids.max()) + 1, keys.device)
        self.store = store
        self.log_alpha: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids (B, T) new ids so far, scores (B, V) -> (B, V) log-probabilities."""
        if input_ids.shape[0] != self.keys.shape[0]:
            raise ValueError(f"the pointer head decodes one row per scene ({self.keys.shape[0]}), got {input_ids.shape[0]} rows; use num_beams=1")
        hidden = self.store[-1][:, -1]  # (B, H)
        axis = trailing_location_run(input_ids, self.location_ids) % 3  # (B,)
        fresh = self.pointer.log_weights(hidden, self.keys, self.mask)  # (B, N)
        self.log_alpha = fresh if self.log_alpha is None else torch.where((axis == 0)[:, None], fresh, self.log_alpha)
        previous = torch.zeros(len(axis), 2, dtype=torch.long, device=scores.device)
        t = input_ids.shape[1]
        for a in (0, 1):  # bin of the token written (axis - a) steps ago: the triple's x, then y
            back = (axis - a).clamp(min=1)  # (B,) steps back, >= 1
            ids = input_ids.gather(1, (t - back).clamp(min=0)[:, None])[:, 0] if t else torch.zeros_like(axis)
            found = self.bin_of[ids.clamp(max=len(self.bin_of) - 1)].clamp(min=0)
            previous[:, a] = torch.where(axis > a, found, 0)
        log_pointer = self.pointer.location_log_probs(self.log_alpha, self.coords, axis, previous)  # (B, bins)
        return self.pointer.mix(scores, hidden, log_pointer, self.location_ids, self.mask.any(dim=1)).to(scores.dtype)
