"""The colour-only extractor: shapes and unit features, colour names find their pixels, and anything
that is not a colour name is refused."""

import math

import numpy as np
import pytest

from envs.types import CameraIntrinsics, Frame, Pose
from perception.color_features import NAMED_COLORS, ColorFeatureExtractor, rgb_to_lab
from perception.features import FeatureExtractor

PATCH_NAMES = ["red", "green", "blue", "white", "black", "yellow", "grey", "orange", "brown", "pink", "purple", "cyan"]


def _frame(rgb: np.ndarray) -> Frame:
    h, w = rgb.shape[:2]
    return Frame(rgb, np.ones((h, w, 1), np.float32), None, Pose(np.zeros(3)), CameraIntrinsics(w, h, math.radians(79)))


def _patches(noise: int = 12, shade: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """An image of 8 x 8 patches of the named colours, shaded and noisy; and each pixel's patch index."""
    rng = np.random.default_rng(0)
    colours = np.array([NAMED_COLORS[n] for n in PATCH_NAMES], dtype=np.float64) * shade  # (K, 3)
    index = np.repeat(np.repeat(np.arange(len(PATCH_NAMES)).reshape(1, -1), 8, axis=0), 8, axis=1)  # (8, 8K)
    rgb = colours[index] + rng.integers(-noise, noise + 1, size=index.shape + (3,))
    return np.clip(rgb, 0, 255).astype(np.uint8), index


def test_shapes_dtype_and_unit_features():
    extractor = ColorFeatureExtractor()
    assert isinstance(extractor, FeatureExtractor) and extractor.dim == 7
    rgb = np.random.default_rng(1).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    features = extractor(_frame(rgb))
    assert features.shape == (48, 64, 7) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-5)
    text = extractor.embed_text("red")
    assert text.shape == (7,) and text.dtype == np.float32 and np.linalg.norm(text) == pytest.approx(1.0, abs=1e-6)


def test_lab_reference_values():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86]], atol=0.05)


def test_a_colour_name_is_the_feature_of_its_pixels():
    extractor = ColorFeatureExtractor()
    rgb = np.array([[NAMED_COLORS["orange"], NAMED_COLORS["grey"]]], dtype=np.uint8)
    features = extractor(_frame(rgb))
    np.testing.assert_allclose(features[0, 0], extractor.embed_text("orange"), atol=1e-6)
    for spelling in ("grey", "Gray", "  GREY "):
        np.testing.assert_allclose(features[0, 1], extractor.embed_text(spelling), atol=1e-6)
    np.testing.assert_allclose(extractor.embed_text("light-blue"), extractor.embed_text("light blue"))
    np.testing.assert_allclose(extractor.embed_text("#FF0000"), extractor.embed_text("red"))
    assert float(extractor.embed_text("white") @ extractor.embed_text("black")) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", PATCH_NAMES)
def test_colour_names_find_matching_pixels(name):
    """On shaded, noisy patches, a name's best pixel and its highest mean relevance are its own patch."""
    extractor = ColorFeatureExtractor()
    rgb, index = _patches()
    relevance = extractor(_frame(rgb)) @ extractor.embed_text(name)  # (H, W)
    k = PATCH_NAMES.index(name)
    assert index.reshape(-1)[np.argmax(relevance)] == k
    means = np.array([relevance[index == i].mean() for i in range(len(PATCH_NAMES))])
    assert int(np.argmax(means)) == k


@pytest.mark.parametrize("text", ["chair", "a red chair", "", "#12345", "reddish"])
def test_text_that_is_not_a_colour_is_refused(text):
    with pytest.raises(ValueError, match="colour-only extractor"):
        ColorFeatureExtractor().embed_text(text)
