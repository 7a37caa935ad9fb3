"""``NeuralField``: the state of the neural-field map (``perception.neural_field_map``) that its
online training changes -- the sparse latent grid, the decoders, their optimisers and the ray sampler --
with the frame-by-frame training and the reads of the field (signed distance, colour, feature at
continuous world points). It is one object so that it can live where its training runs: inline, on a
mapping thread, or in a mapping process (``perception.field_training``); the map keeps the surface
voxels and everything the agent reads every step, and sends the field frames and questions.

Its training per frame (``train_on``) allocates and initialises the vertices where the frame's depth
lands, then takes ``steps_per_frame`` gradient steps on rays sampled from it: the three steps the
map's module doc describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from envs.types import Frame
from perception.features import pixel_features
from perception.geometry import valid_depth_mask
from perception.maps import MapConfig
from perception.neural_grid import SparseLatentGrid
from perception.row_adam import RowAdam

GEOMETRY, CODE = 0, 1
"""The grid's tables (``NeuralFieldConfig.table_dims``)."""


@dataclass(frozen=True)
class NeuralFieldConfig:
    """The field and its online optimisation (lengths in metres).

    - ``vertex_size``: spacing of the latent grid's vertices.
    - ``geometry_dim`` / ``code_dim``: latent channels for geometric detail / the feature code; every
      latent also holds one signed-distance and three colour channels. The feature decoder's linear
      basis spans ``code_dim`` of the feature space, so it needs room for the features a house holds
      (36 categories' text embeddings in house 900003): a mirror seen from across the room decoded to
      0.63 cosine against "mirror" after 120 frames with 32, 0.74 with 64, 0.89 with 128 (1.0 in the
      point-cloud map). The closed loop's figures per width are in ``docs/planner_ablations.md``.
      The code is read only at each ray's surface sample (``table_dims``), so 128 runs a 256² episode
      at 11.3 steps/s (``benchmarks/loop_throughput.py``; 7.6 when the code was read at every sample).
    - ``hidden``: width of the decoders' hidden layers.
    - ``truncation``: half-width of the band around the measured depth where rays are sampled and
      signed distances are supervised.
    - ``rays_per_step``, ``samples_per_ray``, ``steps_per_frame``: the bounded work per frame.
    - ``grid_lr``, ``decoder_lr``: learning rates of the latents (``RowAdam``) and decoders (Adam).
    - ``color_weight``, ``feature_weight``: loss weights relative to the signed-distance loss.
    - ``seed``: decoder initialisation and ray sampling.
    """

    vertex_size: float = 0.1
    geometry_dim: int = 8
    code_dim: int = 128
    hidden: int = 32
    truncation: float = 0.1
    rays_per_step: int = 1024
    samples_per_ray: int = 8
    steps_per_frame: int = 2
    grid_lr: float = 0.02
    decoder_lr: float = 2e-3
    color_weight: float = 0.5
    feature_weight: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("vertex_size", "truncation", "grid_lr", "decoder_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"NeuralFieldConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("code_dim", "hidden", "rays_per_step", "samples_per_ray"):
            if getattr(self, name) < 1:
                raise ValueError(f"NeuralFieldConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_frame < 0 or self.geometry_dim < 0:
            raise ValueError("NeuralFieldConfig.steps_per_frame and geometry_dim must be >= 0")

    @property
    def latent_dim(self) -> int:
        """D: signed distance (1) + colour (3) + geometry detail + feature code."""
        return 4 + self.geometry_dim + self.code_dim

    @property
    def table_dims(self) -> tuple[int, int]:
        """The grid's two tables (``SparseLatentGrid``): geometry (signed distance, colour, detail),
        read at every ray sample, and the feature code, read at the surface sample alone."""
        return 4 + self.geometry_dim, self.code_dim


class FieldDecoders(nn.Module):
    """Latent (N, D) -> signed distance, colour, feature.

    Each head is the latent's own channel(s) plus a small MLP's residual whose last layer starts at
    zero, so a freshly initialised latent decodes to exactly its fusion initialisation:
    signed distance = (latent[0] + r0) * truncation, colour = latent[1:4] + r[1:4] (0..1), and
    feature = basis(code) + mlp(code) for the last ``code_dim`` channels (the linear ``basis`` is
    what new codes are fitted to).
    """

    def __init__(self, config: NeuralFieldConfig, feature_dim: int) -> None:
        super().__init__()
        self.config = config
        g, k, h = 4 + config.geometry_dim, config.code_dim, config.hidden
        self.geometry = nn.Sequential(nn.Linear(g, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 4))
        self.basis = nn.Linear(k, feature_dim, bias=False)
        self.feature_mlp = nn.Sequential(nn.Linear(k, 2 * h), nn.ReLU(), nn.Linear(2 * h, feature_dim))
        nn.init.orthogonal_(self.basis.weight)  # (C, K) orthonormal columns: pinv is the transpose at first
        for head in (self.geometry[-1], self.feature_mlp[-1]):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def signed_distance_and_color(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) latents, or their geometry (N, 4 + G) -> ((N,) signed distance in metres, (N, 3) colour in 0..1)."""
        g = latent[:, : 4 + self.config.geometry_dim]  # (N, 4 + G)
        out = g[:, :4] + self.geometry(g)  # (N, 4)
        return out[:, 0] * self.config.truncation, out[:, 1:4]

    def feature(self, latent: torch.Tensor) -> torch.Tensor:
        """(N, D) latents, or their codes (N, K) -> (N, C) features (not normalised)."""
        code = latent[:, -self.config.code_dim :]  # (N, K)
        return self.basis(code) + self.feature_mlp(code)

    def codes_for(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C) features -> (N, K) codes whose ``basis`` image is closest to them (least squares)."""
        return features @ torch.linalg.pinv(self.basis.weight.detach()).T


class NeuralField:
    """The trainable field (module doc): latents on a sparse grid, decoders, their optimisers and the
    seeded ray sampler. Arrays in and out are numpy, world metres."""

    def __init__(self, field: NeuralFieldConfig, feature_dim: int, config: MapConfig) -> None:
        self.field = field
        self.config = config
        self.feature_dim = int(feature_dim)
        self.steps_taken = 0
        self.last_losses: dict[str, float] = {}  # the last gradient step's losses, for monitoring
        self.grid = SparseLatentGrid(field.vertex_size, field.table_dims)
        with torch.random.fork_rng():  # seeded decoder initialisation without touching global RNG state
            torch.manual_seed(field.seed)
            self.decoders = FieldDecoders(field, feature_dim)
        self._rng = np.random.default_rng(field.seed)
        self._grid_optimizer = RowAdam(self.grid.tables, lr=field.grid_lr)
        self._decoder_optimizer = torch.optim.Adam(self.decoders.parameters(), lr=field.decoder_lr)

    def __len__(self) -> int:
        """Allocated grid vertices."""
        return len(self.grid)

    def status(self) -> dict:
        """What a caller monitors: ``vertices``, ``steps_taken`` and the last step's ``losses``."""
        return {"vertices": len(self.grid), "steps_taken": self.steps_taken, "losses": dict(self.last_losses)}

    # ------------------------------------------------------------------------------------ training

    def train_on(self, frame: Frame, features: np.ndarray, points: np.ndarray, pixels: np.ndarray) -> None:
        """One frame's field work: allocation and initialisation at the frame's depth ``points`` (N, 3)
        (world metres, lifted from flat ``pixels`` (N,)), then ``steps_per_frame`` gradient steps."""
        if len(points):
            self.allocate(frame, features, points, pixels)
        for _ in range(self.field.steps_per_frame):
            self.step_on(frame, features)

    def step_on(self, frame: Frame, features: np.ndarray) -> dict[str, float]:
        """One gradient step on rays sampled from ``frame``; returns its losses ({} without valid depth)."""
        batch = self._ray_batch(frame, features)
        if batch is None:
            return {}
        points, target_sdf, rgb, feature = batch  # (R, S, 3), (R, S), (R, 3), (R, C)
        r, s = target_sdf.shape
        trunc = self.field.truncation
        rows, weights, known = self.grid.corners(points.reshape(-1, 3))  # (R*S, 8), (R*S, 8), (R*S,)
        geometry, geometry_read = self.grid.read(rows, weights, GEOMETRY)  # (R*S, 4 + G)
        sdf, color = self.decoders.signed_distance_and_color(geometry)  # (R*S,), (R*S, 3)
        known = known.reshape(r, s)
        if not known.any():  # cannot happen after _allocate, but never average an empty set
            return {}
        sdf_loss = ((sdf.reshape(r, s) - target_sdf).abs() / trunc)[known].mean()
        surface = known[:, 0]  # (R,) sample 0 of every ray is its measured surface point
        color_loss = (color.reshape(r, s, 3)[:, 0] - rgb).abs().sum(dim=1)[surface].mean()
        has_feature = surface & (feature.norm(dim=1) > 0)
        # the code is read at the surface sample alone, the only one whose feature is supervised
        surface_rows = rows.reshape(r, s, 8)[has_feature, 0]  # (F, 8)
        code, code_read = self.grid.read(surface_rows, weights.reshape(r, s, 8)[has_feature, 0], CODE)  # (F, K)
        predicted = self.decoders.feature(code)  # (F, C)
        feature_loss = (1.0 - F.cosine_similarity(predicted, feature[has_feature], dim=1)).mean() if has_feature.any() else sdf_loss * 0.0
        loss = sdf_loss + self.field.color_weight * color_loss + self.field.feature_weight * feature_loss
        self._decoder_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._grid_optimizer.step([geometry_read, code_read])
        self._decoder_optimizer.step()
        self.steps_taken += 1
        self.last_losses = {"sdf": sdf_loss.item(), "color": color_loss.item(), "feature": feature_loss.item()}
        return self.last_losses

    def allocate(self, frame: Frame, features: np.ndarray, points: np.ndarray, pixels: np.ndarray) -> None:
        """Allocate the corners of the cells at each depth point and ``truncation`` in front of it;
        initialise the new vertices from the frame's observation (module doc, step 2)."""
        origin = frame.camera_pose.position
        toward_camera = origin - points  # (N, 3)
        toward_camera /= np.maximum(np.linalg.norm(toward_camera, axis=1, keepdims=True), 1e-9)
        samples = np.concatenate([points, points + self.field.truncation * toward_camera])  # (2N, 3)
        source = np.concatenate([pixels, pixels])  # (2N,) the pixel each sample came from
        in_new_cell, rows, fresh = self.grid.allocate_cells(samples)  # (P,), (P, 8), (K,)
        if self.grid.grew:
            self._grid_optimizer = self._grid_optimizer.grown(self.grid.tables)
        if len(fresh) == 0:
            return
        first_fresh = int(fresh.min())  # fresh rows are appended: every row >= this one is new
        use = rows >= first_fresh  # (P, 8) corner samples that initialise a new vertex
        sample_of, corner_of = np.nonzero(use)
        vertex_rows = rows[sample_of, corner_of]  # (U,)
        sample_of = in_new_cell[sample_of]  # (U,) index into samples
        vertex_world = self.grid.vertex_positions_of(vertex_rows)  # (U, 3)
        pose = frame.camera_pose
        vertex_depth = -((vertex_world - pose.position) @ pose.rotation_matrix)[:, 2]  # (U,) along the camera axis
        pixel = source[sample_of]  # (U,)
        trunc = self.field.truncation
        sdf0 = np.clip(frame.depth.reshape(-1)[pixel] - vertex_depth, -trunc, trunc) / trunc  # (U,) in truncation units
        rgb0 = frame.rgb.reshape(-1, 3)[pixel].astype(np.float32) / 255.0  # (U, 3)
        distinct_pixels, pixel_of = np.unique(pixel, return_inverse=True)  # (Q,), (U,)
        with torch.no_grad():
            pixel_codes = self.decoders.codes_for(torch.from_numpy(pixel_features(features, distinct_pixels)))  # (Q, K)
            code0 = pixel_codes[torch.from_numpy(pixel_of)]  # (U, K)
            init = torch.zeros(len(vertex_rows), self.field.latent_dim)  # (U, D)
            init[:, 0] = torch.from_numpy(sdf0.astype(np.float32))
            init[:, 1:4] = torch.from_numpy(rgb0)
            init[:, -self.field.code_dim :] = code0
            local = torch.from_numpy(vertex_rows - first_fresh)  # (U,) rows among the new ones
            sums = torch.zeros(len(self.grid) - first_fresh, self.field.latent_dim).index_add_(0, local, init)
            counts = torch.zeros(len(self.grid) - first_fresh).index_add_(0, local, torch.ones(len(local)))
            self.grid.write_rows(first_fresh, sums / counts.clamp_min(1.0)[:, None])

    def _ray_batch(self, frame: Frame, features: np.ndarray):
        """Rays sampled from the frame's valid depth: sample points (R, S, 3) (sample 0 at the
        measured surface, the others stratified across the truncation band), their target signed
        distances along the ray (R, S), and the rays' colours (R, 3) and features (R, C); None when
        the frame has no valid depth."""
        valid = np.flatnonzero(valid_depth_mask(frame, self.config.max_depth))
        if len(valid) == 0:
            return None
        f = self.field
        pixels = self._rng.choice(valid, size=min(f.rays_per_step, len(valid)), replace=False)  # (R,)
        r, s = len(pixels), f.samples_per_ray
        rays = frame.intrinsics.pixel_ray_directions(pixels) @ frame.camera_pose.rotation_matrix.T  # (R, 3) world, unit z-depth
        depth = frame.depth.reshape(-1)[pixels].astype(np.float64)  # (R,)
        strata = (np.arange(s - 1) + self._rng.random((r, s - 1))) / (s - 1)  # (R, S-1) in [0, 1)
        offsets = np.concatenate([np.zeros((r, 1)), (2.0 * strata - 1.0) * f.truncation], axis=1)  # (R, S) z offsets
        z = depth[:, None] + offsets  # (R, S) z-depth of every sample
        points = frame.camera_pose.position + rays[:, None, :] * z[:, :, None]  # (R, S, 3)
        target = -offsets * np.linalg.norm(rays, axis=1)[:, None]  # (R, S) distance to the surface along the ray
        rgb = frame.rgb.reshape(-1, 3)[pixels].astype(np.float32) / 255.0
        feature = pixel_features(features, pixels)
        return (
            torch.from_numpy(points.astype(np.float32)),
            torch.from_numpy(target.astype(np.float32)),
            torch.from_numpy(rgb),
            torch.from_numpy(np.ascontiguousarray(feature, dtype=np.float32)),
        )

    # ------------------------------------------------------------------------------------ reading

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(N,) float32 signed distance (metres, positive in front of surfaces) at world points (N, 3);
        NaN where the field knows nothing."""
        q = torch.from_numpy(np.atleast_2d(np.asarray(points, np.float32)))
        out = np.full(len(q), np.nan, np.float32)
        with torch.no_grad():
            for chunk in _chunks(len(q)):
                geometry, known = self._read(q[chunk], GEOMETRY)
                sdf, _ = self.decoders.signed_distance_and_color(geometry)
                out[chunk] = np.where(known.numpy(), sdf.numpy(), np.nan)
        return out

    def query(self, points: np.ndarray) -> np.ndarray:
        """(N, C) float32 unit features decoded at world points (N, 3); zeros where the field knows nothing."""
        q = torch.from_numpy(np.atleast_2d(np.asarray(points, np.float32)))
        out = np.zeros((len(q), self.feature_dim), np.float32)
        with torch.no_grad():
            for chunk in _chunks(len(q)):
                code, known = self._read(q[chunk], CODE)
                out[chunk] = (F.normalize(self.decoders.feature(code), dim=1) * known[:, None]).numpy()
        return out

    def project_to_surface(self, points: np.ndarray, iterations: int = 2) -> np.ndarray:
        """Newton steps p <- p - sdf(p) grad / |grad|^2 (each at most ``truncation`` long) onto the
        field's zero level set; points where the field is unknown or no surface lies within a voxel
        after the steps are dropped. (M, 3) -> (M', 3) float32."""
        keep_all = []
        for chunk in _chunks(len(points)):
            p = torch.from_numpy(points[chunk])
            for _ in range(iterations):
                p = p.detach().requires_grad_(True)
                geometry, known = self._read(p, GEOMETRY)
                sdf, _ = self.decoders.signed_distance_and_color(geometry)
                (grad,) = torch.autograd.grad(sdf.sum(), p)
                step = sdf[:, None] * grad / grad.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-6)  # (n, 3)
                step = step * (self.field.truncation / step.norm(dim=1, keepdim=True).clamp_min(self.field.truncation))
                p = p.detach() - step.detach()
            with torch.no_grad():
                geometry, known = self._read(p, GEOMETRY)
                sdf, _ = self.decoders.signed_distance_and_color(geometry)
            keep = known & (sdf.abs() < self.config.voxel_size)
            keep_all.append(p[keep].numpy())
        return np.concatenate(keep_all) if keep_all else np.zeros((0, 3), np.float32)

    def colors(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) uint8 colour decoded at world points (N, 3)."""
        with torch.no_grad():
            geometry, _ = self._read(torch.from_numpy(np.asarray(points, np.float32)), GEOMETRY)
            _, color = self.decoders.signed_distance_and_color(geometry)
        return np.clip(color.numpy() * 255.0, 0, 255).astype(np.uint8)

    def _read(self, points: torch.Tensor, table: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Table ``table``'s latents (N, D_t) at world points (N, 3) (differentiable in the points) and (N,) known."""
        rows, weights, known = self.grid.corners(points)
        return self.grid.blend(rows, weights, table), known

    def surface_readout(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``points`` (M, 3) moved onto the surface (``project_to_surface``: (M', 3) float32) with
        their decoded colours (M', 3) uint8 and unit features (M', C) float32."""
        points = self.project_to_surface(points)
        return points, self.colors(points), self.query(points)

    # ------------------------------------------------------------------------------------ files

    def arrays(self) -> dict[str, np.ndarray]:
        """The grid's keys and latents and the decoders' weights, as ``load_arrays`` takes them (the
        optimisers' moments are not kept: a loaded field that trains more restarts them)."""
        return {
            "vertex_keys": self.grid.index.keys,
            "cell_keys": self.grid.cells.keys,
            "latents": self.grid.rows_array(),  # (M, D): the geometry and code tables side by side
            **{f"decoder__{k}": v.detach().numpy().copy() for k, v in self.decoders.state_dict().items()},
        }

    def load_arrays(self, arrays: dict[str, np.ndarray], steps_taken: int = 0) -> None:
        """Replace grid and decoders by ``arrays`` (as ``arrays`` gives them), optimisers restarted."""
        self.decoders.load_state_dict({k[len("decoder__"):]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("decoder__")})
        self.grid = SparseLatentGrid.from_arrays(self.field.vertex_size, arrays["vertex_keys"], arrays["latents"], arrays["cell_keys"], self.field.table_dims)
        self._grid_optimizer = RowAdam(self.grid.tables, lr=self.field.grid_lr)
        self._decoder_optimizer = torch.optim.Adam(self.decoders.parameters(), lr=self.field.decoder_lr)
        self.steps_taken = int(steps_taken)


def _chunks(n: int, size: int = 65536) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
