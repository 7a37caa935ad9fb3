"""The CLIP extractor on a tiny CLIP built in-process (no downloads): shapes and unit features, the
dense recipes equal their hand computation from the model's own modules, features follow the image,
text embeddings, and clear errors for bad folders and bad frames."""

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from envs.types import CameraIntrinsics, Frame, Pose
from perception.clip_features import ClipFeatureConfig, ClipFeatureExtractor, DenseRecipe
from perception.features import FeatureExtractor

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

IMAGE_SIZE, PATCH, DIM = 32, 8, 16


def _frame(rgb: np.ndarray) -> Frame:
    h, w = rgb.shape[:2]
    return Frame(rgb, np.ones((h, w, 1), np.float32), None, Pose(np.zeros(3)), CameraIntrinsics(w, h, math.radians(79)))


def _random_rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A tiny random CLIP (32 x 32 images, 8 x 8 patches, projection 16) saved with a letter tokenizer
    and an image processor, like a folder made by save_pretrained from a real checkpoint."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":  # every letter, inside and at the end of a word
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=24, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        ),
        vision_config=dict(
            image_size=IMAGE_SIZE, patch_size=PATCH, hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=2,
        ),
        projection_dim=DIM,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_clip")
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )  # OpenAI's mean and std
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def extractor(clip_folder):
    return ClipFeatureExtractor.from_path(clip_folder)


def test_shapes_dtype_and_unit_features(extractor):
    assert isinstance(extractor, FeatureExtractor) and extractor.dim == DIM
    features = extractor(_frame(_random_rgb(40, 56, seed=1)))  # not the model's 32 x 32
    assert features.shape == (40, 56, DIM) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-5)


def test_deterministic_and_batch_equals_single(extractor):
    a, b = _frame(_random_rgb(24, 40, seed=2)), _frame(_random_rgb(24, 40, seed=3))
    np.testing.assert_array_equal(extractor(a), extractor(a))
    batch = extractor.features_batch([a, b])
    assert batch.shape == (2, 24, 40, DIM)
    np.testing.assert_allclose(batch[0], extractor(a), atol=1e-5)
    np.testing.assert_allclose(batch[1], extractor(b), atol=1e-5)


def test_features_follow_the_image(extractor):
    one, other = extractor(_frame(_random_rgb(32, 48, seed=4))), extractor(_frame(_random_rgb(32, 48, seed=5)))
    assert np.abs(one - other).max() > 0.05
    split = np.zeros((32, 48, 3), np.uint8)
    split[:, :24] = (220, 30, 30)  # red left half
    split[:, 24:] = (30, 30, 220)  # blue right half
    features = extractor(_frame(split))
    left, right = features[:, :8].reshape(-1, DIM), features[:, -8:].reshape(-1, DIM)
    assert float(np.mean(left @ right.T)) < float(np.mean(left @ left.T)) - 0.05
    assert float(np.mean(left @ right.T)) < float(np.mean(right @ right.T)) - 0.05


def test_pixels_are_the_upsampled_patches(extractor):
    frame = _frame(_random_rgb(20, 36, seed=6))
    patches = extractor.patch_features([frame])  # (1, gh, gw, C)
    assert patches.shape == (1, IMAGE_SIZE // PATCH, IMAGE_SIZE // PATCH, DIM)
    grid = torch.from_numpy(patches).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(20, 36), mode="bilinear", align_corners=False)
    expected = torch.nn.functional.normalize(expected, dim=1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(extractor(frame), expected, atol=1e-5)


def _hand_patch(extractor, rgb: np.ndarray, recipe: DenseRecipe, row: int, col: int) -> np.ndarray:
    """The unit feature of patch (row, col), computed step by step from the model's modules."""
    model, vision = extractor.model, extractor.model.vision_model
    x = rgb.astype(np.float32) / 255.0  # a 32 x 32 frame needs no resize
    x = (x - np.array(transformers.image_utils.OPENAI_CLIP_MEAN)) / np.array(transformers.image_utils.OPENAI_CLIP_STD)
    pixel_values = torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]  # (1, 3, 32, 32)
    with torch.inference_mode():
        tokens = vision.pre_layrnorm(vision.embeddings(pixel_values))  # (1, 1 + 16, 32)
        first, last = vision.encoder.layers
        tokens = first(tokens, None)  # the tokens entering the last block
        if recipe is DenseRecipe.PATCH_TOKENS:
            tokens = last(tokens, None)
        else:
            value = last.self_attn.out_proj(last.self_attn.v_proj(last.layer_norm1(tokens)))  # no q-k attention
            if recipe is DenseRecipe.MASKCLIP_RESIDUAL:
                value = tokens + value
                value = value + last.mlp(last.layer_norm2(value))
            tokens = value
        token = tokens[0, 1 + row * (IMAGE_SIZE // PATCH) + col]  # patches are row-major after the class token
        feature = model.visual_projection(vision.post_layernorm(token))
    return torch.nn.functional.normalize(feature, dim=0).numpy()


@pytest.mark.parametrize("recipe", list(DenseRecipe))
def test_dense_recipe_matches_hand_computation(clip_folder, recipe):
    extractor = ClipFeatureExtractor.from_path(clip_folder, ClipFeatureConfig(dense=recipe))
    rgb = _random_rgb(IMAGE_SIZE, IMAGE_SIZE, seed=7)
    patches = extractor.patch_features([_frame(rgb)])[0]  # (4, 4, C)
    for row, col in [(1, 2), (3, 0)]:  # off the diagonal: a transposed grid would fail
        np.testing.assert_allclose(patches[row, col], _hand_patch(extractor, rgb, recipe, row, col), atol=1e-5)


def test_recipes_differ_and_maskclip_is_the_default(clip_folder, extractor):
    assert extractor.config.dense is DenseRecipe.MASKCLIP
    frame = _frame(_random_rgb(IMAGE_SIZE, IMAGE_SIZE, seed=8))
    tokens = ClipFeatureExtractor.from_path(clip_folder, ClipFeatureConfig(dense="patch_tokens"))
    assert np.abs(extractor.patch_features([frame]) - tokens.patch_features([frame])).max() > 0.05


def test_input_size_keeps_the_aspect(clip_folder):
    wide = ClipFeatureExtractor.from_path(clip_folder, ClipFeatureConfig(input_size=(32, 48)))
    assert wide.grid_size == (4, 6)
    frame = _frame(_random_rgb(40, 60, seed=9))
    assert wide.patch_features([frame]).shape == (1, 4, 6, DIM)
    features = wide(frame)
    assert features.shape == (40, 60, DIM)
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="multiples of the model's patch size"):
        ClipFeatureExtractor.from_path(clip_folder, ClipFeatureConfig(input_size=(30, 48)))


def test_embed_text(extractor):
    chair = extractor.embed_text("a red chair")
    assert chair.shape == (DIM,) and chair.dtype == np.float32
    assert np.linalg.norm(chair) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(chair, extractor.embed_text("a red chair"))
    assert float(chair @ extractor.embed_text("a blue sofa")) < 0.999
    both = extractor.embed_texts(["a red chair", "a blue sofa"])  # padded batch: same as one by one
    np.testing.assert_allclose(both[0], chair, atol=1e-5)
    np.testing.assert_allclose(both[1], extractor.embed_text("a blue sofa"), atol=1e-5)
    pixels = extractor(_frame(_random_rgb(16, 16, seed=10)))
    assert (pixels @ chair).shape == (16, 16)  # the same space: cosine relevance per pixel


def test_bad_folders_raise_clear_errors(tmp_path, clip_folder):
    with pytest.raises(FileNotFoundError, match="does not exist.*save_pretrained"):
        ClipFeatureExtractor.from_path(tmp_path / "nowhere")
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ClipFeatureExtractor.from_path(a_file)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        ClipFeatureExtractor.from_path(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    with pytest.raises(ValueError, match="'bert' model, not a CLIP model"):
        ClipFeatureExtractor.from_path(tmp_path)
    (tmp_path / "config.json").write_text((clip_folder / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        ClipFeatureExtractor.from_path(tmp_path)
    (tmp_path / "tokenizer.json").write_text((clip_folder / "tokenizer.json").read_text())
    with pytest.raises(FileNotFoundError, match="no image processor config"):
        ClipFeatureExtractor.from_path(tmp_path)


def test_bad_frames_and_configs_raise(extractor):
    with pytest.raises(ValueError, match="no rgb image"):
        extractor(SimpleNamespace(rgb=None))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        extractor(SimpleNamespace(rgb=np.zeros((16, 16), np.uint8)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        extractor(SimpleNamespace(rgb=np.zeros((16, 16, 3), np.float32)))
    with pytest.raises(ValueError, match="one size"):
        extractor.features_batch([_frame(_random_rgb(16, 16, 0)), _frame(_random_rgb(16, 24, 0))])
    with pytest.raises(ValueError, match="dense must be one of"):
        ClipFeatureConfig(dense="attention")
    with pytest.raises(ValueError, match="input_size"):
        ClipFeatureConfig(input_size=(0, 32))
    assert ClipFeatureConfig(input_size=64).input_size == (64, 64)


def test_import_perception_stays_light():
    code = (
        "import sys, perception; assert perception.ClipFeatureExtractor; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
