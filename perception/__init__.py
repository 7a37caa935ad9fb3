"""Perception: what the agent sees, turned into a 3D map it can query with language.

``Frame`` (RGB-D + semantic, from ``envs``) -> ``FeatureExtractor`` (per-pixel features, H x W x C, and
text embedded in the same space) -> ``FeatureMap`` (frames integrated into 3D: points and features for
the 3D-LLM, an occupancy grid for the policies, text relevance for queries).

Imports only ``envs``' small types; never ``agent`` or ``policies``.
"""

from perception.clip_features import ClipFeatureConfig, ClipFeatureExtractor, DenseRecipe
from perception.color_features import ColorFeatureExtractor
from perception.features import FeatureExtractor, LabelFeatures, pixel_features
from perception.fusion_map import FusionConfig, FusionMap
from perception.learned_rgb import LearnedRGBExtractor
from perception.maps import FeatureMap, MapConfig
from perception.occupancy import FREE, OCCUPIED, UNKNOWN, OccupancyGrid
from perception.pointcloud_map import PointCloudMap
from perception.semantic_text import SemanticTextExtractor
from perception.text_encoder import SentenceEncoder

__all__ = [
    "FREE",
    "OCCUPIED",
    "UNKNOWN",
    "ClipFeatureConfig",
    "ClipFeatureExtractor",
    "ColorFeatureExtractor",
    "DenseRecipe",
    "FeatureExtractor",
    "FeatureMap",
    "FusionConfig",
    "FusionMap",
    "LabelFeatures",
    "LearnedRGBExtractor",
    "MapConfig",
    "OccupancyGrid",
    "PointCloudMap",
    "SemanticTextExtractor",
    "pixel_features",
    "SentenceEncoder",
    "NeuralFieldConfig",
    "NeuralFieldMap",
]

_LAZY = {"NeuralFieldMap": "perception.neural_field_map", "NeuralFieldConfig": "perception.neural_field_map"}
"""Exports whose modules import torch at import time: loaded on first access (PEP 562), so that
``import perception`` stays light."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'perception' has no attribute {name!r}")
