"""``NeuralFieldMap``: the paper's *neural field* construction, and the map the agent uses by default.

A learnable sparse latent grid (``perception.neural_grid``, vertices every ``vertex_size`` metres)
read by trilinear interpolation, and small decoders (``FieldDecoders``) from a point's latent to its
signed distance, colour and feature (both, with their optimisers, in ``perception.neural_field``'s
``NeuralField``, which lives where its training runs: ``perception.field_training``). It is trained
**online**, frame by frame:

1. *Allocate*: the corners of the grid cells where the frame's depth lands (and a truncation
   distance in front of it) get latents.
2. *Initialise from fusion*: a new vertex starts at the average, over the new cells it is a
   corner of (one of the frame's pixels per cell), of the fused observation: its projective signed distance (pixel depth minus the
   vertex's depth along the camera axis, truncated), the pixel colour, and the feature code that the
   feature decoder's linear basis maps closest to the pixel feature (least squares, ``pinv``).
3. *Optimise*: ``steps_per_frame`` gradient steps, each on ``rays_per_step`` rays sampled from the
   frame (``samples_per_ray`` points across the truncation band around the measured depth): an L1
   loss on the signed distance (the depth loss), L1 on colour and ``1 - cos`` on the feature at the
   surface sample. Latents step with ``RowAdam`` (only the rows read), decoders with ``Adam``.

The cost per frame is bounded (allocation is O(N log M); the steps touch only the sampled rays'
vertices) and memory grows with the surface seen, not with frames.

Reading: the field is queryable at any continuous point (``query``, ``signed_distance``). The map's
``points()`` are the surface voxels' mean depth points (as the direct reconstruction keeps them)
moved onto the field's zero level set by Newton steps along its gradient; colours and features are
decoded there.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from envs.types import Frame
from perception.features import FeatureExtractor
from perception.field_training import FieldTraining, InlineTraining
from perception.geometry import backproject
from perception.maps import MapConfig, MapReadout, corners, farthest_point_indices, read_map_file, spread_sample, write_map_file
from perception.neural_field import FieldDecoders, NeuralField, NeuralFieldConfig
from perception.voxels import VoxelSums

__all__ = ["CONSTRUCTION", "FieldDecoders", "NeuralFieldConfig", "NeuralFieldMap"]

CONSTRUCTION = "neural"


class NeuralFieldMap(MapReadout):
    """An online-trained sparse-grid neural field of signed distance, colour and features."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        config: MapConfig = MapConfig(),
        field: NeuralFieldConfig = NeuralFieldConfig(),
        training: FieldTraining | None = None,
    ) -> None:
        """``training``: where the field (a ``NeuralField``) lives and each frame's allocation and
        gradient steps run: ``InlineTraining`` (the default), ``BackgroundTraining`` (a mapping
        thread) or ``ProcessTraining`` (a mapping process); see ``perception.field_training``. The
        field is the same. Every read of the field runs after the queued work; ``training.wait()``
        waits alone."""
        self.extractor = extractor
        self.training: FieldTraining = InlineTraining() if training is None else training
        self.config = config
        self.field = field
        self.floor_height = config.floor_height
        self.frames_integrated = 0
        self.training.start(NeuralField(field, extractor.dim, config))
        self._surface = VoxelSums(config.voxel_size)  # mean depth point per surface voxel: points() starts there
        self._readout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (points, colours, features)
        self._samples: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # points_and_features(n) by n, until the map changes

    def __len__(self) -> int:
        return len(self.points())

    @property
    def vertices(self) -> int:
        """Allocated vertices of the field's latent grid (after the queued work)."""
        return self.training.call("status")["vertices"]

    @property
    def steps_taken(self) -> int:
        """Gradient steps the field has taken (after the queued work)."""
        return self.training.call("status")["steps_taken"]

    @property
    def last_losses(self) -> dict[str, float]:
        """The last gradient step's losses (after the queued work), for monitoring."""
        return self.training.call("status")["losses"]

    # ------------------------------------------------------------------------------------ building

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add the frame's depth points to the surface voxels (what ``occupancy_grid`` and ``bounds``
        read), then hand the field the frame to allocate and initialise its vertices and take the
        configured gradient steps on its rays (see module doc), with ``training``. ``features``:
        (H, W, C) from ``extractor``; neither they nor the frame may be changed afterwards."""
        self._accept(frame, features)
        lifted = backproject(frame, self.config.pixel_stride, self.config.max_depth)
        if len(lifted.points):
            self._surface.add(lifted.points, {"xyz": lifted.points})
        self.training.submit("train_on", frame, features, lifted.points, lifted.pixels)
        self.frames_integrated += 1
        self._readout, self._samples = None, {}

    def optimise_on(self, frame: Frame, features: np.ndarray) -> dict[str, float]:
        """One gradient step on rays sampled from ``frame`` (already integrated); returns the losses."""
        self._readout, self._samples = None, {}
        return self.training.call("step_on", frame, features)

    # ------------------------------------------------------------------------------------ reading

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(N,) float32 signed distance (metres, positive in front of surfaces) at world points (N, 3);
        NaN where the field knows nothing."""
        return self.training.call("signed_distance", points)

    def query(self, points: np.ndarray) -> np.ndarray:
        """(N, C) float32 unit features decoded at world points (N, 3); zeros where the field knows nothing."""
        return self.training.call("query", points)

    def points(self) -> np.ndarray:
        return self._read()[0]

    def colors(self) -> np.ndarray:
        """(M, 3) uint8 decoded colour per surface point."""
        return self._read()[1]

    def features(self) -> np.ndarray:
        """(M, C) float32 decoded unit feature per surface point."""
        return self._read()[2]

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` surface points spread by farthest-point sampling over position and feature,
        with their features. Samples the surface voxels first (features decoded where the voxels'
        depth points lie) and projects and decodes only those, so it costs O(n), not O(map); each
        size's sample is kept until the map changes (planners that each read the map cost one sample)."""
        if self._readout is not None:
            return spread_sample(self.points(), self.features(), n)
        if n not in self._samples:
            start = self._surface_samples()
            if len(start) > n:
                pool = np.random.default_rng(0).choice(len(start), size=min(len(start), 4 * n), replace=False)
                start = start[pool]
                start = start[farthest_point_indices(start, n, self.query(start))]
            points = self.training.call("project_to_surface", start)
            self._samples[n] = (points, self.query(points))
        points, features = self._samples[n]
        return points.copy(), features.copy()

    def bounds(self) -> np.ndarray | None:
        """(2, 3) lower and upper corner of the surface voxels' mean depth points (no projection or
        decoding, so it is cheap; ``points()``'s projected points can stray a few centimetres
        further); None while the map is empty."""
        return corners(self._surface_samples())

    def _occupancy_points(self) -> np.ndarray:
        """The occupancy grid's points: the surface voxels' mean depth points (within a voxel of the
        surface; no projection or decoding, so the grid costs O(voxels) numpy, cheap enough per step)."""
        return self._surface_samples()

    def _surface_samples(self) -> np.ndarray:
        """(M, 3) float32 mean depth point of each surface voxel: where ``points()`` starts."""
        return self._surface.mean("xyz").astype(np.float32) if len(self._surface) else np.zeros((0, 3), np.float32)

    def _read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._readout is None:
            self._readout = self.training.call("surface_readout", self._surface_samples())
        return self._readout

    # ------------------------------------------------------------------------------------ files

    def save(self, path: str | Path) -> Path:
        """Write grid, decoders and surface samples to one ``.npz`` (the optimiser's moments are not
        kept: a loaded map that integrates more frames restarts them)."""
        s = self._surface
        arrays = {
            **self.training.call("arrays"),
            "surface_keys": s.keys,
            "surface_weight": s.weight,
            "surface_xyz": s.channels.get("xyz", np.zeros((0, 3), np.float32)),
        }
        extra = {"floor_height": self.floor_height, "frames_integrated": self.frames_integrated, "steps_taken": self.steps_taken, "field": asdict(self.field)}
        return write_map_file(path, CONSTRUCTION, self.extractor.dim, self.config, arrays, extra)

    @classmethod
    def load(cls, path: str | Path, extractor: FeatureExtractor, training: FieldTraining | None = None) -> "NeuralFieldMap":
        """A map saved by ``save`` (its field placed by ``training``, as in ``__init__``); fails
        loudly when ``extractor`` gives another feature size."""
        header, arrays = read_map_file(path, CONSTRUCTION, extractor.dim)
        m = cls(extractor, MapConfig(**header["config"]), NeuralFieldConfig(**header["field"]), training)
        m.floor_height, m.frames_integrated = header["floor_height"], header["frames_integrated"]
        m.training.call("load_arrays", {k: v for k, v in arrays.items() if not k.startswith("surface_")}, header["steps_taken"])
        channels = {"xyz": arrays["surface_xyz"]} if len(arrays["surface_keys"]) else {}
        m._surface = VoxelSums.from_arrays(m.config.voxel_size, arrays["surface_keys"], arrays["surface_weight"], channels)
        return m
