"""nav3d eval and nav3d language-data on a local Ray instance give what the local paths give."""

import json
import sys

import numpy as np
import pytest

from agent.episode_eval import evaluate_episodes, read_results
from agent.language_dataset import SPLITS, write_dataset
from agent.scene_maps import SceneFeatures
from tests.agent.test_episode_eval import FAST
from tests.agent.test_language_data import LANGUAGE, TINY

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TIMINGS = ("plan_latency_s", "wall_time_s", "steps_per_s")
"""Per-episode measures that are seconds, so differ between any two runs."""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three one-subgoal episodes in house 1 (the Ray run gets two: its actor keeps the scene loaded)."""
    from envs.dataset import save_dataset
    from envs.embedded import EmbeddedSimulator
    from envs.episode_generator import EpisodeGenerator, InstructionConfig
    from envs.house import generate_house

    sim = EmbeddedSimulator(generate_house(1))
    episodes = EpisodeGenerator(sim, scene_id="house:1").instruction_episodes(3, np.random.default_rng(3), InstructionConfig(min_subgoals=1, max_subgoals=1))
    sim.close()
    return save_dataset(episodes, tmp_path_factory.mktemp("eps") / "three.json.gz")


def _untimed(row: dict) -> dict:
    """A result row without its timings and stamp (the code version is the same, the rest too)."""
    metrics = {k: v for k, v in row["metrics"].items() if k not in TIMINGS and not (k.startswith("time_") and k.endswith("_s"))}
    return {**{k: v for k, v in row.items() if k != "stamp"}, "metrics": metrics}


def test_eval_on_ray_gives_the_local_metrics_and_resumes(local_ray, dataset, tmp_path):
    local = evaluate_episodes(dataset, tmp_path / "local", FAST, progress=False)
    expected = {r["episode_id"]: r for r in read_results(tmp_path / "local" / "results.jsonl")[0]}
    first = (tmp_path / "local" / "results.jsonl").read_text().splitlines()[0]
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "results.jsonl").write_text(first + "\n")  # finished before: skipped
    summary = evaluate_episodes(dataset, tmp_path / "ray", FAST, progress=False, ray=True)  # one actor, the two others in its kept scene
    rows = {r["episode_id"]: r for r in read_results(tmp_path / "ray" / "results.jsonl")[0]}
    assert len(rows) == 3 and rows.keys() == expected.keys()
    for episode_id, row in rows.items():
        assert _untimed(row) == _untimed(expected[episode_id])
        assert row["stamp"] == expected[episode_id]["stamp"]
    assert summary["success"] == local["success"] and summary["spl"] == local["spl"]
    assert len(list((tmp_path / "ray" / "trajectories").iterdir())) == 2


def test_language_data_on_ray_writes_the_local_files(local_ray, tmp_path):
    from perception.text_encoder import shared_encoder

    local = write_dataset(tmp_path / "local", [2], "pointcloud", seed=0, exploration=TINY, language=LANGUAGE, progress=False, encoder=shared_encoder())
    remote = write_dataset(tmp_path / "ray", [2], "pointcloud", seed=0, exploration=TINY, language=LANGUAGE, progress=False, ray=True)
    assert remote.counts == local.counts and remote.maps_built == 1
    for name in SPLITS:
        assert (tmp_path / "ray" / f"{name}.jsonl").read_bytes() == (tmp_path / "local" / f"{name}.jsonl").read_bytes()
    for path in (tmp_path / "local" / "maps").iterdir():
        a, b = SceneFeatures.load(path), SceneFeatures.load(tmp_path / "ray" / "maps" / path.name)
        assert np.array_equal(a.points, b.points) and np.array_equal(a.features, b.features) and a.codec.to_dict() == b.codec.to_dict()
        assert {k: v for k, v in a.info.items() if k != "seconds"} == {k: v for k, v in b.info.items() if k != "seconds"}
    headers = [json.loads((tmp_path / run / "dataset.json").read_text()) for run in ("local", "ray")]
    for header in headers:
        header.pop("seconds")
        for info in header["maps"].values():
            info.pop("seconds"), info.pop("map_seconds")
    assert headers[0] == headers[1]


def test_a_bad_ray_address_is_a_clear_error(tmp_path, dataset, capsys):
    from agent.cli import main
    from agent.scale import check_address

    with pytest.raises(ValueError, match="not a Ray address"):
        check_address("no-port")
    with pytest.raises(ConnectionError, match="127.0.0.1:9.*ray start --head"):
        check_address("127.0.0.1:9")
    assert main(["eval", str(dataset), "--out", str(tmp_path / "o"), "--ray", "127.0.0.1:9"]) == 2
    assert "no Ray cluster answers at '127.0.0.1:9'" in capsys.readouterr().err


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    from agent.scale import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[scale\]'"):
        connect(True)
