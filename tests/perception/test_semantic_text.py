"""SentenceEncoder (offline all-MiniLM-L6-v2) and SemanticTextExtractor on rendered house frames."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception import FeatureExtractor, FusionMap, LabelFeatures, MapConfig, PointCloudMap, SemanticTextExtractor, SentenceEncoder, pixel_features
from perception.semantic_text import SemanticTextConfig
from perception.text_encoder import SentenceEncoderConfig, default_encoder_path


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_path(default_encoder_path())


@pytest.fixture(scope="module")
def house():
    scene = generate_house(0)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=64, height=48))
    point = sim.navigation.sample_navigable_point(np.random.default_rng(0), sim.navigation.largest_island())
    frames = [sim.reset(Pose.from_yaw(point, 0.0))]
    for _ in range(11):  # a full turn, 30 degrees at a time: more categories in view
        frames.append(sim.step(Action.TURN_LEFT)[0])
    return scene, frames


@pytest.fixture(scope="module")
def extractor(encoder, house) -> SemanticTextExtractor:
    return SemanticTextExtractor.from_scene(house[0], encoder)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------------------------ encoder


def test_default_path_is_the_packaged_model():
    path = default_encoder_path()
    assert path.name == "model" and (path / "config.json").is_file()


def test_encoder_offline_unit_norm_384(encoder, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"the encoder tried to open a connection: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    offline = SentenceEncoder.from_path(default_encoder_path())
    vectors = offline.encode(["sofa", "a red chair in the kitchen", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert offline.dim == encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_names_closer_than_unrelated(encoder):
    sofa, couch, toilet, fridge, refrigerator = encoder.encode(["sofa", "couch", "toilet", "fridge", "refrigerator"])
    assert cos(sofa, couch) > cos(sofa, toilet)
    assert cos(fridge, refrigerator) > cos(fridge, sofa)


def test_encode_cache_and_batches_agree(encoder):
    texts = [f"object number {i}" for i in range(5)] + ["sofa", "object number 2"]
    small = SentenceEncoder(encoder.tokenizer, encoder.model, SentenceEncoderConfig(batch_size=2, cache_size=3))
    a = small.encode(texts)
    b = encoder.encode(texts)
    assert a.shape == (7, 384)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(a[2], a[6])  # the repeated string: encoded once
    assert len(small._cache) == 3  # LRU bound
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode("sofa")


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        SentenceEncoder.from_path(missing)
    with pytest.raises(FileNotFoundError, match="config.json"):
        SentenceEncoder.from_path(tmp_path)  # exists, but is no model folder


# ---------------------------------------------------------------------------------- extractor


def test_is_a_feature_extractor(extractor):
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.dim == 384


def test_features_on_rendered_frame(extractor, house):
    scene, frames = house
    frame = frames[0]
    features = extractor(frame)
    assert features.shape == (48, 64, 384) and features.dtype == np.float32
    semantic = frame.semantic
    norms = np.linalg.norm(features, axis=-1)
    np.testing.assert_array_equal(norms == 0, semantic == 0)
    np.testing.assert_allclose(norms[semantic != 0], 1.0, atol=1e-5)
    categories = np.vectorize(lambda i: scene.objects[i].category if i else "")(semantic)  # (H, W) str
    for name in set(categories[semantic != 0].tolist()):
        rows = features[categories == name]  # (n, C)
        assert (rows == rows[0]).all(), name


def test_top1_category_is_true_category(extractor, house):
    scene, frames = house
    names = extractor.category_names
    text = np.stack([extractor.embed_text(n) for n in names])  # (K, C) unit
    seen = set()
    for frame in frames:
        features = extractor(frame)
        labelled = frame.semantic != 0
        truth = np.array([names.index(scene.objects[i].category) for i in frame.semantic[labelled]])
        predicted = (features[labelled] @ text.T).argmax(axis=1)  # (n,), features unit -> cosine
        assert (predicted == truth).all()
        seen.update(truth.tolist())
    assert len(seen) >= 5  # the turn sees a good part of the house's categories


def test_unlabelled_unknown_and_out_of_table_ids_get_zeros(extractor, house):
    frame = house[1][0]
    semantic = frame.semantic.copy()
    semantic[0, :] = 0
    semantic[1, :] = 10_000  # beyond the table
    semantic[2, :] = -3
    features = extractor(dataclasses.replace(frame, semantic=semantic))
    assert not features[:3].any()
    assert (np.linalg.norm(features[3:], axis=-1) > 0.99).all()
    partial = SemanticTextExtractor(extractor.encoder, {5: "sofa"})  # ids 1-4 unknown
    ids = np.array([[0, 1, 5, 4]], dtype=np.int32)
    out = partial(dataclasses.replace(frame, semantic=np.resize(ids, (48, 64)).astype(np.int32)))
    np.testing.assert_array_equal(np.linalg.norm(out[0, :4], axis=-1) > 0, [False, False, True, False])


def test_features_are_read_through_the_category_table(extractor, house):
    """The extractor hands out LabelFeatures: the same values as the dense (H, W, C) array, read by
    pixel, by slice, by mask or whole, without building that array."""
    frame = house[1][3]
    features = extractor(frame)
    assert isinstance(features, LabelFeatures) and features.ndim == 3
    dense = np.asarray(features)
    assert dense.shape == features.shape == (48, 64, 384) and dense.dtype == np.float32
    labelled = frame.semantic != 0
    for key in (5, (5, 7), (slice(2, 9), slice(None, None, 3)), labelled, (np.array([0, 47]), np.array([63, 1])), (slice(None), 4, 100), Ellipsis):
        np.testing.assert_array_equal(features[key], dense[key], err_msg=str(key))
    pixels = np.random.default_rng(0).choice(48 * 64, size=200, replace=False)
    np.testing.assert_array_equal(pixel_features(features, pixels), dense.reshape(-1, 384)[pixels])
    np.testing.assert_array_equal(pixel_features(dense, pixels), dense.reshape(-1, 384)[pixels])
    assert np.asarray(features, dtype=np.float16).dtype == np.float16


@pytest.mark.parametrize("construction", [PointCloudMap, FusionMap])
def test_maps_built_from_label_features_equal_maps_built_from_dense_ones(extractor, house, construction):
    lazy, dense = construction(extractor, MapConfig()), construction(extractor, MapConfig())
    for frame in house[1][:4]:
        features = extractor(frame)
        lazy.integrate(frame, features)
        dense.integrate(frame, np.asarray(features))
    (p1, f1), (p2, f2) = (lazy.points(), lazy.features()), (dense.points(), dense.features())
    o1, o2 = np.lexsort(p1.T), np.lexsort(p2.T)  # the fusion map's surface may come in another order
    assert len(p1) > 100
    np.testing.assert_array_equal(p1[o1], p2[o2])
    np.testing.assert_array_equal(f1[o1], f2[o2])


def test_frame_without_semantic_raises(extractor, house):
    frame = dataclasses.replace(house[1][0], semantic=None)
    with pytest.raises(ValueError, match="semantic"):
        extractor(frame)


def test_text_query_ranks_synonym_category(extractor):
    names = extractor.category_names
    table = np.stack([extractor.category_embedding(n) for n in names])  # (K, C)
    pairs = [("couch", "sofa"), ("fridge", "refrigerator"), ("television", "tv"), ("bookcase", "bookshelf")]
    for query, category in pairs:
        assert names[int((table @ extractor.embed_text(query)).argmax())] == category, query


def test_config_validation():
    with pytest.raises(ValueError):
        SemanticTextConfig("no placeholder")
    assert SemanticTextConfig("a {category}").prompt("sofa") == "a sofa"
