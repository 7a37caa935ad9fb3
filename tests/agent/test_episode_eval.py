"""nav3d eval: per-episode results that resume without duplicates, a summary, and clear errors."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from agent.cli import main
from agent.episode_eval import EpisodeEvalConfig, evaluate_episodes, read_results
from envs.dataset import save_dataset
from envs.embedded import EmbeddedSimulator
from envs.episode_generator import EpisodeGenerator, InstructionConfig
from envs.house import generate_house

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = EpisodeEvalConfig(planner="oracle", policy="oracle", construction="pointcloud", size=48, max_steps=200, explore_steps=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    sim = EmbeddedSimulator(generate_house(1))
    generator = EpisodeGenerator(sim, scene_id="house:1")
    config = InstructionConfig(min_subgoals=1, max_subgoals=1)
    episodes = generator.instruction_episodes(2, np.random.default_rng(3), config)
    sim.close()
    return save_dataset(episodes, tmp_path_factory.mktemp("eps") / "test.json.gz")


def test_eval_resumes_without_duplicates_and_drops_a_half_written_line(dataset, tmp_path):
    out = tmp_path / "eval"
    first = evaluate_episodes(dataset, out, FAST, limit=1, progress=False, record=tmp_path / "rollouts")
    assert first["episodes"] == 1
    (rollout,) = (tmp_path / "rollouts").iterdir()
    assert {p.name for p in rollout.iterdir()} >= {"video.mp4", "steps.jsonl", "plan.json", "metrics.json"}
    assert iio.imread(next((out / "trajectories").iterdir())).shape == (256, 256, 3)
    with open(out / "results.jsonl", "a") as f:
        f.write('{"episode_id": "house:1:cut sh')  # a crash mid-write
    summary = evaluate_episodes(dataset, out, FAST, progress=False)
    rows, broken = read_results(out / "results.jsonl")
    assert not broken and len(rows) == 2 and len({r["episode_id"] for r in rows}) == 2
    assert summary["episodes"] == 2 and summary["success_by_subgoals"]["1"]["episodes"] == 2
    stamp = rows[0]["stamp"]
    assert stamp["config"] == FAST.to_dict() and "git_commit" in stamp["code"] and stamp["dataset"].endswith("test.json.gz")
    assert stamp["point_dtype"] in ("float32", "bfloat16")
    assert rows[0]["decomposition"]["keys_exact"] and summary["decomposition_keys_exact"] == 1.0
    # a third run has nothing left to do and keeps the results
    again = evaluate_episodes(dataset, out, FAST, progress=False)
    assert again["episodes"] == 2 and len(read_results(out / "results.jsonl")[0]) == 2
    assert json.loads((out / "summary.json").read_text())["episodes"] == 2
    assert "success with 1 subgoal" in (out / "summary.md").read_text()
    assert iio.imread(out / "success_by_subgoals.png").ndim == 3


def test_a_broken_line_before_the_last_is_reported(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"episode_id": "a"}\nnot json\n{"episode_id": "b"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_results(path)


def test_eval_errors_are_clear(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown planner"):
        EpisodeEvalConfig(planner="gpt")
    with pytest.raises(ValueError, match="workers"):
        EpisodeEvalConfig(workers=0)
    assert main(["eval", str(tmp_path / "none.json.gz"), "--out", str(tmp_path / "o")]) == 2
    assert "none.json.gz" in capsys.readouterr().err
    sim = EmbeddedSimulator(generate_house(1))
    pointnav = EpisodeGenerator(sim, scene_id="house:1").pointnav_episodes(1, np.random.default_rng(0))
    sim.close()
    path = save_dataset(pointnav, tmp_path / "pointnav.json.gz")
    assert main(["eval", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "instruction" in capsys.readouterr().err
