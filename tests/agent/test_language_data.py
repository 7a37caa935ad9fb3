"""3D-language data: deterministic records and maps, splits by house, answers that match the scene and
parse back, map files that exist and fit, malformed decompositions and bad arguments handled."""

import json
import re

import numpy as np
import pytest

from agent.cli import main
from agent.decomposition import ACTIONS, parse_decomposition
from agent.language_data import TEMPLATE_COUNTS, LanguageDataConfig, scene_records
from agent.language_dataset import SPLITS, read_records, write_dataset
from agent.location_codec import LocationCodec
from agent.scene_maps import ExplorationConfig, SceneFeatures, explore_and_map, exploration_simulator, map_codec
from envs.episode_generator import STRUCTURAL_CATEGORIES
from envs.house import generate_house
from perception.text_encoder import SentenceEncoder

TINY = ExplorationConfig(size=64, views_per_room=2, points=256)
LANGUAGE = LanguageDataConfig(captions=6, qa=20, grounding=6, decompositions=1, min_subgoals=2, max_subgoals=2)
HOUSES = 3  # one per split


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder.from_path()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, encoder):
    out = tmp_path_factory.mktemp("language") / "data"
    summary = write_dataset(out, HOUSES, "pointcloud", seed=0, exploration=TINY, language=LANGUAGE, progress=False, encoder=encoder)
    records = {name: read_records(out / f"{name}.jsonl") for name in SPLITS}
    return out, summary, records


@pytest.fixture(scope="module")
def house0():
    scene = generate_house(0)
    return scene, exploration_simulator(scene, TINY)


def _all(records):
    return [r for name in SPLITS for r in records[name]]


def _half_bin(codec: LocationCodec) -> np.ndarray:
    return codec.bin_size / 2 + 1e-9


def _clamped(codec: LocationCodec, xyz) -> np.ndarray:
    return np.clip(np.asarray(xyz, float), codec.lower, codec.upper)


# ------------------------------------------------------------------------------------------ splits


def test_splits_never_share_a_house(dataset):
    out, summary, records = dataset
    members = {name: set(ids) for name, ids in summary.splits.items()}
    assert all(members[name] for name in SPLITS), "3 houses give every split one"
    assert set.union(*members.values()) == {f"house:{i}" for i in range(HOUSES)}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not members[a] & members[b]
        assert {r["scene_id"] for r in records[a]} <= members[a]
        assert {r["split"] for r in records[a]} == {a}
    header = json.loads((out / "dataset.json").read_text())
    assert header["splits"] == summary.splits and header["construction"] == "pointcloud"
    for name in SPLITS:
        assert sum(header["counts"][name].values()) == len(records[name])
        assert {r["task"] for r in records[name]} == {"caption", "qa", "grounding", "decomposition"}


def test_records_reference_existing_maps_of_matching_dim(dataset):
    out, _, records = dataset
    header = json.loads((out / "dataset.json").read_text())
    assert header["feature_dim"] == 384 and header["points"] == TINY.points
    loaded = {}
    for r in _all(records):
        assert set(r) == {"id", "scene_id", "split", "task", "prompt", "answer", "map", "codec", "meta"}
        path = out / r["map"]
        assert path.is_file(), r["map"]
        if r["map"] not in loaded:
            loaded[r["map"]] = SceneFeatures.load(path)
        features = loaded[r["map"]]
        assert features.scene_id == r["scene_id"] and features.construction == "pointcloud"
        assert features.features.dtype == np.float16 and features.points.dtype == np.float32
        assert features.feature_dim == header["feature_dim"] and 0 < len(features.points) <= TINY.points
        assert r["codec"] == features.codec.to_dict()
        lo, hi = np.asarray(features.codec.lower), np.asarray(features.codec.upper)
        assert (features.points >= lo).all() and (features.points <= hi).all()
    assert len(loaded) == HOUSES
    assert not list(out.rglob(".*.npz")) and not list(out.rglob(".*.jsonl")), "no temporary files left"


def test_resume_reuses_maps_and_rewrites_identical_files(dataset, encoder):
    out, _, _ = dataset
    before = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
    maps_before = {p.name: p.stat().st_mtime_ns for p in (out / "maps").glob("*.npz")}
    summary = write_dataset(out, HOUSES, "pointcloud", seed=0, exploration=TINY, language=LANGUAGE, progress=False, encoder=encoder)
    assert summary.maps_reused == HOUSES and summary.maps_built == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl")} == before
    assert {p.name: p.stat().st_mtime_ns for p in (out / "maps").glob("*.npz")} == maps_before
    with pytest.raises(ValueError, match="other settings"):
        write_dataset(out, HOUSES, "pointcloud", seed=1, exploration=TINY, language=LANGUAGE, progress=False, encoder=encoder)


def test_another_record_seed_writes_new_records_over_the_same_maps(dataset, encoder, tmp_path):
    """``map_seed``: more decompositions over the maps of an existing dataset (``--seed 1 --map-seed 0``)."""
    import dataclasses
    import shutil

    out, _, records = dataset
    more = tmp_path / "more"
    shutil.copytree(out / "maps", more / "maps")
    decompositions = dataclasses.replace(LANGUAGE, captions=0, qa=0, grounding=0, decompositions=3)
    summary = write_dataset(more, HOUSES, "pointcloud", seed=1, map_seed=0, exploration=TINY, language=decompositions, progress=False, encoder=encoder)
    assert summary.maps_reused == HOUSES and summary.maps_built == 0
    new = read_records(more / "train.jsonl")
    assert len(new) == 3 * len(summary.splits["train"]) and {r["task"] for r in new} == {"decomposition"}
    assert {r["prompt"] for r in new} != {r["prompt"] for r in records["train"] if r["task"] == "decomposition"}
    header = json.loads((more / "dataset.json").read_text())
    assert header["seed"] == 1 and header["map_seed"] == 0
    with pytest.raises(ValueError, match="other settings"):
        write_dataset(more, HOUSES, "pointcloud", seed=1, exploration=TINY, language=decompositions, progress=False, encoder=encoder)


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_records(house0):
    scene, sim = house0
    codec = map_codec(scene.vertices)
    config = LanguageDataConfig(captions=5, qa=12, grounding=5, decompositions=1, min_subgoals=2, max_subgoals=2)
    a = scene_records(scene, sim, codec, 3, config, split="train", map_path="maps/house_0.npz")
    b = scene_records(scene, sim, codec, 3, config, split="train", map_path="maps/house_0.npz")
    assert json.dumps(a) == json.dumps(b)
    assert len({r["id"] for r in a}) == len(a)
    c = scene_records(scene, sim, codec, 4, LanguageDataConfig(captions=5, qa=12, grounding=5, decompositions=0))
    assert [r["prompt"] for r in c] != [r["prompt"] for r in a if r["task"] != "decomposition"]


def test_exploration_map_is_deterministic_and_round_trips(house0, encoder, tmp_path):
    scene, sim = house0
    config = ExplorationConfig(size=64, views_per_room=2, max_frames=6, points=128)
    a = explore_and_map(scene, "pointcloud", config, seed=1, encoder=encoder, simulator=sim)
    b = explore_and_map(scene, "pointcloud", config, seed=1, encoder=encoder, simulator=sim)
    assert a.info["frames"] == 6 and a.points.shape == (128, 3) and a.features.shape == (128, 384)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.features, b.features) and a.codec == b.codec
    loaded = SceneFeatures.load(a.save(tmp_path / "m.npz"))
    assert np.array_equal(loaded.points, a.points) and np.array_equal(loaded.features, a.features)
    assert loaded.codec == a.codec and loaded.info["seed"] == 1


def test_multiview_construction_gives_image_tokens_in_the_codec_box(house0, encoder):
    scene, sim = house0
    config = ExplorationConfig(size=64, views_per_room=2, max_frames=6, points=128)
    tokens = explore_and_map(scene, "multiview", config, seed=1, encoder=encoder, simulator=sim)
    reference = explore_and_map(scene, "pointcloud", config, seed=1, encoder=encoder, simulator=sim)
    assert tokens.construction == "multiview" and tokens.points.shape == (128, 3) and tokens.features.shape == (128, 384)
    assert tokens.info["map_points"] == 6 * 25  # 6 frames of 5 x 5 patches
    assert tokens.codec == reference.codec  # the same depth, so the same location frame
    assert (tokens.points >= np.asarray(tokens.codec.lower)).all() and (tokens.points <= np.asarray(tokens.codec.upper)).all()


@pytest.mark.usefixtures("one_torch_thread")
def test_neural_construction_gives_features(house0, encoder):
    scene, sim = house0
    config = ExplorationConfig(size=64, views_per_room=1, max_frames=2, points=64)
    f = explore_and_map(scene, "neural", config, seed=0, encoder=encoder, simulator=sim)
    assert f.construction == "neural" and f.points.shape == (64, 3) and f.features.shape == (64, 384)
    assert np.isfinite(f.features.astype(np.float32)).all() and np.abs(f.features.astype(np.float32)).sum() > 0


# ------------------------------------------------------------------------------------------ answers


def test_decompositions_parse_back_to_their_steps(dataset):
    _, _, records = dataset
    decompositions = [r for r in _all(records) if r["task"] == "decomposition"]
    assert len(decompositions) == HOUSES
    for r in decompositions:
        codec = LocationCodec.from_dict(r["codec"])
        steps = parse_decomposition(r["answer"], codec)
        assert steps.ok, steps.problems
        truth = r["meta"]["steps"]
        assert len(steps) == len(truth) == 2
        for k, (step, t) in enumerate(zip(steps, truth), start=1):
            assert step.index == k and step.action in ACTIONS
            assert (step.action, step.target) == (t["action"], t["target"])
            assert t["target"].split()[-1] in r["prompt"], "each step names a subgoal of the instruction"
            assert np.all(np.abs(step.waypoint - _clamped(codec, t["waypoint"])) <= _half_bin(codec))
        start = codec.decode_point(re.findall(r"<loc\d+>", r["prompt"])[:3])
        assert np.all(np.abs(start - _clamped(codec, r["meta"]["start"])) <= _half_bin(codec))


def test_grounding_boxes_round_trip(dataset):
    _, _, records = dataset
    grounding = [r for r in _all(records) if r["task"] == "grounding"]
    assert {r["meta"]["kind"] for r in grounding} == {"object", "room"}
    for r in grounding:
        codec = LocationCodec.from_dict(r["codec"])
        box = codec.decode_box(r["answer"])
        truth = np.concatenate([_clamped(codec, r["meta"]["box"][:3]), _clamped(codec, r["meta"]["box"][3:])])
        assert np.all(np.abs(box - truth) <= np.tile(_half_bin(codec), 2))


def test_qa_answers_match_the_scene(dataset):
    _, _, records = dataset
    scenes = {i: generate_house(i) for i in range(HOUSES)}
    seen = set()
    for r in _all(records):
        if r["task"] != "qa":
            continue
        m = r["meta"]
        scene = scenes[int(r["scene_id"].split(":")[1])]
        objs = [o for o in scene.objects.values() if o.category not in STRUCTURAL_CATEGORIES]
        if m.get("room") is not None and m["qa_type"] in ("existence", "counting"):
            objs = [o for o in objs if o.region == m["room"]]
        kind = m["qa_type"]
        seen.add(kind if kind != "existence" else f"existence/{m['present']}")
        if kind == "counting":
            assert int(r["answer"]) == sum(o.category == m["category"] for o in objs) >= 1
        elif kind == "existence":
            present = any(o.category == m["category"] for o in objs)
            assert r["answer"] == ("yes" if present else "no") and m["present"] == present
            if m["scope"] == "house" and not present:
                assert m["category"] not in scene.categories
        elif kind == "color":
            assert r["answer"] == scene.objects[m["instance_ids"][0]].color
        elif kind == "room":
            assert r["answer"] == scene.objects[m["instance_ids"][0]].region
        elif kind == "support":
            below = scene.objects[m["answer_ids"][0]]
            obj = scene.objects[m["instance_ids"][0]]
            assert r["answer"] == below.category and obj.bbox_min[1] <= below.bbox_max[1] + 0.02
        elif kind == "side":
            assert r["answer"] in ("left", "right")
    assert {"counting", "existence/True", "existence/False", "color", "room"} <= seen


def test_templates_per_intent():
    assert all(n >= 3 for n in TEMPLATE_COUNTS.values())


# ------------------------------------------------------------------------------------------ parser


@pytest.mark.parametrize(
    "text, steps, problem",
    [
        ("", 0, "no numbered step"),
        ("go to the kitchen", 0, "no numbered step"),
        ("1. go to the kitchen <loc1><loc2>", 1, "2 location tokens"),
        ("1. fly to the moon <loc1><loc2><loc3>", 1, "no known action"),
        ("1. find the mug <loc99><loc1><loc2><loc3>", 1, "outside the codec"),
        ("1. find the <locx> mug <loc1><loc2><loc3> 2.", 2, "malformed"),
        ("plan: 1. go to the kitchen <loc1><loc2><loc3> 3. find the mug <loc1><loc2><loc3>", 2, "numbered 3"),
        ("1. go to the <loc1><loc2><loc3>", 1, "no target"),
    ],
)
def test_parser_reports_malformed_text(text, steps, problem):
    codec = LocationCodec((0, 0, 0), (8, 8, 8), bins=64)
    parsed = parse_decomposition(text, codec)
    assert len(parsed) == steps and not parsed.ok
    assert any(problem in p for p in parsed.problems), parsed.problems


def test_parser_reads_loose_but_valid_text():
    codec = LocationCodec((0, 0, 0), (6.4, 6.4, 6.4), bins=64)
    parsed = parse_decomposition("1. Go to the Kitchen <loc1><loc2><loc3>.\n2) find the red mug<loc4><loc5><loc6>", codec)
    assert parsed.ok, parsed.problems
    assert [(s.index, s.action, s.target, s.bins) for s in parsed] == [(1, "go to", "kitchen", (1, 2, 3)), (2, "find", "red mug", (4, 5, 6))]
    assert np.allclose(parsed[1].waypoint, [0.45, 0.55, 0.65])
    assert parse_decomposition(None, codec).problems and parse_decomposition("1. find the mug <loc1><loc2><loc3>").problems


# ------------------------------------------------------------------------------------------ errors


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown map construction 'voxels'.*neural"):
        write_dataset(tmp_path / "a", 2, "voxels", progress=False)
    with pytest.raises(ValueError, match="houses must be >= 1"):
        write_dataset(tmp_path / "b", 0, "pointcloud", progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="output folder"):
        write_dataset(blocker / "sub", 1, "pointcloud", progress=False)
    with pytest.raises(ValueError, match="views_per_room"):
        ExplorationConfig(views_per_room=0)
    assert main(["language-data", "--out", str(tmp_path / "c"), "--houses", "0"]) == 2
    assert "--houses" in capsys.readouterr().err
    assert main(["language-data", "--out", str(blocker / "sub"), "--houses", "1"]) == 2
    assert "output folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["language-data", "--out", str(tmp_path / "d"), "--construction", "voxels"])


def test_cli_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["language-data", "--out", str(out), "--houses", "1", "--first-house", "5", "--construction", "pointcloud", "--size", "32",
            "--views-per-room", "1", "--points", "64", "--per-house", "2", "--decompositions", "0", "--bounds", "-10", "-1", "-10", "10", "3", "10"]
    assert main(args) == 0
    records = read_records(out / "train.jsonl")
    assert all(r["codec"] == {"lower": [-10.0, -1.0, -10.0], "upper": [10.0, 3.0, 10.0], "bins": 64} for r in records)
    assert {r["scene_id"] for r in records} == {"house:5"} and (out / "maps" / "house_5.npz").is_file()
    assert {r["task"] for r in records} == {"caption", "qa", "grounding"} and "train: 1 houses" in capsys.readouterr().out
