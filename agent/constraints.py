"""Constrained decoding: location tokens only in complete groups (3 for a waypoint, 6 for a box), and
boxes whose upper corner lies nowhere below their lower one.

``LocationGroupProcessor`` is a ``transformers.LogitsProcessor``. It reads the state from the ids
generated so far (no hidden state, so it works with batches, beams and restarts): ``r`` = the number
of location tokens at the end of the sequence (the trailing run). Rules, for a group size ``g``:

1. inside a group (``r % g != 0``): only location tokens are allowed (not even EOS), so a group
   always completes;
2. right after a complete group (``r > 0`` and ``r % g == 0``): location tokens are forbidden, so
   the step's text comes before the next group, unless ``consecutive_groups`` is set (then a new
   group may follow directly);
3. right after a trigger token (one of ``force_after_token_ids``, e.g. the id of a marker the data
   puts before a position): only location tokens are allowed, so a group starts;
4. budget: with ``max_length`` set (the length of ``input_ids`` at which generation stops), a group
   may start only if it can complete within it; this overrides rule 3, so output is never cut mid-group.

Elsewhere the logits are untouched. Forbidden entries become ``-inf``.

``BoxOrderProcessor`` adds one rule for boxes (groups of 6, ``xmin ymin zmin xmax ymax zmax``): an
upper corner's token may not take a bin below the lower corner's on the same axis, so every box
written reads as one. It runs last (after the location pointer, which spreads probability over all
location tokens): ``LocationGrammar.order_processor``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase


def bin_table(location_ids: Sequence[int], size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(size,) long: a token id's location bin (``location_ids`` are in bin order), -1 for other tokens."""
    ids = torch.as_tensor(list(location_ids), dtype=torch.long, device=device)
    table = torch.full((size,), -1, dtype=torch.long, device=device)
    table[ids] = torch.arange(len(ids), device=device)
    return table


def trailing_location_run(input_ids: torch.Tensor, is_location: torch.Tensor) -> torch.Tensor:
    """(B, T) ids, is_location (V,) bool over the vocabulary (True = a location token) -> (B,) the
    number of location tokens at the end of each row (0 when T = 0). A table lookup, not
    ``torch.isin``: this runs for every generated token."""
    b, t = input_ids.shape
    if t == 0:
        return torch.zeros(b, dtype=torch.long, device=input_ids.device)
    is_loc = is_location.to(input_ids.device)[input_ids]  # (B, T)
    # index + 1 of the last non-location token (0 if none) -> length of the trailing location run
    positions = torch.arange(1, t + 1, device=input_ids.device).expand(b, t)
    return t - torch.where(is_loc, 0, positions).max(dim=1).values  # (B,)


class LocationGroupProcessor(LogitsProcessor):
    """Enforces the location-token grammar described in the module docstring.

    ``location_ids``: the ids of ``<loc0>``..``<loc{B-1}>`` (``agent.tokenizer.location_token_ids``);
    ``group_size``: tokens per group (3: x y z waypoint; 6: box); ``consecutive_groups``: whether a
    group may directly follow another; ``force_after_token_ids``: ids after which a group must start;
    ``max_length``: the ``input_ids`` length at which generation ends (None: no budget rule).
    """

    def __init__(
        self,
        location_ids: Iterable[int],
        group_size: int = 3,
        consecutive_groups: bool = False,
        force_after_token_ids: Iterable[int] = (),
        max_length: int | None = None,
    ) -> None:
        ids = sorted(set(int(i) for i in location_ids))
        if not ids:
            raise ValueError("LocationGroupProcessor: location_ids is empty; pass agent.tokenizer.location_token_ids(tokenizer)")
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"LocationGroupProcessor: group_size must be an integer >= 1, got {group_size!r}")
        force = sorted(set(int(i) for i in force_after_token_ids))
        overlap = set(force) & set(ids)
        if overlap:
            raise ValueError(f"LocationGroupProcessor: force_after_token_ids must not be location tokens, got {sorted(overlap)}")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0):
            raise ValueError(f"LocationGroupProcessor: max_length must be None or an integer >= 0, got {max_length!r}")
        self.location_ids = torch.tensor(ids, dtype=torch.long)
        self.force_ids = torch.tensor(force, dtype=torch.long)
        self.group_size = group_size
        self.consecutive_groups = consecutive_groups
        self.max_length = max_length
        self._cache_key: tuple[int, str] | None = None
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids (B, T) ids so far, scores (B, V) next-token logits -> (B, V) with forbidden ids at -inf."""
        b, t = input_ids.shape
        device = scores.device
        loc_ids, is_loc_vocab = self._vocab_mask(scores.shape[-1], device)  # (L,), (V,)
        run = trailing_location_run(input_ids.to(device), is_loc_vocab)  # (B,)
        if t == 0:
            forced = torch.zeros(b, dtype=torch.bool, device=device)
        else:
            forced = torch.isin(input_ids[:, -1].to(device), self.force_ids.to(device))  # (B,) the last token is a trigger
        in_group = run % self.group_size != 0  # (B,)
        completed = (run > 0) & ~in_group
        can_start = torch.ones_like(in_group)
        if self.max_length is not None:
            can_start = torch.full_like(in_group, self.max_length - t >= self.group_size)
        if not self.consecutive_groups:
            can_start = can_start & ~completed
        only_loc = in_group | (forced & can_start)  # (B,)
        no_loc = ~only_loc & ~can_start  # (B,)
        forbidden = (only_loc.unsqueeze(1) & ~is_loc_vocab) | (no_loc.unsqueeze(1) & is_loc_vocab)  # (B, V)
        return scores.masked_fill(forbidden, float("-inf"))

    def _vocab_mask(self, vocab_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Location ids on ``device`` and the (V,) bool mask of location ids, cached per size and device."""
        key = (vocab_size, str(device))
        if self._cache_key != key:
            loc_ids = self.location_ids.to(device)
            mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
            mask[loc_ids[loc_ids < vocab_size]] = True
            self._cache_key, self._cache = key, (loc_ids, mask)
        return self._cache


class BoxOrderProcessor(LogitsProcessor):
    """Keeps a box's upper corner from lying below its lower corner: inside a group of 6 location
    tokens, the 4th-6th (``xmax ymax zmax``) may not take a bin below the 1st-3rd's on the same axis.
    ``location_ids``: the ids of ``<loc0>``..``<loc{B-1}>`` in bin order."""

    def __init__(self, location_ids: Sequence[int]) -> None:
        self.location_ids = list(location_ids)
        if not self.location_ids:
            raise ValueError("BoxOrderProcessor: location_ids is empty; pass agent.tokenizer.location_token_ids(tokenizer)")
        self.bin_of = bin_table(self.location_ids, max(self.location_ids) + 1)  # (V,) grown to the vocabulary on use

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids (B, T) ids so far, scores (B, V) -> (B, V) with the bins below the lower corner's at -inf."""
        if len(self.bin_of) < scores.shape[1] or self.bin_of.device != scores.device:
            self.bin_of = bin_table(self.location_ids, max(scores.shape[1], len(self.bin_of)), scores.device)
        if input_ids.shape[1] < 3:
            return scores
        run = trailing_location_run(input_ids.to(scores.device), self.bin_of >= 0)  # (B,)
        rows = (run % 6 >= 3).nonzero(as_tuple=True)[0]  # (R,) rows writing an upper corner
        if not len(rows):
            return scores
        lower = self.bin_of[input_ids[rows, -3].to(scores.device)]  # (R,) the same axis's lower bin, three tokens back
        bins = self.bin_of[: scores.shape[1]]  # (V,)
        forbidden = (bins >= 0) & (bins < lower[:, None])  # (R, V)
        out = scores.clone()
        out[rows] = scores[rows].masked_fill(forbidden, float("-inf"))
        return out


@dataclass(frozen=True)
class LocationGrammar:
    """The grammar a model's output follows, in tokens' names (saved with nothing; pass it to generate).

    ``group_size``: 3 (waypoint ``x y z``) or 6 (box ``xmin ymin zmin xmax ymax zmax``);
    ``consecutive_groups``: whether one group may directly follow another; ``force_after``: token
    strings (each a single token of the tokenizer) after which a group must start.
    """

    group_size: int = 3
    consecutive_groups: bool = False
    force_after: tuple[str, ...] = ()

    def processor(
        self, tokenizer: PreTrainedTokenizerBase, location_ids: Iterable[int], max_length: int | None = None
    ) -> LocationGroupProcessor:
        """The logits processor for this grammar; ``max_length`` as in :class:`LocationGroupProcessor`."""
        force_ids = []
        vocab = tokenizer.get_vocab()
        for token in self.force_after:
            if token not in vocab:
                raise ValueError(
                    f"LocationGrammar.force_after: {token!r} is not a single token of the tokenizer; "
                    f"add it as a token or use a marker the tokenizer has"
                )
            force_ids.append(vocab[token])
        return LocationGroupProcessor(location_ids, self.group_size, self.consecutive_groups, force_ids, max_length)

    def order_processor(self, location_ids: Sequence[int]) -> BoxOrderProcessor | None:
        """For boxes (``group_size`` 6) the :class:`BoxOrderProcessor` to run after every other
        processor; None for waypoints."""
        return BoxOrderProcessor(location_ids) if self.group_size == 6 else None
