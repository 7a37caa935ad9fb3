"""LearnedRGBExtractor: the shipped checkpoint, training, save/load, held-out splits, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from agent.cli import main
from envs.embedded import EmbeddedSimulator
from envs.house import OBJECT_CATEGORIES, generate_house
from envs.simulator import SensorConfig
from envs.types import Pose
from perception import FeatureExtractor, SentenceEncoder
from perception.learned_rgb import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    LearnedRGBConfig,
    LearnedRGBExtractor,
    default_learned_rgb_path,
    vocabulary_table,
)
from perception.learned_rgb_data import (
    HELDOUT_FIRST_SEED,
    TRAIN_FIRST_SEED,
    FrameSampling,
    HouseSplit,
    category_labels,
    render_frames,
    split_houses,
)
from perception.learned_rgb_training import TrainingConfig, evaluate_accuracy, train_learned_rgb
from perception.text_encoder import default_encoder_path

HELDOUT_ACCURACY_BOUND = 0.75
"""Asserted per-pixel top-1 accuracy of the shipped checkpoint on 6 fresh held-out frames (measured
0.87 on them; its README reports 0.870 on 240 held-out frames, where always answering "wall" scores
0.516 and chance is 1/42)."""
HELDOUT_CLASS_BOUND = 0.2
"""Asserted mean per-class accuracy on those frames (measured 0.51; 0.385 on the 240; chance 0.024)."""
TINY = LearnedRGBConfig(OBJECT_CATEGORIES, channels=(4, 8, 8, 8), hidden=8, input_width=32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_path(default_encoder_path())


@pytest.fixture(scope="module")
def shipped(encoder) -> LearnedRGBExtractor:
    return LearnedRGBExtractor.default(encoder=encoder)


@pytest.fixture(scope="module")
def house_frame():
    """One frame of house 0 (never trained on) at 96 x 72, a size the CNN was not trained at."""
    scene = generate_house(0)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=96, height=72))
    nav = sim.navigation
    point = nav.sample_navigable_point(np.random.default_rng(3), nav.largest_island())
    return scene, sim.reset(Pose.from_yaw(point, 0.5))


@pytest.fixture(scope="module")
def tiny_frames():
    return render_frames([TRAIN_FIRST_SEED], 4, FrameSampling(size=32), OBJECT_CATEGORIES, seed=0)


@pytest.fixture(scope="module")
def tiny_trained(encoder, tiny_frames):
    extractor = LearnedRGBExtractor.untrained(TINY, vocabulary_table(encoder, TINY), encoder)
    config = TrainingConfig(epochs=30, batch_size=4, pixels_per_frame=256, learning_rate=1e-2, warmup_fraction=0.0, class_balance=0.0)
    return train_learned_rgb(extractor, tiny_frames, config)


# ------------------------------------------------------------------------------ the shipped checkpoint


def test_shipped_checkpoint_loads_and_gives_unit_features(shipped, house_frame):
    assert (default_learned_rgb_path() / WEIGHTS_NAME).is_file() and (default_learned_rgb_path() / "README.md").is_file()
    assert isinstance(shipped, FeatureExtractor) and shipped.dim == 384
    assert shipped.vocabulary == OBJECT_CATEGORIES
    features = shipped(house_frame[1])
    assert features.shape == (72, 96, 384) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=-1), 1.0, atol=1e-4)


def test_shipped_checkpoint_records_command_and_unseen_heldout(shipped):
    record = shipped.training
    assert record["command"].startswith("nav3d train-features ") and f"--seed {record['seed']}" in record["command"]
    train = range(record["train_houses"]["first"], record["train_houses"]["first"] + record["train_houses"]["count"])
    heldout = range(record["heldout_houses"]["first"], record["heldout_houses"]["first"] + record["heldout_houses"]["count"])
    assert not set(train) & set(heldout)
    assert 0 not in train and HELDOUT_FIRST_SEED not in train  # the houses these tests look at
    assert record["heldout"]["accuracy"] > record["heldout"]["majority_rate"]
    assert record["command"] in (default_learned_rgb_path() / "README.md").read_text()


def test_shipped_checkpoint_accuracy_on_heldout_frames(shipped):
    frames = render_frames([HELDOUT_FIRST_SEED, HELDOUT_FIRST_SEED + 1], 3, FrameSampling(size=128), OBJECT_CATEGORIES, seed=12345)
    report = evaluate_accuracy(shipped, frames)
    assert report.chance == pytest.approx(1 / 42)
    assert report.accuracy >= HELDOUT_ACCURACY_BOUND, report
    assert report.accuracy > report.majority_rate + 0.1, report
    assert report.mean_class_accuracy >= HELDOUT_CLASS_BOUND, report


def test_classify_is_the_nearest_category_of_the_features(shipped, house_frame):
    frame = house_frame[1]
    predicted = shipped.classify(frame)
    nearest = (shipped(frame) @ shipped.text_table.T).argmax(axis=-1)  # (H, W)
    assert predicted.shape == (72, 96)
    assert (predicted == nearest).mean() > 0.999  # equal up to float ties


def test_embed_text_is_the_sentence_encoder(shipped, encoder):
    np.testing.assert_allclose(shipped.embed_text("a red sofa"), encoder.encode(["a red sofa"])[0], atol=1e-6)
    np.testing.assert_allclose(shipped.text_table, vocabulary_table(encoder, shipped.config), atol=1e-5)


# ------------------------------------------------------------------------------ training


def test_tiny_training_loss_falls(tiny_trained):
    losses = tiny_trained.losses
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def test_training_is_deterministic_given_the_seed(encoder, tiny_frames):
    def run(seed: int) -> dict:
        extractor = LearnedRGBExtractor.untrained(TINY, vocabulary_table(encoder, TINY), encoder, seed=seed)
        train_learned_rgb(extractor, tiny_frames, TrainingConfig(epochs=2, batch_size=2, pixels_per_frame=64, class_balance=0.5, seed=seed))
        return extractor.network.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_sampled_training_features_equal_inference_features(tiny_trained, tiny_frames):
    extractor = tiny_trained.extractor
    rgb = tiny_frames.rgb[:2]  # (2, 32, 32, 3)
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 32, size=(2, 50, 2)))
    with torch.inference_mode():
        sampled = extractor.network.sample_features(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0, pixels).numpy()
    for i in range(2):
        full = extractor(types.SimpleNamespace(rgb=rgb[i]))  # (32, 32, D)
        np.testing.assert_allclose(sampled[i], full[pixels[i, :, 0], pixels[i, :, 1]], atol=1e-5)


def test_frames_must_match_the_vocabulary(encoder, tiny_frames):
    other = LearnedRGBConfig(("wall", "floor"), channels=(4, 8, 8, 8), hidden=8, input_width=32)
    extractor = LearnedRGBExtractor.untrained(other, vocabulary_table(encoder, other), encoder)
    with pytest.raises(ValueError, match="vocabulary"):
        train_learned_rgb(extractor, tiny_frames, TrainingConfig(epochs=1))


# ------------------------------------------------------------------------------ save / load


def test_save_load_round_trip_gives_identical_outputs(tiny_trained, tiny_frames, encoder, tmp_path):
    extractor = tiny_trained.extractor
    extractor.training = {"command": "test", "seed": 0}
    folder = extractor.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]  # no temporary files left
    loaded = LearnedRGBExtractor.from_pretrained(folder, encoder=encoder)
    assert loaded.config == extractor.config and loaded.training == {"command": "test", "seed": 0}
    frame = types.SimpleNamespace(rgb=tiny_frames.rgb[0])
    np.testing.assert_array_equal(loaded(frame), extractor(frame))
    np.testing.assert_array_equal(loaded.classify(frame), extractor.classify(frame))


def test_missing_folder_or_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_checkpoint"):
        LearnedRGBExtractor.from_pretrained(tmp_path / "no_such_checkpoint")
    with pytest.raises(FileNotFoundError, match=CONFIG_NAME):
        LearnedRGBExtractor.from_pretrained(tmp_path)


def test_corrupt_or_mismatched_checkpoints_raise_clear_errors(tiny_trained, tmp_path):
    folder = tiny_trained.extractor.save_pretrained(tmp_path / "ckpt")
    good = json.loads((folder / CONFIG_NAME).read_text())

    def load_with(meta) -> None:
        (folder / CONFIG_NAME).write_text(meta if isinstance(meta, str) else json.dumps(meta))
        LearnedRGBExtractor.from_pretrained(folder)

    with pytest.raises(ValueError, match="not valid JSON"):
        load_with("{ not json")
    with pytest.raises(ValueError, match="not a learned RGB checkpoint"):
        load_with({**good, "format": "something-else"})
    with pytest.raises(ValueError, match="format_version"):
        load_with({**good, "format_version": 99})
    with pytest.raises(ValueError, match="architecture"):
        load_with({**good, "config": {**good["config"], "channels": [8, 8, 8, 8]}})
    with pytest.raises(ValueError, match="invalid learned RGB config"):
        load_with({**good, "config": {**good["config"], "unknown_key": 1}})
    (folder / CONFIG_NAME).write_text(json.dumps(good))
    (folder / WEIGHTS_NAME).write_bytes((folder / WEIGHTS_NAME).read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="SHA-256"):
        LearnedRGBExtractor.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match=WEIGHTS_NAME):
        (folder / WEIGHTS_NAME).unlink()
        LearnedRGBExtractor.from_pretrained(folder)


def test_bad_frames_raise(shipped, house_frame):
    with pytest.raises(ValueError, match="no rgb"):
        shipped(types.SimpleNamespace(rgb=None, depth=np.zeros((8, 8, 1), np.float32)))
    with pytest.raises(ValueError, match="no rgb"):
        shipped.classify(object())
    with pytest.raises(ValueError, match="uint8"):
        shipped(types.SimpleNamespace(rgb=np.zeros((8, 8), np.uint8)))
    with pytest.raises(ValueError, match="uint8"):
        shipped(types.SimpleNamespace(rgb=house_frame[1].rgb.astype(np.float32)))


def test_config_validation():
    with pytest.raises(ValueError, match="distinct"):
        LearnedRGBConfig(("wall", "wall"))
    with pytest.raises(ValueError, match="channels"):
        LearnedRGBConfig(("wall", "floor"), channels=(8, 8, 8))
    with pytest.raises(ValueError, match="category"):
        LearnedRGBConfig(("wall", "floor"), prompt_template="a thing")
    with pytest.raises(ValueError):
        TrainingConfig(class_balance=2.0)


# ------------------------------------------------------------------------------ data


def test_train_and_heldout_houses_never_overlap():
    split = split_houses(100, 10)
    assert len(split.train) == 100 and len(split.heldout) == 10 and not set(split.train) & set(split.heldout)
    assert split.train[0] == TRAIN_FIRST_SEED and split.heldout[0] == HELDOUT_FIRST_SEED
    with pytest.raises(ValueError, match="both"):
        HouseSplit((1, 2, 3), (3, 4))
    with pytest.raises(ValueError, match="both"):
        split_houses(10, 10, train_first=0, heldout_first=5)


def test_rendered_targets_are_the_frame_categories(tiny_frames):
    assert tiny_frames.rgb.shape == (4, 32, 32, 3) and set(tiny_frames.houses.tolist()) == {TRAIN_FIRST_SEED}
    again = render_frames([TRAIN_FIRST_SEED], 4, FrameSampling(size=32), OBJECT_CATEGORIES, seed=0)
    np.testing.assert_array_equal(again.rgb, tiny_frames.rgb)  # deterministic in (seed, house)
    labels = tiny_frames.labels
    assert labels.min() >= 0 and {"wall", "floor"} & {OBJECT_CATEGORIES[i] for i in np.unique(labels)}
    semantic = np.array([[0, 1, 2, 7]], dtype=np.int32)
    np.testing.assert_array_equal(category_labels(semantic, {1: "sofa", 2: "spaceship"}, ("wall", "sofa")), [[-1, 1, -1, -1]])


# ------------------------------------------------------------------------------ command line


def test_train_and_eval_commands(tmp_path, capsys):
    out = tmp_path / "ckpt"
    args = ["train-features", "--out", str(out), "--train-houses", "1", "--heldout-houses", "1", "--frames-per-house", "2",
            "--size", "32", "--epochs", "1", "--batch-size", "2", "--channels", "4,8,8,8", "--hidden", "8"]  # fmt: skip
    assert main(args) == 0
    record = LearnedRGBExtractor.from_pretrained(out).training
    assert record["command"].startswith("nav3d train-features") and 0.0 <= record["heldout"]["accuracy"] <= 1.0
    assert "per-pixel top-1 accuracy" in capsys.readouterr().out
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(["eval-features", str(out), "--houses", "1", "--frames-per-house", "1"]) == 0
    assert "mean per-class accuracy" in capsys.readouterr().out
    assert main(["eval-features", str(out), "--first-house", str(TRAIN_FIRST_SEED)]) == 2
    assert "training houses" in capsys.readouterr().err
    assert main(["eval-features", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_import_stays_light():
    code = "import sys, perception.learned_rgb, perception.learned_rgb_data, perception.learned_rgb_training; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
