"""A location head that points at map points: where the 3D-LLM writes a waypoint's location tokens,
their distribution is a mixture over the scene's own points, mixed with the LM's own.

A language model that must write ``<loc12><loc3><loc40>`` for "the red mug" has to carry the mug's
coordinates from the 32 query vectors of the prefix into its output vocabulary. The pointer reads
them straight from the map instead: at the position before a group's first token (``x``) it scores
every map point against the LM's hidden state, ``alpha = softmax_p(q(h) . k(t_p) / sqrt(d))`` over
the point tokens ``t_p`` of the scene encoder (after local context, so a floor point can know it lies
beside a mug). The three tokens of a triple then follow the mixture, factorised as the LM writes it::

    P(x)     = sum_p alpha_p K_x(x; c_px)
    P(y | x) = sum_p alpha_p K_x(x; c_px) K_y(y; c_py) / sum_p alpha_p K_x(x; c_px)
    P(z | x)   likewise (the default), or P(z | x, y) with PointerConfig.condition_on = "xy"

where ``c_p`` is point p's position in bin units (bin k's centre is k) and ``K_a`` a Gaussian over
the bins of width ``sigma_a`` (learned, per axis), normalised over the bins. z conditions on x
alone by default because a waypoint lies on the floor, below the object whose points the mixture
follows: its written height would pull z towards floor points elsewhere. With ``"xy"`` the triple
follows the full mixture ``P(x, y, z) = sum_p alpha_p K_x K_y K_z``. A box's six tokens are
two such triples (its corners). The final distribution over location tokens is
``g P_pointer + (1 - g) P_lm(. | a location token)`` with a learned gate ``g = sigmoid(w . h)``;
the total probability of a location token stays the LM's, so the grammar and the text are untouched.

**Phrase prior** (``PointerConfig.phrase_scale > 0``): learning to turn the hidden state for "the red
armchair" into a key that matches that object's features is slow. When the map's features live in a
sentence encoder's space (``SemanticTextExtractor``, CLIP), the text the group refers to already
says which points are meant: the scores get ``+ s z_p``, with ``z_p = cos(f_p, e(phrase))``
standardised over the scene's points (:func:`phrase_relevance`), ``f_p`` the point's raw map
feature, ``e`` the same sentence encoder's embedding of the group's phrase (:func:`location_phrase`:
the step's text before its tokens, "find the red armchair") and ``s`` a
learned scale. The open-vocabulary grounding of VLMaps, inside the head and trained end to end.

Positions where the head applies are found from the tokens alone: the trailing run ``r`` of location
tokens before the position gives the axis ``r mod 3`` and the triple's earlier bins. In training
(teacher forcing) they come from the labels (:func:`pointer_positions`); in generation the
:class:`PointerLogitsProcessor` reads them from the ids so far and takes the hidden state from a hook
on the LM's output layer (:func:`capture_head_input`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import LogitsProcessor, PreTrainedModel

from agent.constraints import bin_table, trailing_location_run
from agent.location_codec import LOCATION_TOKEN
from agent.scene_encoder import config_from_dict

MASKED = -1e4
"""Score of padded points: finite, so empty scenes give no NaN (their pointer is replaced by the LM's)."""


FLOOR_NATS = 80.0
"""Terms further than this below a sum's largest are counted as this far below (:func:`floored_logsumexp`)."""

STEP_NUMBER = re.compile(r"^\s*\d+\.\s*")


@dataclass(frozen=True)
class PointerConfig:
    """Settings of the pointer head: ``sigma``: initial width (bins) of each axis' Gaussian kernel;
    ``phrase_scale``: initial scale ``s`` of the phrase prior (module doc), 0 = no phrase prior (then
    no sentence encoder is needed); ``condition_on``: the axes written earlier in a triple that later
    ones condition on, "x" (default), "xy" or "" (module doc)."""

    sigma: float = 1.5
    phrase_scale: float = 0.0
    condition_on: str = "x"

    def __post_init__(self) -> None:
        if not (isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"PointerConfig.sigma must be a number of bins > 0, got {self.sigma!r}")
        if self.condition_on not in ("", "x", "xy"):
            raise ValueError(f"PointerConfig.condition_on must be '', 'x' or 'xy', got {self.condition_on!r}")
        if not (isinstance(self.phrase_scale, (int, float)) and math.isfinite(self.phrase_scale) and self.phrase_scale >= 0):
            raise ValueError(f"PointerConfig.phrase_scale must be a number >= 0 (0 = no phrase prior), got {self.phrase_scale!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointerConfig:
        """The config saved by ``to_dict``; one saved before ``condition_on`` existed conditioned on x and y."""
        return config_from_dict(cls, {"condition_on": "xy", **data})


def floored_logsumexp(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """``torch.logsumexp(x, dim)`` with every term more than ``FLOOR_NATS`` below the largest counted
    as that far below. Such terms hold less than n e^-80 of the sum, nothing in float32, but ``exp``
    of an argument below about -88 takes a slow path on CPUs (20-45 times slower per element, measured
    here), and the Gaussian kernels over 64 bins are mostly such terms. Each slice along ``dim`` needs
    one finite value; the gradient is the softmax of the unfloored terms."""
    top = x.amax(dim=dim, keepdim=True).detach()  # (..., 1, ...)
    out = (x - top).clamp(min=-FLOOR_NATS).exp().sum(dim=dim, keepdim=True).log() + top
    return out if keepdim else out.squeeze(dim)


def bin_coordinates(points: torch.Tensor, bounds: torch.Tensor, bins: int) -> torch.Tensor:
    """points (B, N, 3) metres, bounds (B, 2, 3) each scene's codec box -> (B, N, 3) positions in bin
    units: bin k's centre is k (the location codec's bins; outside the box values run past 0..bins-1)."""
    lower = bounds[:, 0:1, :]  # (B, 1, 3)
    extent = bounds[:, 1:2, :] - lower  # (B, 1, 3)
    return (points.float() - lower) / extent * bins - 0.5  # (B, N, 3)


def location_phrase(answer_before: str, prompt: str) -> str:
    """The text a location group refers to: the answer's text after its last location token, step
    number removed ("2. find the red mug " -> "find the red mug"), or, where that is empty (a grounding
    box's corners), the prompt without its location tokens."""
    phrase = STEP_NUMBER.sub("", LOCATION_TOKEN.split(answer_before)[-1]).strip(" .,;:")
    return phrase or " ".join(LOCATION_TOKEN.sub(" ", prompt).split())


def unit_features(features: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Map features (..., N, C) -> float32 on ``device``, each scaled to unit length (rows of zeros stay
    zero): the form :func:`phrase_relevance` reads."""
    return nn.functional.normalize(features.to(device).float(), dim=-1)


def phrase_relevance(unit: torch.Tensor, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """unit (T, N, C) unit-length map features (:func:`unit_features`; rows of zeros for featureless
    points), embeddings (T, C) unit phrase embeddings, mask (T, N) real points -> (T, N) cosines
    standardised over each scene's real points (0 on padding). Raw cosines of a sentence embedding
    spread little (a tv's 3 points at 0.46 against a median of 0.34 for "find the tv"); standardised
    they stand 2-3 deviations out whatever the phrasing, so one learned scale fits every phrase."""
    cos = torch.bmm(unit, embeddings.to(unit.dtype)[:, :, None])[..., 0].float()  # (T, N)
    m = mask.float()
    count = m.sum(dim=1, keepdim=True).clamp(min=1.0)  # (T, 1)
    mean = (cos * m).sum(dim=1, keepdim=True) / count
    std = (((cos - mean) ** 2 * m).sum(dim=1, keepdim=True) / count).sqrt().clamp(min=1e-6)
    return torch.where(mask, (cos - mean) / std, 0.0)


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
        self.conditioned_axes = tuple("xy".index(a) for a in config.condition_on)
        self.log_phrase_scale = nn.Parameter(torch.tensor(math.log(config.phrase_scale))) if config.phrase_scale > 0 else None

    @property
    def uses_phrases(self) -> bool:
        """Whether the scores take the phrase prior (``PointerConfig.phrase_scale > 0``)."""
        return self.log_phrase_scale is not None

    def keys(self, tokens: torch.Tensor) -> torch.Tensor:
        """Point tokens (B, N, d) -> keys (B, N, d) in the head's dtype. The product runs in the tokens'
        dtype: a bfloat16 scene encoder (``ThreeDLLM.use_point_dtype``) gets its fast products here
        too, while the head's per-token work stays in its own dtype."""
        weight, bias = self.key.weight.to(tokens.dtype), self.key.bias.to(tokens.dtype)
        return nn.functional.linear(tokens, weight, bias).to(self.key.weight.dtype)

    def log_weights(self, hidden: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor, relevance: torch.Tensor | None = None) -> torch.Tensor:
        """hidden (T, H), keys (T, N, d), mask (T, N), relevance (T, N) the phrase prior's cosines
        (:func:`phrase_relevance`; needed when ``uses_phrases``) -> log alpha (T, N), log-softmax over real points."""
        q = self.query(hidden.to(keys.dtype))  # (T, d)
        scores = torch.einsum("td,tnd->tn", q, keys).float() / math.sqrt(keys.shape[-1])  # (T, N)
        if self.uses_phrases:
            if relevance is None:
                raise ValueError("this pointer head has a phrase prior (phrase_scale > 0): give the phrases' relevance (T, N)")
            scores = scores + self.log_phrase_scale.exp() * relevance.float()
        return scores.masked_fill(~mask, MASKED).log_softmax(dim=-1)

    def _log_kernel(self, at: torch.Tensor, centres: torch.Tensor, sigma: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
        """log K(at; c): at (T, J) bins, centres (T, N), sigma (T,), log_z (T, N) the centres'
        normalisers (:meth:`log_normalisers`) -> (T, N, J), normalised over all bins."""
        inv = 1.0 / (2.0 * sigma[:, None, None] ** 2)  # (T, 1, 1)
        return -((at[:, None, :] - centres[..., None]) ** 2) * inv - log_z[..., None]  # (T, N, J)

    def log_normalisers(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, N, 3) bin units -> (B, N, 3) log of each point's kernel summed over all bins, per axis."""
        inv = 1.0 / (2.0 * self.log_sigma.exp().float() ** 2)  # (3,)
        grid = torch.arange(self.bins, device=coords.device, dtype=torch.float32)  # (bins,)
        return floored_logsumexp(-((grid - coords.float()[..., None]) ** 2) * inv[:, None], dim=-1)  # (B, N, 3, bins) -> (B, N, 3)

    def log_kernels(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, N, 3) bin units -> (B, 3, bins, N): log K_a(j; c_pa) for every axis a, bin j and
        point p, normalised over the bins. Fixed for a scene, so generation computes it once
        (:meth:`table_log_probs`); points last, so a mixture sums over contiguous memory."""
        b, n, _ = coords.shape
        sigma = self.log_sigma.exp().float().repeat(b * n)  # (B*N*3,) x, y, z per point
        grid = torch.arange(self.bins, device=coords.device, dtype=torch.float32).expand(b * n * 3, -1)  # (B*N*3, bins)
        centres, log_z = coords.float().reshape(-1, 1), self.log_normalisers(coords).reshape(-1, 1)  # (B*N*3, 1) each
        table = self._log_kernel(grid, centres, sigma, log_z).view(b, n, 3, self.bins)  # (B, N, 3, bins)
        return table.permute(0, 2, 3, 1).contiguous()  # (B, 3, bins, N)

    def location_log_probs(
        self, log_alpha: torch.Tensor, coords: torch.Tensor, axis: torch.Tensor, previous: torch.Tensor
    ) -> torch.Tensor:
        """log P_pointer over the bins of the next token: log alpha (T, N) of the triple, coords (T, N, 3)
        bin units, axis (T,) 0/1/2 (x/y/z), previous (T, 2) the triple's x and y bins written so far
        (ignored where the axis does not need them) -> (T, bins). Kernels are computed for these T rows
        alone (training: each position its own scene row); :meth:`table_log_probs` reads them from a table."""
        sigma = self.log_sigma.exp()  # (3,)
        log_z = self.log_normalisers(coords)  # (T, N, 3)
        written = {
            a: self._log_kernel(previous[:, a : a + 1].float(), coords[..., a], sigma[a].expand(len(axis)), log_z[..., a])[..., 0]
            for a in self.conditioned_axes
        }  # axis -> (T, N) log K at the bin written on it
        pick = axis[:, None, None].expand(-1, coords.shape[1], 1)  # (T, N, 1)
        centres, centre_z = coords.gather(2, pick)[..., 0], log_z.gather(2, pick)[..., 0]  # (T, N), (T, N)
        grid = torch.arange(self.bins, device=coords.device, dtype=torch.float32).expand(len(axis), -1)  # (T, bins)
        return self._mixture(log_alpha, axis, written, self._log_kernel(grid, centres, sigma[axis], centre_z))

    def table_log_probs(self, log_alpha: torch.Tensor, log_kernels: torch.Tensor, axis: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """As :meth:`location_log_probs`, with the points' kernels read from ``log_kernels`` (T, 3, bins, N)
        (:meth:`log_kernels` of the rows' scenes) instead of computed -> (T, bins)."""
        rows = torch.arange(len(axis), device=axis.device)  # (T,)
        written = {a: log_kernels[rows, a, previous[:, a]] for a in self.conditioned_axes}  # axis -> (T, N) at the bin written
        return self._mixture(log_alpha, axis, written, log_kernels[rows, axis].transpose(1, 2))  # kernels (T, N, bins)

    @staticmethod
    def _mixture(log_alpha: torch.Tensor, axis: torch.Tensor, written: dict[int, torch.Tensor], log_kernel: torch.Tensor) -> torch.Tensor:
        """log alpha (T, N); axis (T,); written: conditioned axis -> (T, N) log K of each point at the
        bin written on it (used where ``axis`` is past it); log_kernel (T, N, bins) on the axis written
        next (a transposed view of (T, bins, N) makes the sum over points run on contiguous memory)
        -> (T, bins) log P of the mixture, conditioned on the bins written."""
        log_w = log_alpha  # (T, N)
        for a, k in written.items():
            log_w = log_w + torch.where((axis > a)[:, None], k, 0.0)
        joint = log_w[..., None] + log_kernel  # (T, N, bins), in log_kernel's memory order
        return floored_logsumexp(joint, dim=1) - floored_logsumexp(log_w, dim=1, keepdim=True)  # (T, bins)

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
    the batch's scenes, the LM's last hidden state from ``store`` (:func:`capture_head_input`); ids
    (no beams: one row per scene). With a phrase prior, ``relevance(rows, ids)`` gives those rows'
    (len(rows), N) standardised cosines from the ids written so far. ``greedy``: the decoder takes
    the most likely token (no sampling), which lets rows where no location token can win be skipped.

    A row is worked on only inside a triple (y, z) and where one may start with at least
    ``MIN_LOCATION_MASS`` of the LM's probability on location tokens; there the point weights are
    computed afresh (at x) or kept (y, z) and the row gets the mixed log-probabilities. Other rows
    keep the LM's scores: the pointer only moves mass among location tokens, so below that share it
    could change nothing a greedy decoder picks, and text tokens cost no pass over the points. With
    ``greedy`` a row is also skipped where a text token is more likely than all location tokens
    together: no location token can then be picked, whatever the mixture. Run it after a grammar
    (``agent.constraints``), whose masks then count: a forced group has all the mass. The
    points' kernels are tabulated once (:meth:`LocationPointer.log_kernels`), so a location token
    costs one pass over the points. The weights computed where each triple started are kept:
    :meth:`group_weights` gives them per written group."""

    MIN_LOCATION_MASS = 1e-3

    def __init__(
        self,
        pointer: LocationPointer,
        keys: torch.Tensor,
        mask: torch.Tensor,
        coords: torch.Tensor,
        location_ids: Sequence[int],
        store: list[torch.Tensor],
        relevance: Callable[[list[int], list[list[int]]], torch.Tensor] | None = None,
        greedy: bool = False,
    ) -> None:
        if pointer.uses_phrases and relevance is None:
            raise ValueError("this pointer head has a phrase prior: give relevance(rows, ids so far) -> (rows, N)")
        self.relevance = relevance
        self.greedy = greedy
        self.pointer = pointer
        self.keys, self.mask = keys, mask
        self.location_ids = torch.as_tensor(list(location_ids), device=keys.device)
        self.bin_of = bin_table(location_ids, int(self.location_ids.max()) + 1, keys.device)  # (V,) grown to the vocabulary on use
        self.is_location = self.bin_of >= 0  # (V,)
        self.store = store
        # uniform over each scene's points until a triple starts (only a sampled, unlikely x meets it)
        self.log_alpha = torch.zeros(mask.shape, device=keys.device).masked_fill(~mask, MASKED).log_softmax(dim=-1)  # (B, N)
        self._started: dict[tuple[int, int], torch.Tensor] = {}  # (row, new tokens so far) -> (N,) log-weights computed there
        with torch.no_grad():
            self.log_kernels = pointer.log_kernels(coords)  # (B, 3, bins, N), fixed for the scenes

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids (B, T) new ids so far, scores (B, V) -> (B, V): log-probabilities on the rows the
        head works on, the LM's scores elsewhere."""
        if input_ids.shape[0] != self.keys.shape[0]:
            raise ValueError(f"the pointer head decodes one row per scene ({self.keys.shape[0]}), got {input_ids.shape[0]} rows; use num_beams=1")
        if len(self.bin_of) < scores.shape[1]:  # a bin for every id of the vocabulary, -1 = not a location
            self.bin_of = bin_table(self.location_ids.tolist(), scores.shape[1], scores.device)
            self.is_location = self.bin_of >= 0
        logp = scores.float().log_softmax(dim=-1)  # (B, V)
        log_mass = logp[:, self.location_ids].logsumexp(dim=-1)  # (B,) log P(a location token)
        mass = log_mass.exp()  # (B,)
        locating = mass >= self.MIN_LOCATION_MASS  # (B,)
        if input_ids.shape[1]:  # a triple can be under way only after a location token
            locating = locating | self.is_location[input_ids[:, -1]]
        if self.greedy:  # a location token can be picked only where they together beat every text token
            locating = locating & (log_mass >= logp.masked_fill(self.is_location, float("-inf")).amax(dim=-1))
        if not bool(locating.any()):
            return scores
        axis = trailing_location_run(input_ids, self.is_location) % 3  # (B,)
        active = locating & ((axis > 0) | (mass >= self.MIN_LOCATION_MASS))  # (B,)
        if not bool(active.any()):
            return scores
        hidden = self.store[-1][:, -1]  # (B, H)
        starts = (active & (axis == 0)).nonzero(as_tuple=True)[0]  # rows whose triple starts here
        if len(starts):
            relevance = None
            if self.pointer.uses_phrases:
                rows = starts.tolist()
                relevance = self.relevance(rows, [input_ids[r].tolist() for r in rows])  # (S, N)
            self.log_alpha[starts] = self.pointer.log_weights(hidden[starts], self.keys[starts], self.mask[starts], relevance)
            for r in starts.tolist():
                self._started[(r, input_ids.shape[1])] = self.log_alpha[r].clone()
        rows = active.nonzero(as_tuple=True)[0]  # (A,)
        axis, ids = axis[rows], input_ids[rows]
        previous = torch.zeros(len(rows), 2, dtype=torch.long, device=scores.device)
        t = ids.shape[1]
        for a in (0, 1):  # bin of the token written (axis - a) steps ago: the triple's x, then y
            back = (axis - a).clamp(min=1)  # (A,) steps back, >= 1
            written = ids.gather(1, (t - back).clamp(min=0)[:, None])[:, 0] if t else torch.zeros_like(axis)
            found = self.bin_of[written].clamp(min=0)
            previous[:, a] = torch.where(axis > a, found, 0)
        every = len(rows) == len(active)  # (no copy of the table then)
        log_alpha = self.log_alpha if every else self.log_alpha[rows]  # (A, N)
        log_kernels = self.log_kernels if every else self.log_kernels[rows]  # (A, 3, bins, N)
        log_pointer = self.pointer.table_log_probs(log_alpha, log_kernels, axis, previous)  # (A, bins)
        mixed = self.pointer.mix(scores[rows], hidden[rows], log_pointer, self.location_ids, self.mask[rows].any(dim=1))  # (A, V)
        out = scores.float().clone()
        out[rows] = mixed
        return out.to(scores.dtype)

    def group_weights(self, new_ids: torch.Tensor) -> list[list[np.ndarray]]:
        """For each row of the generated ids (B, T), the point weights (N,) (summing to 1 over the
        scene's points) the head computed where each complete location triple of that row started,
        in the order written; a triple the head did not start has none (the row's list is then shorter)."""
        is_loc = torch.isin(new_ids, self.location_ids.to(new_ids.device)).tolist()  # (B, T)
        out = []
        for r, row in enumerate(is_loc):
            weights, run = [], 0
            for t, loc in enumerate(row):
                run = run + 1 if loc else 0
                if loc and run % 3 == 1 and t + 2 < len(row) and row[t + 1] and row[t + 2] and (r, t) in self._started:
                    weights.append(self._started[(r, t)].exp().cpu().numpy())
            out.append(weights)
        return out
