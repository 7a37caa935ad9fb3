"""The 3D-LLM's scene encoder: map points and features -> K query vectors, a soft prefix for the LM.

3D-LLM (Hong et al. 2023) adds a 3D position embedding to each point's feature and lets a
perceiver / Q-Former with a fixed number of learned queries (32 in the paper) read the points; the
query outputs, projected to the language model's hidden size, go in front of the text as embeddings.

Pipeline (B scenes, N points each, C feature channels, d encoder width, K queries, H LM hidden size)::

    points (B, N, 3) metres, world frame, Y up      features (B, N, C)
    bounds (B, 2, 3) each scene's lower/upper corner (its location codec's box)
      -> PositionEmbedding3D -> (B, N, 6F) -> Linear -> (B, N, d)
                                                     + Linear(C -> d) -> (B, N, d) point tokens
      -> context_layers x PointContextBlock (each point averages its k nearest neighbours)
                                                                   -> (B, N, d) point tokens
      + one learned "empty scene" token, never masked -> (B, N + 1, d)
    K learned queries (K, d) -> layers x [cross-attention to the point tokens (padded points masked),
                                         self-attention, MLP] (pre-norm, residual)
      -> LayerNorm -> Linear(d -> H) -> (B, K, H) prefix

The local-context blocks (none by default; the pointer location head of ``agent.location_pointer``
uses them) let a point token say what is around it ("floor beside a red mug"), which the queries and
a head that points at map points can read.

The extra learned token gives every query something to attend to even when a scene has no valid
points (an empty map at the start of an episode), so the output is always finite; padded points are
zeroed before use and masked out of attention, so junk (even NaN) in padded slots never reaches the
output.

Positions are normalised per scene: location tokens in the text are relative to each scene's own
bounds (every dataset record carries its codec), so the position embedding must use the same box.
``bounds`` (B, 2, 3) gives each scene's ``[lower, upper]``; without it every scene uses the default
box given at construction (the model config's codec). A scene shifted in space with its bounds
shifted alike gives the same prefix.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class SceneEncoderConfig:
    """Sizes of the scene encoder.

    ``feature_dim``: channels C of the map's point features (``FeatureMap.points_and_features``);
    ``dim``: the encoder's width d; ``queries``: K, the number of learned queries (prefix length);
    ``layers``: perceiver blocks (cross-attention + self-attention + MLP each); ``heads``: attention
    heads (must divide ``dim``); ``frequencies``: F, sin/cos frequencies per axis of the position
    embedding; ``mlp_ratio``: MLP hidden width / d; ``dropout``: in attention and MLP (0 = none);
    ``context_layers``: local-context blocks over each point's ``neighbours`` nearest points;
    ``max_points``: the encoder reads at most this many of each scene's points, the first ones
    (None = all). A map's ``points_and_features`` sample is farthest-point ordered, so its first
    points are the most spread subset of it; the encoder's cost grows with the points it reads.
    """

    feature_dim: int
    dim: int = 256
    queries: int = 32
    layers: int = 2
    heads: int = 4
    frequencies: int = 8
    mlp_ratio: int = 4
    dropout: float = 0.0
    context_layers: int = 0
    neighbours: int = 16
    max_points: int | None = None

    def __post_init__(self) -> None:
        if self.max_points is not None and (isinstance(self.max_points, bool) or not isinstance(self.max_points, int) or self.max_points < 1):
            raise ValueError(f"SceneEncoderConfig.max_points must be None (all points) or an integer >= 1, got {self.max_points!r}")
        for name in ("feature_dim", "dim", "queries", "layers", "heads", "frequencies", "mlp_ratio", "context_layers", "neighbours"):
            value = getattr(self, name)
            low = 0 if name == "context_layers" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"SceneEncoderConfig.{name} must be an integer >= {low}, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"SceneEncoderConfig: heads={self.heads} must divide dim={self.dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SceneEncoderConfig.dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (for ``config.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneEncoderConfig:
        """The config saved by :meth:`to_dict`; unknown keys are an error."""
        return config_from_dict(cls, data)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """``cls(**data)`` for a config dataclass, with a ValueError naming any key it does not have."""
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{cls.__name__}.from_dict: unknown key(s) {sorted(unknown)}")
    return cls(**data)


class PositionEmbedding3D(nn.Module):
    """Fixed sin/cos embedding of world points, per axis, relative to the scene bounds.

    A point ``p`` (metres, world frame) is first normalised to the box ``[lower, upper]`` (the
    location codec's bounds, so positions and location tokens share one frame; the box given here
    is the default, ``forward``'s ``bounds`` overrides it per scene):
    ``u_a = (p_a - lower_a) / (upper_a - lower_a)`` for each axis ``a`` in x, y, z (0..1 inside the
    box; points outside are not clamped). With ``F`` frequencies ``w_k = 2^k * pi`` (k = 0..F-1) the
    embedding is::

        [sin(w_0 u_x), ..., sin(w_{F-1} u_x), cos(w_0 u_x), ..., cos(w_{F-1} u_x),  (same for y, z)]

    of size ``6F``. The lowest frequency has a half period over the box, so ``cos(pi u)`` alone is
    one-to-one inside it; the highest resolves ``1 / 2^F`` of the box (F=8: 1/256, finer than 64 bins).
    """

    def __init__(self, lower: Sequence[float], upper: Sequence[float], frequencies: int = 8) -> None:
        super().__init__()
        lo_list, hi_list = [float(v) for v in lower], [float(v) for v in upper]
        if len(lo_list) != 3 or len(hi_list) != 3 or not all(h > l for l, h in zip(lo_list, hi_list)):
            raise ValueError(
                f"PositionEmbedding3D: need 3 lower and 3 upper bounds (metres) with upper > lower, got {lower}, {upper}"
            )
        lo = torch.tensor(lo_list, dtype=torch.float32)
        hi = torch.tensor(hi_list, dtype=torch.float32)
        if isinstance(frequencies, bool) or not isinstance(frequencies, int) or frequencies < 1:
            raise ValueError(f"PositionEmbedding3D: frequencies must be an integer >= 1, got {frequencies!r}")
        self.frequencies = frequencies
        # derived from the config, so not saved in the state dict
        self.register_buffer("lower", lo, persistent=False)
        self.register_buffer("extent", hi - lo, persistent=False)
        self.register_buffer("omega", (2.0 ** torch.arange(frequencies, dtype=torch.float32)) * math.pi, persistent=False)

    @property
    def out_dim(self) -> int:
        """Size of the embedding: 6F."""
        return 6 * self.frequencies

    def forward(self, points: torch.Tensor, bounds: torch.Tensor | None = None) -> torch.Tensor:
        """(..., N, 3) points (metres, world frame) -> (..., N, 6F) embedding (float32).

        ``bounds`` (..., 2, 3): each scene's lower (row 0) and upper (row 1) corner in metres, one per
        leading index of ``points``; None uses the default box of the constructor.
        """
        if bounds is None:
            lower, extent = self.lower, self.extent  # (3,)
        else:
            bounds = bounds.to(device=points.device, dtype=torch.float32)
            lower = bounds[..., 0, :].unsqueeze(-2)  # (..., 1, 3)
            extent = (bounds[..., 1, :] - bounds[..., 0, :]).unsqueeze(-2)  # (..., 1, 3)
        u = (points.float() - lower) / extent  # (..., N, 3) in [0, 1] inside the bounds
        angles = u.unsqueeze(-1) * self.omega  # (..., 3, F)
        emb = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (..., 3, 2F)
        return emb.flatten(-2)  # (..., 6F)


class PerceiverBlock(nn.Module):
    """One pre-norm block: queries cross-attend to the point tokens, then self-attend, then an MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.cross = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout)
        )

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_ignore: torch.Tensor) -> torch.Tensor:
        """q (B, K, d), kv (B, M, d), kv_ignore (B, M) bool, True = padding -> (B, K, d)."""
        q = q + self.cross_attend(self.norm_q(q), self.norm_kv(kv), kv_ignore)
        h = self.norm_self(q)
        q = q + self.self_attn(h, h, h, need_weights=False)[0]
        return q + self.mlp(self.norm_mlp(q))  # (B, K, d)

    def cross_attend(self, q: torch.Tensor, kv: torch.Tensor, kv_ignore: torch.Tensor) -> torch.Tensor:
        """``self.cross`` (its weights, its arithmetic) of q (B, K, d) over kv (B, M, d), keys where
        ``kv_ignore`` (B, M) is True left out -> (B, K, d). The same as calling the module, without
        its packed key/value projection: that one copies the (B, M, 2d) projection into per-head
        layout, which for a map's M points costs as much as the product itself."""
        attn = self.cross
        b, k, d = q.shape
        heads, w, bias = attn.num_heads, attn.in_proj_weight, attn.in_proj_bias
        split = lambda x: x.unflatten(-1, (heads, d // heads)).transpose(1, 2)  # noqa: E731  (B, L, d) -> (B, heads, L, d/heads)
        queries = split(nn.functional.linear(q, w[:d], bias[:d]))  # (B, h, K, d/h)
        keys = split(nn.functional.linear(kv, w[d : 2 * d], bias[d : 2 * d]))  # (B, h, M, d/h)
        values = split(nn.functional.linear(kv, w[2 * d :], bias[2 * d :]))  # (B, h, M, d/h)
        keep = ~kv_ignore[:, None, None, :]  # (B, 1, 1, M) True = attended
        out = nn.functional.scaled_dot_product_attention(queries, keys, values, attn_mask=keep, dropout_p=attn.dropout if self.training else 0.0)
        return attn.out_proj(out.transpose(1, 2).reshape(b, k, d))  # (B, K, d)


def neighbour_mean(points: torch.Tensor, point_mask: torch.Tensor, k: int) -> torch.Tensor:
    """The operator that averages over each point's ``k`` nearest real points (itself included):
    points (B, N, 3) metres, mask (B, N) -> a sparse CSR (B*N, B*N) matrix ``A`` (rows of padding
    are empty), so ``A @ values.flatten(0, 1)`` is each point's neighbourhood mean. Neighbours come
    from a k-d tree (scipy), a few milliseconds per 1,024-point scene; no gradient flows through it."""
    from scipy.spatial import cKDTree

    b, n, _ = points.shape
    counts = np.zeros(b * n, dtype=np.int64)  # neighbours per row; rows of padding have none
    cols, weights = [], []
    cpu_points, cpu_mask = points.detach().float().cpu().numpy(), point_mask.cpu().numpy()
    for i in range(b):
        real = np.flatnonzero(cpu_mask[i])  # (M,) indices of the real points, ascending
        if len(real) == 0:
            continue
        kk = min(k, len(real))
        _, near = cKDTree(cpu_points[i, real]).query(cpu_points[i, real], k=kk)  # (M, kk) into real
        counts[real + i * n] = kk
        cols.append(real[np.asarray(near).reshape(len(real), kk)].ravel() + i * n)
        weights.append(np.full(len(real) * kk, 1.0 / kk, dtype=np.float32))
    crow = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)]))
    col = torch.as_tensor(np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64))
    value = torch.as_tensor(np.concatenate(weights) if weights else np.zeros(0, dtype=np.float32))
    with warnings.catch_warnings():  # CSR is "beta" in torch; its matrix product is what is used here
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, value, (b * n, b * n), check_invariants=False).to(points.device)


class PointContextBlock(nn.Module):
    """One residual step of local context (a graph convolution over the k-nearest-neighbour graph):
    a point adds ``out(gelu(mean_q value(q) + W (mean_q p_q - p)))`` over its neighbours q (offsets
    in metres), so its token learns what lies around it (and on which side). ``width``: of the
    pooled values (narrower than ``dim`` keeps it cheap: the encoder uses dim / 4)."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.value = nn.Linear(dim, width)
        self.offset = nn.Linear(3, width, bias=False)
        self.out = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor, points: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """x (B, N, d), points (B, N, 3) metres, mean the (B*N, B*N) operator of :func:`neighbour_mean` -> (B, N, d)."""
        b, n, _ = x.shape
        values = self.value(self.norm(x)).flatten(0, 1)  # (B*N, w)
        with torch.autocast(x.device.type, enabled=False):  # sparse products have no bf16/fp16 kernels
            pooled = torch.sparse.mm(mean, values.float()).view(b, n, -1)  # (B, N, w)
            centre = torch.sparse.mm(mean, points.flatten(0, 1).float()).view(b, n, 3)  # (B, N, 3) neighbourhood mean
        pooled = pooled.to(values.dtype)
        pooled = pooled + self.offset((centre - points).to(x.dtype))  # (B, N, w)
        return x + self.out(nn.functional.gelu(pooled))  # (B, N, d)


@dataclass
class SceneEncoding:
    """What the encoder makes of a batch of scenes: ``prefix`` (B, K, H) for the LM, the point tokens
    ``tokens`` (B, N, d) after local context (zero at padding) and ``mask`` (B, N) bool, True = real."""

    prefix: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor


class SceneEncoder(nn.Module):
    """Points + features of a scene -> a (B, K, H) prefix for a language model of hidden size H.

    ``lower``/``upper`` are the default scene bounds (metres, world frame; the location codec's) used
    by the position embedding when ``forward`` gets no per-scene ``bounds``; ``output_dim`` is H.
    """

    def __init__(
        self, config: SceneEncoderConfig, lower: Sequence[float], upper: Sequence[float], output_dim: int
    ) -> None:
        super().__init__()
        self.config = config
        c = config
        self.position = PositionEmbedding3D(lower, upper, c.frequencies)
        self.position_proj = nn.Linear(self.position.out_dim, c.dim)
        self.feature_proj = nn.Linear(c.feature_dim, c.dim)
        self.empty_token = nn.Parameter(torch.randn(1, 1, c.dim) * 0.02)
        self.queries = nn.Parameter(torch.randn(c.queries, c.dim) * 0.02)
        self.context = nn.ModuleList(PointContextBlock(c.dim, max(c.dim // 4, 1)) for _ in range(c.context_layers))
        self.blocks = nn.ModuleList(PerceiverBlock(c.dim, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.dim)
        self.out = nn.Linear(c.dim, output_dim)

    @property
    def output_dim(self) -> int:
        """H, the size of each prefix vector."""
        return self.out.out_features

    def points_read(
        self, points: torch.Tensor, features: torch.Tensor, point_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The part of points (B, N, 3), features (B, N, C) and mask (B, N) the encoder reads: the
        first ``config.max_points`` of each scene (``pad_scenes`` puts a scene's real points first),
        or all of them."""
        n = self.config.max_points
        if n is None or points.shape[1] <= n:
            return points, features, point_mask
        return points[:, :n], features[:, :n], None if point_mask is None else point_mask[:, :n]  # (B, n, ...)

    def forward(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        point_mask: torch.Tensor | None = None,
        bounds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """points (B, N, 3) metres (world frame, Y up), features (B, N, C), point_mask (B, N) bool
        (True = a real point, False = padding; None = all real), bounds (B, 2, 3) metres, each scene's
        lower and upper corner (None = the default box) -> prefix (B, K, H).

        Shapes are checked (ValueError naming them); N may be 0.
        """
        return self.encode(points, features, point_mask, bounds).prefix

    def encode(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        point_mask: torch.Tensor | None = None,
        bounds: torch.Tensor | None = None,
    ) -> SceneEncoding:
        """As :meth:`forward` (same arguments), also returning the point tokens (:class:`SceneEncoding`)
        of the points read (``config.max_points``: the first ones)."""
        point_mask = check_scene_inputs(points, features, point_mask, self.config.feature_dim)
        points, features, point_mask = self.points_read(points, features, point_mask)
        bounds = check_bounds(bounds, points.shape[0])
        b = points.shape[0]
        dtype = self.feature_proj.weight.dtype
        valid = point_mask.unsqueeze(-1)  # (B, N, 1)
        padded = not bool(point_mask.all())
        # zero padded slots so junk there (even NaN) cannot leak through 0 * NaN in attention
        pts = torch.where(valid, points.float(), 0.0) if padded else points.float()  # (B, N, 3)
        feats = torch.where(valid, features.to(dtype), 0.0) if padded else features.to(dtype)  # (B, N, C)
        x = self.feature_proj(feats) + self.position_proj(self.position(pts, bounds).to(dtype))  # (B, N, d)
        if len(self.context) and points.shape[1]:
            mean = neighbour_mean(pts, point_mask, self.config.neighbours)  # (B*N, B*N) sparse
            for block in self.context:
                x = block(x, pts, mean)  # (B, N, d)
        tokens = torch.where(valid, x, 0.0) if padded else x  # (B, N, d)
        x = torch.cat([self.empty_token.expand(b, 1, -1), x], dim=1)  # (B, N + 1, d)
        ignore = torch.cat([point_mask.new_zeros(b, 1), ~point_mask], dim=1)  # (B, N + 1) True = masked
        q = self.queries.unsqueeze(0).expand(b, -1, -1)  # (B, K, d)
        for block in self.blocks:
            q = block(q, x, ignore)  # (B, K, d)
        return SceneEncoding(self.out(self.norm(q)), tokens, point_mask)  # (B, K, H), (B, N, d), (B, N)


def check_scene_inputs(
    points: torch.Tensor, features: torch.Tensor, point_mask: torch.Tensor | None, feature_dim: int
) -> torch.Tensor:
    """Check scene tensors' shapes; return the (B, N) bool mask (all True when ``point_mask`` is None)."""
    if not isinstance(points, torch.Tensor) or not isinstance(features, torch.Tensor):
        raise ValueError(
            f"points and features must be torch tensors, got {type(points).__name__} and {type(features).__name__}; "
            f"use agent.scene_encoder.pad_scenes to batch numpy arrays"
        )
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points must have shape (B, N, 3) (metres, world frame), got {tuple(points.shape)}")
    b, n = points.shape[:2]
    if features.ndim != 3 or features.shape[:2] != (b, n):
        raise ValueError(
            f"features must have shape (B, N, C) = ({b}, {n}, C) to match points {tuple(points.shape)}, "
            f"got {tuple(features.shape)}"
        )
    if features.shape[2] != feature_dim:
        raise ValueError(
            f"features have {features.shape[2]} channels (shape {tuple(features.shape)}) but the scene encoder "
            f"expects feature_dim={feature_dim}; use a map whose feature extractor gives {feature_dim} channels "
            f"or a model configured for {features.shape[2]}"
        )
    if point_mask is None:
        return torch.ones(b, n, dtype=torch.bool, device=points.device)
    if not isinstance(point_mask, torch.Tensor) or point_mask.shape != (b, n):
        shape = tuple(point_mask.shape) if isinstance(point_mask, torch.Tensor) else type(point_mask).__name__
        raise ValueError(f"point_mask must be a (B, N) = ({b}, {n}) tensor to match points, got {shape}")
    return point_mask.to(device=points.device, dtype=torch.bool)


def check_bounds(bounds: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    """Check per-scene bounds: None, or a (B, 2, 3) tensor of finite lower/upper corners with upper > lower."""
    if bounds is None:
        return None
    if not isinstance(bounds, torch.Tensor) or bounds.shape != (batch, 2, 3):
        shape = tuple(bounds.shape) if isinstance(bounds, torch.Tensor) else type(bounds).__name__
        raise ValueError(
            f"bounds must be a (B, 2, 3) = ({batch}, 2, 3) tensor of each scene's lower and upper corner (metres), "
            f"got {shape}; use agent.scene_encoder.codec_bounds to build it from location codecs"
        )
    if not torch.isfinite(bounds).all() or not (bounds[:, 1] > bounds[:, 0]).all():
        bad = [i for i in range(batch) if not (torch.isfinite(bounds[i]).all() and (bounds[i, 1] > bounds[i, 0]).all())]
        raise ValueError(f"bounds of scene(s) {bad} are not finite with upper > lower on every axis: {bounds[bad].tolist()}")
    return bounds


def codec_bounds(codecs: Sequence[Any], device: torch.device | str | None = None) -> torch.Tensor:
    """(B, 2, 3) float32 bounds (metres) of B location codecs (anything with ``lower``/``upper`` triples)."""
    if len(codecs) == 0:
        raise ValueError("codec_bounds: no codecs given")
    rows = [[list(c.lower), list(c.upper)] for c in codecs]
    return torch.tensor(rows, dtype=torch.float32, device=device)  # (B, 2, 3)


def pad_scenes(
    scenes: Sequence[tuple[np.ndarray, np.ndarray]], device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch scenes of different sizes, e.g. ``[map.points_and_features(n), ...]``.

    Each scene is ((N_i, 3) points in metres, (N_i, C) features). Returns points (B, N, 3) float32,
    features (B, N, C) float32 and point_mask (B, N) bool, with N = max N_i and padded slots zero
    and False in the mask.
    """
    if len(scenes) == 0:
        raise ValueError("pad_scenes: no scenes given")
    dims = set()
    for i, (pts, feats) in enumerate(scenes):
        pts, feats = np.asarray(pts), np.asarray(feats)
        if pts.ndim != 2 or pts.shape[1] != 3 or feats.ndim != 2 or feats.shape[0] != pts.shape[0]:
            raise ValueError(
                f"pad_scenes: scene {i} must be ((N, 3) points, (N, C) features), got shapes {pts.shape} and {feats.shape}"
            )
        dims.add(feats.shape[1])
    if len(dims) != 1:
        raise ValueError(f"pad_scenes: scenes have different feature sizes {sorted(dims)}")
    b, n, c = len(scenes), max(len(p) for p, _ in scenes), dims.pop()
    points = torch.zeros(b, n, 3, dtype=torch.float32)
    features = torch.zeros(b, n, c, dtype=torch.float32)
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, (pts, feats) in enumerate(scenes):
        k = len(pts)
        points[i, :k] = torch.as_tensor(np.asarray(pts, dtype=np.float32))
        features[i, :k] = torch.as_tensor(np.asarray(feats, dtype=np.float32))
        mask[i, :k] = True
    return points.to(device), features.to(device), mask.to(device)
