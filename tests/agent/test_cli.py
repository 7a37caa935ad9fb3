"""The nav3d command line: the demo writes a readable rollout; bad arguments give clear errors."""

import json

import imageio.v3 as iio

from agent.cli import main


def test_demo_writes_video_steps_and_metrics(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--task", "pointnav", "--seed", "1", "--size", "32", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["success"] == 1.0
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == metrics["num_steps"] and steps[-1]["action"] == "stop"
    video = iio.imread(out / "video.mp4")
    assert video.shape[0] == len(steps) + 1 and video.shape[-1] == 3


def test_unknown_scene(tmp_path, capsys):
    assert main(["demo", "--scene", "nowhere.glb", "--out", str(tmp_path)]) == 2
    assert "nowhere.glb" in capsys.readouterr().err


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--out", str(blocker / "sub")]) == 2
    assert "--out" in capsys.readouterr().err


def test_episodes_command_writes_splits(tmp_path, capsys):
    assert main(["episodes", "--task", "pointnav", "--houses", "3", "--per-house", "2", "--out", str(tmp_path)]) == 0
    from envs.dataset import load_dataset

    counts = {name: len(load_dataset(tmp_path / f"{name}.json.gz")) for name in ("train", "val", "test")}
    assert sum(counts.values()) == 6 and all(c % 2 == 0 for c in counts.values())


def test_room_landmarks_counts_the_training_split_of_generated_houses(tmp_path, capsys):
    from agent.room_landmarks import RoomLandmarks

    out = tmp_path / "rooms" / "landmarks.json"
    assert main(["room-landmarks", "--houses", "10", "--out", str(out)]) == 0
    table = RoomLandmarks.load(out)
    assert "refrigerator" in table.of("kitchen") and "--houses 10" in table.source and "wrote" in capsys.readouterr().out
    assert main(["room-landmarks", "--houses", "0", "--out", str(out)]) == 2
    assert "--houses" in capsys.readouterr().err
