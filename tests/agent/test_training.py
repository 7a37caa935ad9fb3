"""Training the 3D-LLM: the loss falls on a fixed set, checkpoints load and resume exactly where an
uninterrupted run would be, the data order is seeded, bad inputs give clear errors, and ``nav3d train``."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from agent import training
from agent.cli import main
from agent.language_data import LanguageDataConfig
from agent.language_dataset import read_records, write_dataset
from agent.llm3d import ThreeDLLM
from agent.scene_encoder import codec_bounds
from agent.location_codec import LocationCodec
from agent.training import CHECKPOINT_DIR, LOG_FILE, PHRASE_SCALE, TrainConfig, learning_rate, read_trainer_state, sample_indices, train
from agent.scene_maps import ExplorationConfig
from perception.text_encoder import SentenceEncoder

TINY = ExplorationConfig(size=64, views_per_room=2, points=256)
LANGUAGE = LanguageDataConfig(captions=4, qa=8, grounding=4, decompositions=1, min_subgoals=2, max_subgoals=2)
FIXED = 8  # records of the fixed training set


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two houses (house:0 in train, house:1 in val), pointcloud maps of 256 points."""
    out = tmp_path_factory.mktemp("train") / "data"
    write_dataset(out, 2, "pointcloud", seed=0, exploration=TINY, language=LANGUAGE, progress=False, encoder=SentenceEncoder.from_path())
    assert read_records(out / "train.jsonl") and read_records(out / "val.jsonl")
    return out


@pytest.fixture(scope="module")
def fixed(dataset, tmp_path_factory):
    """The first FIXED training records (one of each task at least), with the same maps and val split."""
    out = tmp_path_factory.mktemp("fixed") / "data"
    shutil.copytree(dataset, out)
    records = read_records(dataset / "train.jsonl")
    chosen = [r for task in ("caption", "qa", "grounding", "decomposition") for r in records if r["task"] == task][:2]
    chosen += [r for r in records if r not in chosen][: FIXED - len(chosen)]
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return out


def _config(data, out, **kwargs) -> TrainConfig:
    settings = dict(steps=30, batch_size=FIXED, lr=5e-3, warmup=3, eval_every=10, checkpoint_every=10, log_every=1, preset="tiny", progress=False)
    settings.update(kwargs)
    return TrainConfig(data, out, **settings)


@pytest.fixture(scope="module")
def trained(fixed, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    return train(_config(fixed, out)), out


def test_loss_falls_on_a_fixed_set(trained):
    summary, out = trained
    losses = summary.losses
    assert summary.start_step == 0 and summary.step == 30 and len(losses) == 30
    # bound: on 8 memorisable records the tiny model's mean loss over the last 5 steps is < 0.6 x the first 5
    # (measured: 0.37 with seed 0)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
    assert summary.val_loss is not None and np.isfinite(summary.val_loss)
    assert summary.tokens_per_s > 0 and summary.steps_per_s > 0
    log = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    train_lines = [e for e in log if "loss" in e]
    assert [e["step"] for e in train_lines] == list(range(1, 31))
    assert all({"lr", "tokens_per_s"} <= set(e) for e in train_lines)
    assert [e["step"] for e in log if "val_loss" in e] == [10, 20, 30]
    assert (out / "tokenizer").is_dir()


def test_checkpoint_loads_and_generates(trained, fixed):
    summary, out = trained
    assert summary.checkpoint == out / CHECKPOINT_DIR
    state = read_trainer_state(summary.checkpoint)
    assert state["step"] == 30 and state["config"]["seed"] == 0
    model = ThreeDLLM.from_pretrained(summary.checkpoint, feature_dim=384)
    assert model.config.encoder.feature_dim == 384 and model.config.bins == 64
    record = read_records(fixed / "train.jsonl")[0]
    with np.load(fixed / record["map"]) as data:
        points = torch.as_tensor(data["points"])[None]  # (1, N, 3)
        features = torch.as_tensor(data["features"].astype(np.float32))[None]  # (1, N, C)
    bounds = codec_bounds([LocationCodec.from_dict(record["codec"])])
    texts = model.generate(points, features, None, [record["prompt"]], max_new_tokens=8, bounds=bounds)
    assert len(texts) == 1 and isinstance(texts[0], str)
    assert not list(out.glob(".*")), "no temporary folders left"


def test_resume_continues_and_matches_an_uninterrupted_run(trained, fixed, tmp_path):
    full, _ = trained
    out = tmp_path / "out"
    first = train(_config(fixed, out, stop_at=14))  # checkpoints at 10 and at the stop (14)
    assert first.step == 14 and read_trainer_state(out / CHECKPOINT_DIR)["step"] == 14
    assert np.allclose(first.losses, full.losses[:14], rtol=1e-5, atol=1e-6)
    with open(out / LOG_FILE, "a") as log:  # what a crash after the checkpoint leaves: later steps, a cut line
        log.write(json.dumps({"step": 15, "loss": 9.0}) + "\n" + '{"step": 16, "lo')
    second = train(_config(fixed, out, resume=True))
    assert second.start_step == 14 and second.step == 30 and len(second.losses) == 16
    assert np.allclose(second.losses, full.losses[14:], rtol=1e-4, atol=1e-5), (second.losses, full.losses[14:])
    assert second.val_loss == pytest.approx(full.val_loss, rel=1e-4)
    log = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == list(range(1, 31)), "each step logged once"
    # resuming a finished run does nothing
    again = train(_config(fixed, out, resume=True))
    assert again.start_step == again.step == 30 and again.losses == []


def test_a_failed_checkpoint_write_keeps_the_previous_one(trained, tmp_path, monkeypatch):
    _, done = trained
    out = tmp_path / "copy"
    shutil.copytree(done, out)
    folder = out / CHECKPOINT_DIR
    before = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    model = ThreeDLLM.from_pretrained(folder)
    optimizer = torch.optim.AdamW(model.parameters())

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(training.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        training.save_checkpoint(folder, model, optimizer, {"format": "x", "step": 99})
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not list(out.glob(".*")), "no temporary folders left"


def test_bf16_autocast_path_trains(fixed, tmp_path):
    # the "gpu" preset's bf16 autocast, exercised on the CPU with the tiny model
    summary = train(_config(fixed, tmp_path / "bf16", steps=3, bf16=True, eval_every=0, checkpoint_every=0))
    assert summary.step == 3 and all(np.isfinite(summary.losses)) and np.isfinite(summary.val_loss)
    model = ThreeDLLM.from_pretrained(summary.checkpoint)
    assert model.encoder.queries.dtype == torch.float32, "weights stay float32 under autocast"


def test_data_order_and_schedule_are_pure_functions_of_seed_and_step():
    stream = sample_indices(3, 5, 0, 12)
    assert sorted(stream[:5]) == list(range(5)) and sorted(stream[5:10]) == list(range(5))
    assert sample_indices(3, 5, 4, 6) == stream[4:10]
    assert sample_indices(4, 5, 0, 12) != stream
    config = TrainConfig("d", "o", steps=100, lr=1e-3, warmup=10, min_lr_ratio=0.1)
    assert learning_rate(config, 0) == pytest.approx(1e-4) and learning_rate(config, 9) == pytest.approx(1e-3)
    assert learning_rate(config, 100) == pytest.approx(1e-4) and learning_rate(config, 55) == pytest.approx(5.5e-4)


def test_bad_inputs_give_clear_errors(fixed, trained, tmp_path):
    _, done = trained
    with pytest.raises(FileNotFoundError, match="does not exist.*language-data"):
        train(_config(tmp_path / "nowhere", tmp_path / "o1"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no train.jsonl"):
        train(_config(empty, tmp_path / "o2"))
    broken = tmp_path / "broken"
    shutil.copytree(fixed, broken)
    (broken / "maps" / "house_0.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"map file\(s\) that do not exist: maps/house_0.npz"):
        train(_config(broken, tmp_path / "o3"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="cannot be created"):
        train(_config(fixed, blocker / "out"))
    with pytest.raises(ValueError, match="already exists; pass --resume"):
        train(_config(fixed, done))
    with pytest.raises(ValueError, match="seed: checkpoint 0, now 1"):
        train(_config(fixed, done, resume=True, seed=1))
    # the same records with 100-channel features cannot continue a 384-channel checkpoint
    narrow = tmp_path / "narrow"
    shutil.copytree(fixed, narrow)
    for path in (narrow / "maps").glob("*.npz"):
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["features"] = arrays["features"][:, :100]
        np.savez_compressed(path, **arrays)
    resumed = tmp_path / "resumed"
    shutil.copytree(done, resumed)
    with pytest.raises(ValueError, match=r"384-channel features but feature_dim=100"):
        train(_config(narrow, resumed, resume=True, steps=31))
    with pytest.raises(ValueError, match="preset must be one of"):
        TrainConfig(fixed, tmp_path, preset="huge")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        TrainConfig(fixed, tmp_path, batch_size=0)


def test_cli_train(fixed, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--data", str(fixed), "--out", str(out), "--preset", "tiny", "--steps", "3", "--batch-size", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trained steps 0..3 of 3" in printed and "tokens/s" in printed
    assert read_trainer_state(out / CHECKPOINT_DIR)["step"] == 3
    assert main(["train", "--data", str(fixed), "--out", str(out), "--preset", "tiny", "--steps", "5", "--batch-size", "4", "--resume", "--no-progress"]) == 0
    assert "trained steps 3..5 of 5" in capsys.readouterr().out
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "nav3d train: error: data folder" in capsys.readouterr().err


class _MapStub:
    """A FeatureMap stand-in over a dataset's map file (what ThreeDLLMPlanner reads of a map)."""

    def __init__(self, path) -> None:
        with np.load(path) as data:
            self.points, self.features = data["points"].astype(np.float64), data["features"].astype(np.float32)

    def bounds(self):
        return np.stack([self.points.min(0), self.points.max(0)])

    def points_and_features(self, n):
        return self.points[:n], self.features[:n]


def test_numbers_waypoint_format_trains_plans_and_is_scored(fixed, tmp_path):
    """The ablation of location tokens: a few steps with locations as text numbers, then the checkpoint
    plans and is scored by eval-planner in that format (and perfect numbers answers score as tokens do)."""
    from agent.planner import ThreeDLLMPlanner
    from agent.planner_eval import EvalConfig, evaluate_planner
    from agent.training import LanguageRecords

    out = tmp_path / "numbers"
    summary = train(_config(fixed, out, steps=3, eval_every=0, checkpoint_every=0, waypoint_format="numbers"))
    state = read_trainer_state(summary.checkpoint)
    assert state["config"]["waypoint_format"] == "numbers" and state["config"]["location_head"] == "lm"
    model = ThreeDLLM.from_pretrained(summary.checkpoint)
    assert model.pointer is None and model.config.map_data["waypoint_format"] == "numbers"
    val = LanguageRecords(fixed, "val", waypoint_format="numbers")
    assert not any("<loc" in t for t in val.texts()) and any("(" in s.answer for s in val.samples)
    with pytest.raises(ValueError, match="waypoint_format: checkpoint 'numbers', now 'tokens'"):
        train(_config(fixed, out, steps=4, resume=True, location_head="lm"))

    record = next(r for r in read_records(fixed / "val.jsonl") if r["task"] == "decomposition")
    planner = ThreeDLLMPlanner(model, points=256, max_new_tokens=24)
    start = np.asarray(record["meta"]["start"]) if "start" in (record.get("meta") or {}) else np.zeros(3)
    plan = planner.plan(_MapStub(fixed / record["map"]), "find the red mug", start)
    assert not planner.constrain_locations and "<loc" not in plan.prompt and "(" in plan.prompt
    assert "<loc" not in plan.raw_text

    budgets = {"decomposition": 24, "grounding": 16, "qa": 8, "caption": 8}
    result = evaluate_planner(out, fixed, split="val", tasks=("decomposition", "grounding"), max_records=2, progress=False,
                              config=EvalConfig(max_new_tokens=budgets), out_dir=tmp_path / "eval")
    assert result["config"]["waypoint_format"] == "numbers" and result["tasks"]["decomposition"]["records"] >= 1
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert rows and not any("<loc" in r["prediction"] for r in rows)

    answers = {s.prompt: s.answer for s in val.samples}

    class Perfect:  # answers every prompt with its reference, written as numbers
        config = model.config

        def generate(self, points, features, mask, prompts, **kwargs):
            assert "grammar" not in kwargs and not kwargs["constrain_locations"]
            return [answers[p] for p in prompts]

    perfect = evaluate_planner(Perfect(), fixed, split="val", tasks=("decomposition", "grounding"), progress=False)["tasks"]
    assert perfect["decomposition"]["step_key_accuracy"] == 1.0
    assert perfect["decomposition"]["waypoint_error_median"] <= perfect["decomposition"]["reference_quantisation_median"] + 0.05 + 1e-9
    assert perfect["grounding"]["acc@0.5"] == 1.0


def test_a_checkpoint_from_before_the_waypoint_format_resumes_as_tokens(fixed, tmp_path):
    out = tmp_path / "old"
    first = train(_config(fixed, out, steps=2, eval_every=0, checkpoint_every=0))
    path = first.checkpoint / training.STATE_FILE
    state = json.loads(path.read_text())
    del state["config"]["waypoint_format"]  # written before the setting existed
    path.write_text(json.dumps(state))
    assert train(_config(fixed, out, steps=3, eval_every=0, checkpoint_every=0, resume=True)).step == 3


def test_phrase_pointer_trains_saves_and_plans(dataset, tmp_path):
    """The phrase prior's scale is learned and saved; the saved model plans with the shared sentence encoder."""
    from agent.planner import ThreeDLLMPlanner

    assert any("<loc" in r["answer"] for r in read_records(dataset / "train.jsonl"))
    summary = train(_config(dataset, tmp_path / "phrase", steps=3, batch_size=32, eval_every=0, checkpoint_every=0, location_head="phrase-pointer"))
    assert all(math.isfinite(x) for x in summary.losses)
    model = ThreeDLLM.from_pretrained(summary.checkpoint)
    assert model.pointer.uses_phrases and model.config.pointer.condition_on == "x"
    assert model.pointer.log_phrase_scale.exp().item() != pytest.approx(PHRASE_SCALE, abs=1e-7)  # it moved
    record = next(r for r in read_records(dataset / "val.jsonl") if r["task"] == "decomposition")
    plan = ThreeDLLMPlanner(model, points=256, max_new_tokens=24).plan(_MapStub(dataset / record["map"]), "find the red mug", np.zeros(3))
    assert isinstance(plan.raw_text, str) and plan.steps is not None


def test_init_from_starts_at_the_saved_weights(trained, fixed, tmp_path):
    """--init-from (fine-tuning): the run starts from the saved model, architecture and tokenizer included."""
    source = trained[0].checkpoint
    before = ThreeDLLM.from_pretrained(source)
    summary = train(_config(fixed, tmp_path / "tuned", steps=1, lr=1e-12, warmup=0, eval_every=0, checkpoint_every=0, init_from=str(source)))
    after = ThreeDLLM.from_pretrained(summary.checkpoint)
    assert after.tokenizer.get_vocab() == before.tokenizer.get_vocab()
    for (name, a), (_, b) in zip(before.state_dict().items(), after.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert read_trainer_state(summary.checkpoint)["config"]["init_from"] == str(source)
    with pytest.raises(FileNotFoundError, match="no ThreeDLLM there"):
        train(_config(fixed, tmp_path / "none", steps=1, init_from=str(tmp_path / "missing")))


def test_pointer_target_loss_is_logged_and_falls(dataset, tmp_path):
    """--pointer-target-weight: decomposition records carry their steps' extents (grounding records
    their boxes), and training the pointer on them raises its weight on each step's own points."""
    data = tmp_path / "data"  # house:1's records to train on: the tiny map of house:0 misses its steps' objects
    shutil.copytree(dataset, data)
    shutil.copy(dataset / "val.jsonl", data / "train.jsonl")
    steps = [s for r in read_records(data / "train.jsonl") if r["task"] == "decomposition" for s in r["meta"]["steps"]]
    assert steps and all("extent" in s for s in steps)
    records = training.LanguageRecords(data, "train")
    grounding = [s for s, r in zip(records.samples, read_records(data / "train.jsonl")) if r["task"] == "grounding"]
    assert grounding and all(s.step_masks.shape == (2, len(s.points)) for s in grounding)  # one target per corner
    summary = train(_config(data, tmp_path / "targets", steps=25, batch_size=32, eval_every=0, checkpoint_every=0, pointer_target_weight=1.0))
    log = [json.loads(line) for line in summary.log.read_text().splitlines()]
    pointer = [e["pointer_loss"] for e in log if "pointer_loss" in e]
    assert len(pointer) == 25
    assert np.mean(pointer[-5:]) < 0.5 * np.mean(pointer[:5])
    plain = train(_config(data, tmp_path / "plain", steps=2, batch_size=32, eval_every=0, checkpoint_every=0))
    assert not any("pointer_loss" in json.loads(line) for line in plain.log.read_text().splitlines())


def test_multiview_data_needs_the_lm_location_head():
    codec = LocationCodec((-5.0, 0.0, -5.0), (5.0, 3.0, 5.0), 16)
    map_data = {"construction": "multiview", "points": 256}
    config = training.model_config("tiny", 384, codec, map_data=map_data, location_head="lm")
    assert config.pointer is None and config.map_data["construction"] == "multiview"
    for head in ("pointer", "phrase-pointer"):
        with pytest.raises(ValueError, match="image tokens, not world points.*--location-head lm"):
            training.model_config("tiny", 384, codec, map_data=map_data, location_head=head)
