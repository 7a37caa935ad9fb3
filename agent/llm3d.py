"""The 3D-LLM: a scene encoder's K query vectors as a soft prefix of a causal language model.

Prompt layout (token positions, one sequence)::

    <bos> <scene> [q_1 ... q_K] instruction tokens <plan> | answer tokens <eos>

- ``<bos>``, ``<scene>``, ``<plan>``, ``<eos>`` are the tokenizer's special tokens (``agent.tokenizer``);
- ``[q_1 ... q_K]`` are K extra positions right after ``<scene>`` (which stays, as a marker): their
  input embeddings are the scene encoder's (B, K, H) output instead of token embeddings. In the id
  tensors these positions hold ``<pad>`` ids as placeholders (``EncodedBatch.scene_slots`` marks
  them) and the embeddings are swapped in by ``masked_scatter`` before the LM sees them;
- the instruction and the answer are tokenized as given (no spaces added, no special tokens allowed
  in them); the prompt ends with ``<plan>`` and everything after it is the answer;
- the loss covers the answer tokens and the final ``<eos>`` only: labels are -100 on ``<bos>``,
  ``<scene>``, the prefix, the instruction, ``<plan>`` and padding.

Position ids are ``cumsum(attention_mask) - 1``, the same rule ``generate`` uses, so a right-padded
training batch and a left-padded generation batch see the same positions. ``generate`` runs the
encoder once and passes the embeddings to the LM's ``generate(inputs_embeds=...)``: the prefix is
prefilled once and then lives in the KV cache like any prompt token.

The language model is either a small Llama-style model built from a config (:class:`SmallLlama`,
trained from scratch here) or a user's local causal LM (:class:`LocalLM`, loaded with
``local_files_only=True``). A folder written by :meth:`ThreeDLLM.save_pretrained` holds
``config.json``, ``scene_encoder.safetensors``, ``lm/`` and ``tokenizer/`` (and
``location_pointer.safetensors`` for a model with the pointer location head,
``agent.location_pointer``: location tokens drawn from a mixture over the map's own points).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from agent.constraints import LocationGrammar, bin_table
from agent.location_codec import LocationCodec
from agent.location_pointer import (
    LocationPointer,
    PointerConfig,
    PointerLogitsProcessor,
    bin_coordinates,
    capture_head_input,
    location_phrase,
    phrase_relevance,
    pointer_positions,
    unit_features,
)
from agent.pointer_targets import group_targets, pointer_target_loss
from agent.precision import resolve_point_dtype
from agent.scene_encoder import SceneEncoder, SceneEncoderConfig, SceneEncoding, check_scene_inputs, codec_bounds
from agent.tokenizer import BOS, EOS, PAD, PLAN, SCENE, SPECIAL_TOKENS, check_tokenizer, location_token_ids

FORMAT = "nav3d-3d-llm"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
ENCODER_FILE = "scene_encoder.safetensors"
POINTER_FILE = "location_pointer.safetensors"
LM_DIR = "lm"
TOKENIZER_DIR = "tokenizer"
IGNORE = -100
"""Label of positions without loss (CrossEntropy's ignore_index)."""


# -- language-model sources (variants as small classes) ------------------------------------------


@dataclass(frozen=True)
class SmallLlama:
    """A small Llama-style causal LM built from a config and trained here (the default).

    Defaults give about 15M parameters with a ~2k BPE vocabulary + 64 location tokens.
    ``kv_heads`` None means ``heads`` (no grouped-query attention).
    """

    hidden: int = 384
    layers: int = 6
    heads: int = 6
    kv_heads: int | None = None
    intermediate: int = 1536
    max_positions: int = 1024
    tie_embeddings: bool = True

    kind = "small_llama"

    def build(self, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
        """A freshly initialised ``LlamaForCausalLM`` with one embedding row per tokenizer token."""
        vocab = tokenizer.get_vocab()
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=self.hidden,
            intermediate_size=self.intermediate,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads or self.heads,
            max_position_embeddings=self.max_positions,
            tie_word_embeddings=self.tie_embeddings,
            pad_token_id=vocab[PAD],
            bos_token_id=vocab[BOS],
            eos_token_id=vocab[EOS],
        )
        lm = AutoModelForCausalLM.from_config(config)
        with torch.no_grad():
            embeddings = lm.get_input_embeddings().weight  # (V, H)
            ids = location_token_ids(tokenizer)
            # half random, half ordered by bin: distinct tokens whose similarity falls with distance
            ordered = ordered_embeddings(len(ids), self.hidden, config.initializer_range).to(embeddings.device)
            embeddings[ids] = (embeddings[ids] + ordered) / math.sqrt(2.0)
        return lm

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


def ordered_embeddings(bins: int, width: int, std: float, centres: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """(bins, width) initial embeddings of the location tokens that vary smoothly with the bin: a
    random linear map of Gaussian bumps (``centres`` of them, evenly spaced, one spacing wide) at
    each bin centre ``u = (k + 0.5) / bins``, scaled to ``std`` per entry. Embeddings of nearby bins
    start similar and grow apart with distance (and, with tied weights, so do their logits), so a
    near miss costs less than a far one from the first step. ``generator`` draws the linear map
    (default: torch's global generator)."""
    u = (torch.arange(bins, dtype=torch.float32) + 0.5) / bins  # (bins,)
    c = (torch.arange(centres, dtype=torch.float32) + 0.5) / centres  # (centres,)
    phi = torch.exp(-0.5 * ((u[:, None] - c[None]) * centres) ** 2)  # (bins, centres)
    phi = phi / phi.norm(dim=1, keepdim=True)  # unit rows
    mixing = torch.randn(centres, width, generator=generator) * std  # (centres, width)
    return phi @ mixing  # (bins, width), entries of variance ~std^2


@dataclass(frozen=True)
class LocalLM:
    """A user's causal LM in a local folder (``AutoModelForCausalLM.from_pretrained(path, local_files_only=True)``).

    Its token embeddings are resized to the tokenizer when they have fewer rows; the tokenizer must
    have nav3d's special and location tokens (see :func:`extend_tokenizer`).
    """

    path: str

    kind = "local"

    def build(self, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
        """The model from ``path``, embeddings resized to hold every tokenizer token."""
        if not Path(self.path).is_dir():
            raise FileNotFoundError(f"LocalLM: no model folder at {self.path}; give a folder written by save_pretrained")
        lm = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
        if lm.get_input_embeddings().num_embeddings < len(tokenizer):
            lm.resize_token_embeddings(len(tokenizer))
        return lm

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path}


LMSource = SmallLlama | LocalLM


def lm_source_from_dict(data: dict[str, Any]) -> LMSource:
    """The :class:`SmallLlama` or :class:`LocalLM` saved by its ``to_dict``."""
    data = dict(data)
    kind = data.pop("kind", None)
    for cls in (SmallLlama, LocalLM):
        if kind == cls.kind:
            return cls(**data)
    raise ValueError(f"unknown language-model kind {kind!r}; expected 'small_llama' or 'local'")


# -- config ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreeDLLMConfig:
    """The 3D-LLM: scene encoder sizes, the location codec and the LM source.

    ``codec`` gives the number of location bins and the default scene bounds (metres) of the position
    embedding; each batch can give its scenes' own bounds instead (``bounds`` of :meth:`ThreeDLLM.forward`).
    ``location_smoothing``: the training target of a location token is a Gaussian over the bins,
    this many bins wide (sigma; 0 = the one-hot target), so a waypoint one bin off is a small error
    rather than as wrong as one across the house (``answer_loss``). ``map_data``: how the maps of
    the training data were made (``construction``, ``points`` read per map, ``codec_margin``
    metres, ``extractor``), so a planner reads its maps the same way; None when unknown.
    ``pointer``: the pointer location head (``agent.location_pointer``); None = the LM's logits alone.
    """

    encoder: SceneEncoderConfig
    codec: LocationCodec
    lm: LMSource = field(default_factory=SmallLlama)
    location_smoothing: float = 1.0
    map_data: dict[str, Any] | None = None
    pointer: PointerConfig | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.location_smoothing, (int, float)) and math.isfinite(self.location_smoothing) and self.location_smoothing >= 0):
            raise ValueError(f"ThreeDLLMConfig.location_smoothing must be a number of bins >= 0, got {self.location_smoothing!r}")

    @property
    def bins(self) -> int:
        """Location bins per axis (= number of location tokens)."""
        return self.codec.bins

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, as written to ``config.json``."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "encoder": self.encoder.to_dict(),
            "codec": self.codec.to_dict(),
            "bins": self.codec.bins,
            "lm": self.lm.to_dict(),
            "location_smoothing": self.location_smoothing,
            "map_data": self.map_data,
            "pointer": None if self.pointer is None else self.pointer.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThreeDLLMConfig:
        """The config saved by :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a nav3d 3D-LLM config (format {data.get('format')!r}, expected {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"3D-LLM config format_version {data.get('format_version')!r} is not supported (this code reads "
                f"{FORMAT_VERSION}); save the model again with this version of nav3d"
            )
        for key in ("encoder", "codec", "lm"):
            if key not in data:
                raise ValueError(f"3D-LLM config lacks the key {key!r}")
        codec = LocationCodec.from_dict(data["codec"])
        if "bins" in data and data["bins"] != codec.bins:
            raise ValueError(f"3D-LLM config: bins={data['bins']} disagrees with the codec's bins={codec.bins}")
        smoothing = data.get("location_smoothing", 0.0)  # written before smoothing existed: one-hot targets
        encoder, lm = SceneEncoderConfig.from_dict(data["encoder"]), lm_source_from_dict(data["lm"])
        pointer = None if data.get("pointer") is None else PointerConfig.from_dict(data["pointer"])
        return cls(encoder, codec, lm, smoothing, data.get("map_data"), pointer)


# -- batches ---------------------------------------------------------------------------------------


@dataclass
class EncodedBatch:
    """Token tensors of a batch in the prompt layout of the module docstring, all (B, L).

    ``input_ids``: token ids (``<pad>`` at prefix slots and padding); ``attention_mask``: 1 = real
    position (prefix slots included), 0 = padding; ``labels``: the ids where the loss applies, -100
    elsewhere; ``scene_slots``: True at the K prefix positions of each row; ``position_ids``:
    ``cumsum(attention_mask) - 1`` clamped at 0.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    scene_slots: torch.Tensor
    position_ids: torch.Tensor

    def to(self, device: torch.device | str) -> EncodedBatch:
        tensors = (self.input_ids, self.attention_mask, self.labels, self.scene_slots, self.position_ids)
        return EncodedBatch(*(t.to(device) for t in tensors))


@dataclass
class ThreeDLLMOutput:
    """``loss``: mean cross-entropy over answer tokens (None without answers); ``logits`` (B, L, V)
    over the positions of ``batch`` (prefix included); ``pointer_loss``: with a pointer head and
    ``step_masks``, the mean pointer-target loss of the supervised steps (``agent.pointer_targets``),
    else None."""

    loss: torch.Tensor | None
    logits: torch.Tensor
    batch: EncodedBatch
    pointer_loss: torch.Tensor | None = None


@dataclass
class Generation:
    """One generated answer: its ``text`` and, with a pointer head, ``point_weights``: for each
    complete location triple written, in order, the pointer's weights (N,) over the scene's points
    (summing to 1; a point the encoder did not read, ``SceneEncoderConfig.max_points``, has the
    weight of the read point nearest it: :func:`spread_to_unread`) where the triple started (empty
    without a pointer head)."""

    text: str
    point_weights: list[np.ndarray] = field(default_factory=list)


def spread_to_unread(weights: Sequence[np.ndarray], points: np.ndarray) -> list[np.ndarray]:
    """Pointer weights (n,) over the first n of a scene's ``points`` (N, 3) metres, the ones the
    encoder read (``SceneEncoderConfig.max_points``) -> weights (N,) over all of them: each other
    point takes the weight of its nearest read point, and each vector is scaled to sum to 1 again.
    So the map reading sees a pointed object's whole extent in the map's sample, not only the part
    the encoder read."""
    from scipy.spatial import cKDTree

    n = len(weights[0])
    _, nearest = cKDTree(points[:n]).query(points[n:])  # (N - n,) the read point nearest each other one
    out = []
    for w in weights:
        full = np.concatenate([w, w[nearest]])  # (N,)
        out.append(full / max(float(full.sum()), 1e-12))
    return out


# -- the loss --------------------------------------------------------------------------------------


def answer_loss(logits: torch.Tensor, labels: torch.Tensor, location_ids: Sequence[int], smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of the next token over the labelled positions: logits (B, L, V), labels
    (B, L) with ``IGNORE`` where no loss applies (position t predicts label t + 1).

    With ``smoothing`` > 0 a location-token label ``<locK>`` becomes the target distribution
    ``q_j ~ exp(-(j - K)^2 / (2 smoothing^2))`` over the location tokens ``location_ids`` (in bin
    order); the loss there is ``-sum_j q_j log p(<locj>)``. Other tokens keep one-hot targets."""
    logp = logits[:, :-1].flatten(0, 1).float().log_softmax(dim=-1)  # (B*(L-1), V)
    target = labels[:, 1:].flatten()  # (B*(L-1),)
    keep = target != IGNORE
    logp, target = logp[keep], target[keep]  # (T, V), (T,)
    nll = -logp.gather(1, target[:, None]).squeeze(1)  # (T,)
    if smoothing > 0 and len(target):
        locations = torch.as_tensor(list(location_ids), device=logp.device)  # (Bn,) ids in bin order
        bins = bin_table(location_ids, logp.shape[1], logp.device)[target]  # (T,) the label's bin, -1 for other tokens
        is_location = bins >= 0
        if bool(is_location.any()):
            offsets = torch.arange(len(locations), device=logp.device)[None] - bins[is_location, None]  # (T_loc, Bn)
            q = torch.exp(-0.5 * (offsets / smoothing) ** 2)
            q = q / q.sum(dim=1, keepdim=True)
            soft = -(q * logp[is_location][:, locations]).sum(dim=1)  # (T_loc,)
            nll = nll.masked_scatter(is_location, soft)
    return nll.mean() if len(nll) else logits.sum() * 0.0


# -- the model -------------------------------------------------------------------------------------


class ThreeDLLM(nn.Module):
    """Scene encoder + causal LM + tokenizer. See the module docstring for the prompt layout.

    ``ThreeDLLM(config, tokenizer)`` builds the encoder and the LM of ``config.lm``; ``lm`` gives a
    ready model instead (used by :meth:`from_pretrained`). ``seed`` makes the fresh weights
    reproducible without touching the global RNG.
    """

    def __init__(
        self,
        config: ThreeDLLMConfig,
        tokenizer: PreTrainedTokenizerBase,
        lm: PreTrainedModel | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_tokenizer(tokenizer, config.bins)
        self.config = config
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab()
        self.pad_id, self.bos_id, self.eos_id = vocab[PAD], vocab[BOS], vocab[EOS]
        self.scene_id, self.plan_id = vocab[SCENE], vocab[PLAN]
        self.location_ids = location_token_ids(tokenizer)
        self.banned_ids = [vocab[t] for t in SPECIAL_TOKENS if t != EOS]  # never generated: answers end at <eos>
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lm = lm if lm is not None else config.lm.build(tokenizer)
            rows = self.lm.get_input_embeddings().num_embeddings
            if rows < len(tokenizer):
                raise ValueError(
                    f"the language model has {rows} token embeddings but the tokenizer has {len(tokenizer)} tokens; "
                    f"resize the LM's embeddings (resize_token_embeddings) or use its matching tokenizer"
                )
            hidden = self.lm.get_input_embeddings().embedding_dim
            self.encoder = SceneEncoder(config.encoder, config.codec.lower, config.codec.upper, hidden)
            self.pointer = None
            if config.pointer is not None:
                self.pointer = LocationPointer(config.pointer, hidden, config.encoder.dim, config.bins)
        self._bin_of = bin_table(self.location_ids, max(len(tokenizer), rows))  # token id -> bin, -1 = not a location
        self.phrase_encoder: Callable[[list[str]], np.ndarray] | None = None
        """Phrases -> (n, C) unit embeddings for a pointer head's phrase prior; None = the shared
        default sentence encoder (``perception.text_encoder.shared_encoder``), which made the
        semantic-text maps' features."""

    # -- parts ---------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.encoder.queries.device

    @property
    def prefix_length(self) -> int:
        """K, the number of scene embeddings in each prompt."""
        return self.config.encoder.queries

    def parameter_count(self) -> dict[str, int]:
        """Parameters of the encoder, the pointer head, the LM (tied weights counted once), their total, and how many train."""
        encoder = sum(p.numel() for p in self.encoder.parameters())
        pointer = sum(p.numel() for p in self.pointer.parameters()) if self.pointer is not None else 0
        lm = sum(p.numel() for p in self.lm.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"encoder": encoder, "pointer": pointer, "lm": lm, "total": encoder + pointer + lm, "trainable": trainable}

    def prefix(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        point_mask: torch.Tensor | None = None,
        bounds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The scene's soft prefix: points (B, N, 3) metres, features (B, N, C), mask (B, N), bounds
        (B, 2, 3) metres (each scene's codec box; None = ``config.codec``'s) -> (B, K, H)."""
        return self._encode(points, features, point_mask, bounds).prefix

    def _encode(self, points, features, point_mask, bounds) -> SceneEncoding:
        device = self.device
        mask = point_mask.to(device) if isinstance(point_mask, torch.Tensor) else point_mask
        box = bounds.to(device) if isinstance(bounds, torch.Tensor) else bounds
        encoding = self.encoder.encode(points.to(device), features.to(device), mask, box)
        encoding.prefix = encoding.prefix.to(self.lm.get_input_embeddings().weight.dtype)  # (B, K, H)
        return encoding

    def _head_input(self, head: LocationPointer | None):
        """A context collecting the LM's last hidden states for the pointer ``head`` (nothing without one)."""
        return capture_head_input(self.lm) if head is not None else contextlib.nullcontext([])

    def _pointer_inputs(self, encoding: SceneEncoding, points: torch.Tensor, bounds: torch.Tensor | None):
        """Keys (B, N, d) and bin coordinates (B, N, 3) of the scenes' points for the pointer head."""
        box = codec_bounds([self.config.codec] * points.shape[0], self.device) if bounds is None else bounds.to(self.device)
        return self.pointer.keys(encoding.tokens), bin_coordinates(points.to(self.device), box, self.config.bins)

    def embed_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        """(n, C) float32 unit embeddings of ``phrases`` by ``phrase_encoder``, on the model's device."""
        encode = self.phrase_encoder
        if encode is None:
            from perception.text_encoder import shared_encoder

            encode = shared_encoder().encode
        out = torch.as_tensor(np.asarray(encode(list(phrases)), dtype=np.float32), device=self.device)
        if out.shape != (len(phrases), self.config.encoder.feature_dim):
            raise ValueError(
                f"the phrase encoder gave {tuple(out.shape)} for {len(phrases)} phrases; the pointer's phrase prior needs "
                f"({len(phrases)}, {self.config.encoder.feature_dim}), embeddings in the map features' space"
            )
        return out

    def _phrase_relevance(self, unit: torch.Tensor, mask: torch.Tensor, rows: list[int], texts: list[str], prompts: Sequence[str]) -> torch.Tensor:
        """unit (B, N, C) map features scaled to unit length (:func:`unit_features`), mask (B, N);
        for each group, its row and the answer text before it -> (G, N) standardised cosines to the
        group's phrase (``location_phrase``)."""
        phrases = [location_phrase(text, prompts[r]) for r, text in zip(rows, texts)]
        if rows != list(range(len(unit))):  # (a copy of the features: only when some rows are not asked for)
            unit, mask = unit[rows], mask[rows]
        return phrase_relevance(unit, self.embed_phrases(phrases), mask)  # (G, N)

    def _pointer_logits(self, logits, hidden, encoding, points, features, bounds, batch, prompts, step_masks=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: logits (B, L, V) with the pointer head applied where labels are location
        tokens, and the pointer-target loss when ``step_masks`` are given (else None)."""
        labels = batch.labels
        at = pointer_positions(labels, self._bin_of.to(labels.device))
        if len(at.row) == 0:
            return logits, None
        keys, coords = self._pointer_inputs(encoding, points, bounds)  # (B, N, d), (B, N, 3)
        relevance = None
        if self.pointer.uses_phrases:  # one phrase per group, a group being (row, index of its first token)
            group_of = list(zip(at.row.tolist(), (at.start + 1).tolist()))  # (T,)
            groups = sorted(set(group_of))  # (G,)
            texts = [self.tokenizer.decode(batch.input_ids[r, :first][labels[r, :first] >= 0].tolist(), skip_special_tokens=True) for r, first in groups]
            per_group = self._phrase_relevance(unit_features(features, self.device), encoding.mask, [r for r, _ in groups], texts, prompts)  # (G, N)
            index = {g: i for i, g in enumerate(groups)}
            relevance = per_group[torch.tensor([index[g] for g in group_of], device=per_group.device)]  # (T, N)
        log_alpha = self.pointer.log_weights(hidden[at.row, at.start], keys[at.row], encoding.mask[at.row], relevance)  # (T, N)
        log_pointer = self.pointer.location_log_probs(log_alpha, coords[at.row], at.axis, at.previous)  # (T, bins)
        location_ids = torch.as_tensor(self.location_ids, device=logits.device)
        mixed = self.pointer.mix(logits[at.row, at.position], hidden[at.row, at.position], log_pointer, location_ids, encoding.mask[at.row].any(dim=1))
        out = logits.float().clone()
        out[at.row, at.position] = mixed  # (B, L, V); log-softmax leaves these rows as they are
        pointer_loss = None
        if step_masks is not None:
            firsts = (at.axis == 0).nonzero(as_tuple=True)[0]  # (G,) one per group, in order within each row
            matched = group_targets(at.row[firsts].tolist(), step_masks, log_alpha.shape[1], log_alpha.device)
            if matched is not None:
                chosen, masks = matched  # (G',), (G', N)
                pointer_loss = pointer_target_loss(log_alpha[firsts[chosen]], masks & encoding.mask[at.row[firsts[chosen]]])
        return out, pointer_loss

    # -- tokens --------------------------------------------------------------------------------

    def _text_ids(self, text: str, what: str, index: int) -> list[int]:
        if not isinstance(text, str):
            raise ValueError(f"{what} {index} must be a string, got {type(text).__name__}")
        found = [t for t in SPECIAL_TOKENS if t in text]
        if found:
            raise ValueError(
                f"{what} {index} contains the special token(s) {found}; give plain text: the model adds "
                f"<bos> <scene> [scene] ... <plan> and <eos> itself"
            )
        return self.tokenizer.encode(text, add_special_tokens=False)

    def encode_batch(
        self, prompts: Sequence[str], answers: Sequence[str] | None = None, padding_side: str | None = None
    ) -> EncodedBatch:
        """Token tensors (B, L) for ``prompts`` (instructions) and optionally ``answers``.

        ``padding_side`` defaults to ``"right"`` with answers (training) and ``"left"`` without (generation,
        so every prompt ends at the last position).
        """
        if isinstance(prompts, str) or len(prompts) == 0:
            raise ValueError("prompts must be a non-empty list of strings (one instruction per scene)")
        if answers is not None and (isinstance(answers, str) or len(answers) != len(prompts)):
            raise ValueError(f"answers must be None or a list of {len(prompts)} strings, one per prompt")
        side = padding_side or ("right" if answers is not None else "left")
        if side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        k = self.prefix_length
        rows = []
        for i, prompt in enumerate(prompts):
            ids = [self.bos_id, self.scene_id] + [self.pad_id] * k + self._text_ids(prompt, "prompt", i) + [self.plan_id]
            labels = [IGNORE] * len(ids)
            if answers is not None:
                answer = self._text_ids(answers[i], "answer", i) + [self.eos_id]
                ids, labels = ids + answer, labels + answer
            slots = [False, False] + [True] * k + [False] * (len(ids) - 2 - k)
            rows.append((ids, labels, slots))
        length = max(len(r[0]) for r in rows)
        limit = getattr(self.lm.config, "max_position_embeddings", None)
        if limit is not None and length > limit:
            raise ValueError(
                f"a sequence has {length} positions ({k} scene prefix + text) but the language model takes at most "
                f"{limit}; shorten the instruction/answer or use an LM with more positions"
            )
        batch = [[], [], [], []]  # ids, attention, labels, slots
        for ids, labels, slots in rows:
            pad = length - len(ids)
            parts = (ids, [1] * len(ids), labels, slots)
            fills = (self.pad_id, 0, IGNORE, False)
            for out, part, fill in zip(batch, parts, fills):
                out.append(part + [fill] * pad if side == "right" else [fill] * pad + part)
        input_ids = torch.tensor(batch[0], dtype=torch.long)  # (B, L)
        attention = torch.tensor(batch[1], dtype=torch.long)  # (B, L)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # (B, L)
        return EncodedBatch(
            input_ids, attention, torch.tensor(batch[2], dtype=torch.long), torch.tensor(batch[3]), positions
        ).to(self.device)

    def embed(self, batch: EncodedBatch, prefix: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, L, H): token embeddings with the (B, K, H) ``prefix`` at the scene slots."""
        tokens = self.lm.get_input_embeddings()(batch.input_ids)  # (B, L, H)
        if prefix.shape != (tokens.shape[0], self.prefix_length, tokens.shape[2]):
            raise ValueError(
                f"prefix has shape {tuple(prefix.shape)}, expected (B, K, H) = "
                f"({tokens.shape[0]}, {self.prefix_length}, {tokens.shape[2]})"
            )
        return tokens.masked_scatter(batch.scene_slots.unsqueeze(-1), prefix.to(tokens.dtype))  # (B, L, H)

    def _check_batch(self, points: torch.Tensor, features: torch.Tensor, point_mask, prompts: Sequence[str]) -> None:
        check_scene_inputs(points, features, point_mask, self.config.encoder.feature_dim)
        if isinstance(prompts, str) or len(prompts) != points.shape[0]:
            count = "a string" if isinstance(prompts, str) else f"{len(prompts)} prompts"
            raise ValueError(f"got {count} for {points.shape[0]} scenes (points {tuple(points.shape)}); give one prompt per scene")

    # -- training and inference ----------------------------------------------------------------

    def forward(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        point_mask: torch.Tensor | None,
        prompts: Sequence[str],
        answers: Sequence[str] | None = None,
        bounds: torch.Tensor | None = None,
        step_masks: Sequence[np.ndarray | None] | None = None,
    ) -> ThreeDLLMOutput:
        """Logits (B, L, V) and, with ``answers``, the loss on answer tokens. With a pointer head and
        ``answers``, the rows whose next label is a location token hold the head's mixed
        log-probabilities (``agent.location_pointer``) instead of the LM's logits; with
        ``step_masks`` (one (S, N_b) bool array or None per scene: which points each of its answer's
        S location groups refers to, ``agent.pointer_targets.step_point_masks``) the output also has
        the pointer-target loss.

        points (B, N, 3) metres (world frame, Y up), features (B, N, C), point_mask (B, N) bool (True =
        real point; None = all real), one prompt (and answer) per scene; bounds (B, 2, 3) metres, the
        lower/upper corner of each scene's location codec (the box its location tokens are relative
        to; None = ``config.codec``'s box for every scene).
        """
        self._check_batch(points, features, point_mask, prompts)
        points, features, point_mask = self.encoder.points_read(points, features, point_mask)
        encoding = self._encode(points, features, point_mask, bounds)
        batch = self.encode_batch(prompts, answers)
        embeds = self.embed(batch, encoding.prefix)  # (B, L, H)
        with self._head_input(self.pointer) as hidden:
            out = self.lm(
                inputs_embeds=embeds, attention_mask=batch.attention_mask, position_ids=batch.position_ids, use_cache=False
            )
        logits = out.logits  # (B, L, V)
        pointer_loss = None
        if self.pointer is not None and answers is not None:
            logits, pointer_loss = self._pointer_logits(logits, hidden[-1], encoding, points, features, bounds, batch, prompts, step_masks)
        loss = None
        if answers is not None:
            loss = answer_loss(logits, batch.labels, self.location_ids, self.config.location_smoothing)
        return ThreeDLLMOutput(loss, logits, batch, pointer_loss)

    def generate(self, *args: Any, **kwargs: Any) -> list[str]:
        """Answers (text after ``<plan>``, up to ``<eos>``, special tokens removed), one per scene and
        prompt: :meth:`generate_with_weights`'s texts (same arguments)."""
        return [g.text for g in self.generate_with_weights(*args, **kwargs)]

    @torch.inference_mode()
    def generate_with_weights(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        point_mask: torch.Tensor | None,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
        constrain_locations: bool = True,
        grammar: LocationGrammar = LocationGrammar(),
        bounds: torch.Tensor | None = None,
        use_pointer: bool = True,
        **generate_kwargs: Any,
    ) -> list[Generation]:
        """For each scene and prompt, the answer (text after ``<plan>``, up to ``<eos>``, special tokens
        removed) and, with a pointer head, the pointer's weights over the scene's points where each
        location triple started (:class:`Generation`). ``use_pointer=False`` leaves a pointer head out
        (location tokens from the LM head alone, no weights: an ablation, and the benchmark's
        prefix-only cost).

        Greedy unless ``generate_kwargs`` say otherwise (e.g. ``do_sample=True, temperature=0.7``;
        they go into the ``GenerationConfig``). The prefix is computed once and prefilled with the
        prompt; decoding runs on the KV cache. With ``constrain_locations`` location tokens come in
        complete groups of ``grammar`` (never cut by ``max_new_tokens``). Special tokens other than
        ``<eos>`` are never generated. ``bounds`` (B, 2, 3): each scene's codec box, as in :meth:`forward`.
        """
        self._check_batch(points, features, point_mask, prompts)
        lengths = [len(points[b]) if point_mask is None else int(point_mask[b].sum()) for b in range(len(prompts))]
        all_points = points
        points, features, point_mask = self.encoder.points_read(points, features, point_mask)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        was_training = self.training
        if was_training:  # (a walk over every module: only when there is something to switch)
            self.eval()
        try:
            encoding = self._encode(points, features, point_mask, bounds)
            batch = self.encode_batch(prompts, padding_side="left")
            embeds = self.embed(batch, encoding.prefix)  # (B, L, H)
            # answers never hold <pad> <bos> <unk> <scene> <plan>; <eos> ends them
            settings = {"do_sample": False, "num_beams": 1, "suppress_tokens": self.banned_ids, **generate_kwargs}
            generation_config = GenerationConfig(
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                bos_token_id=self.bos_id,
                **settings,
            )
            head = self.pointer if use_pointer else None
            with self._head_input(head) as hidden:
                processors = LogitsProcessorList()
                if constrain_locations:
                    # with inputs_embeds only, generate's input_ids hold just the new tokens
                    processors.append(grammar.processor(self.tokenizer, self.location_ids, max_length=max_new_tokens))
                if head is not None:  # after the grammar: a forced location group has all the mass
                    keys, coords = self._pointer_inputs(encoding, points, bounds)
                    relevance = None
                    if head.uses_phrases:
                        unit = unit_features(features, self.device)  # (B, N, C), once for the whole answer

                        def relevance(rows: list[int], ids: list[list[int]]) -> torch.Tensor:
                            texts = [self.tokenizer.decode(row_ids, skip_special_tokens=True) for row_ids in ids]
                            return self._phrase_relevance(unit, encoding.mask, rows, texts, prompts)

                    greedy = not generation_config.do_sample
                    pointer = PointerLogitsProcessor(head, keys, encoding.mask, coords, self.location_ids, hidden, relevance, greedy)
                    processors.append(pointer)
                if constrain_locations and (order := grammar.order_processor(self.location_ids)) is not None:
                    processors.append(order)  # last: the pointer spreads mass over every location token
                new_ids = self.lm.generate(
                    inputs_embeds=embeds,
                    attention_mask=batch.attention_mask,
                    generation_config=generation_config,
                    logits_processor=processors,
                )  # (B, T) new tokens only
        finally:
            if was_training:
                self.train()
        weights = pointer.group_weights(new_ids) if head is not None else [[] for _ in prompts]
        out = []
        for b, row in enumerate(new_ids.tolist()):
            if self.eos_id in row:
                row = row[: row.index(self.eos_id)]
            # weights over the scene's own points (pad_scenes puts them first)
            own = [w[: lengths[b]] for w in weights[b]]
            if own and lengths[b] > len(own[0]):  # the encoder read the first points only
                own = spread_to_unread(own, all_points[b, : lengths[b]].detach().float().cpu().numpy())
            out.append(Generation(self.tokenizer.decode(row, skip_special_tokens=True), own))
        return out

    def use_point_dtype(self, dtype: torch.dtype) -> ThreeDLLM:
        """Run the scene encoder, the part whose cost grows with the map's points, in ``dtype`` (the
        pointer head computes its point keys in the same dtype, and works per token in its own;
        the LM keeps its own). For inference (``agent.precision``): train, and save, in float32.
        Returns the model."""
        if not dtype.is_floating_point:
            raise ValueError(f"the point-sized parts need a floating-point dtype, got {dtype}")
        self.encoder.to(dtype)
        return self

    @property
    def point_dtype(self) -> torch.dtype:
        """The dtype the scene encoder runs in (:meth:`use_point_dtype`)."""
        return self.encoder.queries.dtype

    # -- LoRA ------------------------------------------------------------------------------------

    def enable_lora(
        self,
        r: int = 8,
        alpha: int = 16,
        dropout: float = 0.0,
        target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    ) -> None:
        """Wrap the LM with LoRA adapters (peft): its own weights freeze, the adapters and the encoder train.

        Needs ``pip install peft``. ``save_pretrained`` then writes the LM with the adapters merged in.
        """
        try:
            import peft
        except ImportError as exc:
            raise ImportError("ThreeDLLM.enable_lora needs the peft package: pip install peft") from exc
        config = peft.LoraConfig(
            r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules), task_type="CAUSAL_LM"
        )
        self.lm = peft.get_peft_model(self.lm, config)

    # -- saving and loading ----------------------------------------------------------------------

    def save_pretrained(self, folder: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write the model to ``folder`` (config.json, scene_encoder.safetensors, lm/, tokenizer/).

        ``dtype``: store the weights in it (e.g. ``torch.float16`` halves a checkpoint kept in a
        repository); None keeps the model's. :meth:`from_pretrained` loads float32 either way.
        The folder is written beside the target and renamed into place when complete; an existing
        folder at ``folder`` is replaced only then. Returns the folder's path.
        """

        def write(tmp: Path) -> None:
            lm = self.lm
            if hasattr(lm, "merge_and_unload"):  # a peft model: save plain weights with LoRA merged
                lm = copy.deepcopy(lm).merge_and_unload()
            if dtype is not None and dtype != lm.dtype:
                lm = copy.deepcopy(lm).to(dtype)
            lm.save_pretrained(tmp / LM_DIR)
            self.tokenizer.save_pretrained(tmp / TOKENIZER_DIR)
            save_file(_tensors(self.encoder, dtype), str(tmp / ENCODER_FILE), metadata={"format": FORMAT})
            if self.pointer is not None:
                save_file(_tensors(self.pointer, dtype), str(tmp / POINTER_FILE), metadata={"format": FORMAT})
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")

        return _write_folder_atomically(Path(folder), write)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, feature_dim: int | None = None, device: torch.device | str | None = None, point_dtype: str = "float32"
    ) -> ThreeDLLM:
        """Load a model written by :meth:`save_pretrained` (local files only).

        The LM always comes from the folder's ``lm/`` (whatever ``config.lm`` says its source was).
        ``point_dtype`` (``agent.precision.POINT_DTYPES``): the scene encoder's type
        (:meth:`use_point_dtype`); float32 for training, "auto" for inference.

        ``feature_dim``, when given, is the number of feature channels the caller's map gives; a model
        trained for another size is a ValueError. Missing folders or files are FileNotFoundError, a
        broken or inconsistent folder a ValueError, each naming the path.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no 3D-LLM folder at {folder}; give a folder written by ThreeDLLM.save_pretrained")
        missing = [name for name in (CONFIG_FILE, ENCODER_FILE, LM_DIR, TOKENIZER_DIR) if not (folder / name).exists()]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not a complete 3D-LLM folder: {', '.join(missing)} missing; it should hold {CONFIG_FILE}, "
                f"{ENCODER_FILE}, {LM_DIR}/ and {TOKENIZER_DIR}/ as written by ThreeDLLM.save_pretrained"
            )
        try:
            config = ThreeDLLMConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"{folder / CONFIG_FILE} is not a valid 3D-LLM config: {exc}") from exc
        if feature_dim is not None and feature_dim != config.encoder.feature_dim:
            raise ValueError(
                f"the 3D-LLM at {folder} was trained on {config.encoder.feature_dim}-channel features but "
                f"feature_dim={feature_dim} was given; use a map with the model's feature extractor or retrain"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER_DIR), local_files_only=True)
        try:
            check_tokenizer(tokenizer, config.bins)
        except ValueError as exc:
            raise ValueError(f"the tokenizer in {folder / TOKENIZER_DIR} does not fit the model's config: {exc}") from exc
        state = load_file(str(folder / ENCODER_FILE))
        saved = state.get("feature_proj.weight")
        if saved is None or tuple(saved.shape) != (config.encoder.dim, config.encoder.feature_dim):
            got = None if saved is None else tuple(saved.shape)
            raise ValueError(
                f"{folder / ENCODER_FILE} does not match {CONFIG_FILE}: feature_proj.weight has shape {got}, the config "
                f"says (dim, feature_dim) = ({config.encoder.dim}, {config.encoder.feature_dim})"
            )
        lm = AutoModelForCausalLM.from_pretrained(str(folder / LM_DIR), local_files_only=True, dtype=torch.float32)
        model = cls(config, tokenizer, lm=lm)
        parts = [(model.encoder, ENCODER_FILE, state)]
        if model.pointer is not None:
            if not (folder / POINTER_FILE).is_file():
                raise FileNotFoundError(f"{folder} lacks {POINTER_FILE}, which its {CONFIG_FILE} (pointer head) needs; save the model again")
            parts.append((model.pointer, POINTER_FILE, load_file(str(folder / POINTER_FILE))))
        for module, name, tensors in parts:
            try:
                module.load_state_dict(tensors, strict=True)
            except RuntimeError as exc:
                raise ValueError(f"{folder / name} does not fit the model of {CONFIG_FILE}: {exc}") from exc
        model.eval()
        model = model.to(device) if device is not None else model
        return model.use_point_dtype(resolve_point_dtype(point_dtype, model.device))


def _tensors(module: nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """A module's state as contiguous CPU tensors, in ``dtype`` (None: as they are) for safetensors."""
    return {k: v.detach().cpu().to(dtype or v.dtype).contiguous() for k, v in module.state_dict().items()}


def extend_tokenizer(tokenizer: PreTrainedTokenizerBase, bins: int) -> PreTrainedTokenizerBase:
    """Add nav3d's special tokens and ``<loc0>``..``<loc{bins-1}>`` to a pretrained LM's tokenizer (in place).

    For :class:`LocalLM`: the LM's embeddings are resized to the grown tokenizer when the model is built.
    """
    from tokenizers import AddedToken

    from agent.location_codec import location_token_names

    vocab = tokenizer.get_vocab()
    specials = [t for t in SPECIAL_TOKENS if t not in vocab]
    if specials:
        tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    names = [t for t in location_token_names(bins) if t not in vocab]
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in names])
    check_tokenizer(tokenizer, bins)
    return tokenizer


def _write_folder_atomically(folder: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a fresh folder beside ``folder``, then move it to ``folder``.

    An existing ``folder`` is moved aside only after ``write`` succeeded, and removed after the new one
    is in place; on an error the temporary folder is removed and ``folder`` is untouched.
    """
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"cannot save a 3D-LLM to {folder}: it is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    old = None
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
            os.replace(folder, old / folder.name)
        os.replace(tmp, folder)
    except BaseException:
        if old is not None and (old / folder.name).exists() and not folder.exists():
            os.replace(old / folder.name, folder)  # put the previous model back
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
