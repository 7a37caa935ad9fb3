"""Episode types and habitat-lab JSON / JSON.gz dataset IO."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from envs.dataset import DatasetError, load_dataset, read_dataset, save_dataset
from envs.episodes import (
    AgentState,
    FieldError,
    InstructionEpisode,
    NavigationGoal,
    ObjectGoal,
    ObjectNavEpisode,
    ObjectViewLocation,
    PointNavEpisode,
    Subgoal,
)

# habitat-lab's attribute names (NavigationEpisode / ObjectGoalNavEpisode, ObjectGoal, ObjectViewLocation)
HABITAT_EPISODE_KEYS = {
    "episode_id", "scene_id", "scene_dataset_config", "additional_obj_config_paths", "start_position",
    "start_rotation", "info", "goals", "start_room", "shortest_paths", "object_category",
}
HABITAT_OBJECT_GOAL_KEYS = {
    "position", "radius", "object_id", "object_name", "object_name_id", "object_category", "room_id", "room_name", "view_points",
}


def make_pointnav(i: int = 0) -> PointNavEpisode:
    return PointNavEpisode(
        episode_id=str(i),
        scene_id="house:3",
        start_position=np.array([1.0, 0.0, 2.5 + i]),
        start_rotation=[0.0, 0.38268343236508984, 0.0, 0.9238795325112867],
        goals=[NavigationGoal([4.25, 0.0, -1.0 / 3.0], 0.2)],
        info={"geodesic_distance": 6.125 + i},
    )


def make_object_goal(object_id: int, category: str = "chair") -> ObjectGoal:
    vps = (
        ObjectViewLocation(AgentState([1.0, 0.0, 2.0], [0.0, 0.7071067811865476, 0.0, 0.7071067811865476]), 0.25),
        ObjectViewLocation(AgentState([1.1, 0.0, 2.0], [0.0, 0.0, 0.0, 1.0]), None),
    )
    return ObjectGoal(position=[1.5, 0.4, 2.5], radius=None, object_id=object_id, object_category=category, view_points=vps, room_name="kitchen")


def make_objectnav(i: int = 0, scene: str = "house:3", category: str = "chair") -> ObjectNavEpisode:
    return ObjectNavEpisode(
        episode_id=f"o{i}",
        scene_id=scene,
        start_position=[0.5, 0.0, 0.5 + i],
        start_rotation=[0, 0, 0, 1],
        object_category=category,
        goals=[make_object_goal(11, category), make_object_goal(12, category)],
        info={"geodesic_distance": 3.0},
    )


def make_instruction(i: int = 0) -> InstructionEpisode:
    room = Subgoal(kind="room", target="kitchen", goals=[NavigationGoal([2.0, 0.0, 2.0]), NavigationGoal([2.5, 0.0, 2.0])], extents=[([1.0, 0.0, 1.0], [3.0, 2.8, 4.0])])
    obj = Subgoal(kind="object", target="mug", color="red", goals=[make_object_goal(20, "mug")])
    return InstructionEpisode(
        episode_id=f"i{i}",
        scene_id="house:3",
        start_position=[0.0, 0.0, 0.0],
        start_rotation=[0, 0, 0, 1],
        instruction="go to the kitchen, then find the red mug",
        subgoals=[room, obj],
        reference_path=[[0, 0, 0], [2, 0, 2], [1, 0, 2]],
        trajectory_id=i,
        info={"geodesic_distance": 4.0},
    )


KINDS = {"pointnav": make_pointnav, "objectnav": make_objectnav, "instruction": make_instruction}


# ------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip(tmp_path, kind, suffix):
    episodes = [KINDS[kind](i) for i in range(3)]
    path = save_dataset(episodes, tmp_path / f"eps{suffix}")
    assert load_dataset(path) == episodes
    if suffix == ".json.gz":
        with gzip.open(path, "rt") as f:
            assert json.load(f)["nav3d_task"] == kind
    # writing what was read gives the same bytes (deterministic, gzip mtime fixed)
    again = save_dataset(load_dataset(path), tmp_path / f"again{suffix}")
    assert again.read_bytes() == path.read_bytes()


def test_objectnav_written_in_habitat_layout(tmp_path):
    episodes = [make_objectnav(0), make_objectnav(1), make_objectnav(2, category="bed"), make_objectnav(3, scene="house:4")]
    path = save_dataset(episodes, tmp_path / "on.json")
    data = json.loads(path.read_text())
    assert data["category_to_task_category_id"] == {"bed": 0, "chair": 1}
    assert data["category_to_scene_annotation_category_id"] == {"bed": 0, "chair": 1}
    assert set(data["goals_by_category"]) == {"house:3_chair", "house:3_bed", "house:4_chair"}
    for ep in data["episodes"]:
        assert ep["goals"] == [] and set(ep) <= HABITAT_EPISODE_KEYS
    for goals in data["goals_by_category"].values():
        for g in goals:
            assert set(g) <= HABITAT_OBJECT_GOAL_KEYS
            assert set(g["view_points"][0]) == {"agent_state", "iou"}
            assert set(g["view_points"][0]["agent_state"]) == {"position", "rotation"}
    assert load_dataset(path) == episodes
    assert read_dataset(path).category_to_task_category_id == {"bed": 0, "chair": 1}


def test_pointnav_written_with_habitat_keys_only(tmp_path):
    data = json.loads(save_dataset([make_pointnav()], tmp_path / "p.json").read_text())
    ep = data["episodes"][0]
    assert set(ep) <= HABITAT_EPISODE_KEYS
    assert ep["start_rotation"] == [0.0, 0.38268343236508984, 0.0, 0.9238795325112867]  # [x, y, z, w]
    assert ep["goals"] == [{"position": [4.25, 0.0, -1.0 / 3.0], "radius": 0.2}]
    assert ep["info"] == {"geodesic_distance": 6.125}


def test_instruction_written_like_habitat_vln(tmp_path):
    data = json.loads(save_dataset([make_instruction()], tmp_path / "i.json").read_text())
    ep = data["episodes"][0]
    assert ep["instruction"] == {"instruction_text": "go to the kitchen, then find the red mug", "instruction_tokens": None}
    assert ep["goals"] == [{"position": [1.5, 0.4, 2.5], "radius": None}]  # the last subgoal's goals
    assert [s["kind"] for s in ep["subgoals"]] == ["room", "object"]
    assert ep["subgoals"][1]["color"] == "red"


# ------------------------------------------------------------------------------------ habitat files


def test_read_habitat_pointnav_by_hand(tmp_path):
    data = {
        "episodes": [
            {
                "episode_id": "0",
                "scene_id": "data/scene_datasets/habitat-test-scenes/skokloster-castle.glb",
                "start_position": [-3.0133917331695557, 0.04198500141501427, 7.3222527503967285],
                "start_rotation": [0, 0.983430878813943, 0, 0.18128549181107237],
                "info": {"geodesic_distance": 5.583309173583984, "difficulty": "easy"},
                "goals": [{"position": [-3.0539746284484863, 0.04198500141501427, 1.738938570022583], "radius": None}],
                "shortest_paths": None,
                "start_room": None,
            }
        ]
    }
    path = tmp_path / "pointnav.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(data, f)
    (ep,) = load_dataset(path)
    assert isinstance(ep, PointNavEpisode)
    assert ep.goals[0].position[2] == pytest.approx(1.738938570022583)
    assert ep.geodesic_distance == pytest.approx(5.583309173583984)
    assert ep.info["difficulty"] == "easy"


def habitat_objectnav_dict() -> dict:
    """An ObjectNav file as habitat's ObjectNavDatasetV1.to_json writes it (HM3D-style)."""
    view_point = {"agent_state": {"position": [1.0, 0.1, 2.0], "rotation": [0.0, 0.5, 0.0, 0.8660254037844386]}, "iou": 0.31}
    return {
        "category_to_task_category_id": {"chair": 0, "bed": 1},
        "category_to_mp3d_category_id": {"chair": 3, "bed": 11},
        "goals_by_category": {
            "bxsVRursffK.basis.glb_chair": [
                {
                    "position": [1.5, 0.5, 2.5],
                    "radius": None,
                    "object_id": 42,
                    "object_name": "chair_42",
                    "object_name_id": None,
                    "object_category": "chair",
                    "room_id": None,
                    "room_name": None,
                    "view_points": [view_point],
                }
            ]
        },
        "episodes": [
            {
                "episode_id": "0",
                "scene_id": "hm3d/val/00800-TEEsavR23oF/bxsVRursffK.basis.glb",
                "scene_dataset_config": "./data/scene_datasets/hm3d/hm3d_annotated_basis.scene_dataset_config.json",
                "additional_obj_config_paths": [],
                "start_position": [0.2, 0.1, 0.3],
                "start_rotation": [0, 0.1, 0, 0.99498743710662],
                "info": {"geodesic_distance": 4.2, "euclidean_distance": 3.1, "closest_goal_object_id": 42},
                "goals": [],
                "start_room": None,
                "shortest_paths": None,
                "object_category": "chair",
            }
        ],
    }


def test_read_habitat_objectnav_goals_by_category(tmp_path):
    path = tmp_path / "val.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(habitat_objectnav_dict(), f)
    ds = read_dataset(path)
    (ep,) = ds.episodes
    assert isinstance(ep, ObjectNavEpisode) and ds.task == "objectnav"
    assert ep.goals_key == "bxsVRursffK.basis.glb_chair"
    assert ep.goals[0].object_id == 42 and ep.goals[0].object_name == "chair_42"
    vp = ep.goals[0].view_points[0]
    assert vp.iou == 0.31 and vp.agent_state.position == (1.0, 0.1, 2.0)
    assert ep.view_point_positions.shape == (1, 3)
    assert ds.category_to_scene_annotation_category_id == {"chair": 3, "bed": 11}
    assert ep.scene_dataset_config.endswith("scene_dataset_config.json")
    # written back, it reads the same
    assert load_dataset(save_dataset(ds.episodes, tmp_path / "back.json.gz", ds.category_to_task_category_id)) == ds.episodes


def test_read_habitat_objectnav_inline_goals(tmp_path):
    data = habitat_objectnav_dict()
    goals = data.pop("goals_by_category")["bxsVRursffK.basis.glb_chair"]
    data["episodes"][0]["goals"] = goals
    path = tmp_path / "inline.json"
    path.write_text(json.dumps(data))
    (ep,) = load_dataset(path)
    assert ep.goals[0].object_id == 42


# ------------------------------------------------------------------------------------ bad input


def write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def pointnav_file(tmp_path, **changes):
    eps = [make_pointnav(0).to_dict(), make_pointnav(1).to_dict()]
    for key, value in changes.items():
        if value is KeyError:
            del eps[1][key]
        else:
            eps[1][key] = value
    return write(tmp_path, {"episodes": eps})


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"start_position": KeyError}, "start_position", "missing"),
        ({"start_rotation": [0, 0, 1]}, "start_rotation", "4 finite numbers"),
        ({"start_rotation": [0, 0, 0, 0]}, "start_rotation", "non-zero"),
        ({"start_rotation": "north"}, "start_rotation", "[x, y, z, w]"),
        ({"start_position": [1, "a", 2]}, "start_position", "3 finite numbers"),
        ({"goals": [{"position": [1, 2]}]}, "goals[0].position", "3 finite numbers"),
        ({"goals": [{"radius": 0.2}]}, "goals[0].position", "missing"),
        ({"goals": "somewhere"}, "goals", "a list"),
        ({"goals": []}, "goals", "non-empty"),
        ({"goals": [{"position": [1, 2, 3], "radius": "big"}]}, "goals[0].radius", "a number"),
        ({"scene_id": 5}, "scene_id", "string"),
        ({"info": [1]}, "info", "dict"),
        ({"info": []}, "info", "dict"),
        ({"info": {"geodesic_distance": "far"}}, "info.geodesic_distance", "number"),
        ({"colour": "red"}, "colour", "no such field"),
    ],
)
def test_bad_episode_fields(tmp_path, changes, field, words):
    path = pointnav_file(tmp_path, **changes)
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    err = info.value
    assert err.field == field and err.episode_index == 1 and err.episode_id == "1"
    message = str(err)
    assert str(path) in message and "episode 1" in message and repr(field) in message and words in message


def test_bad_nested_objectnav_fields(tmp_path):
    data = habitat_objectnav_dict()
    data["goals_by_category"]["bxsVRursffK.basis.glb_chair"][0]["view_points"][0]["agent_state"]["rotation"] = [0, 1, 0]
    with pytest.raises(DatasetError, match=r"goals_by_category\['bxsVRursffK.basis.glb_chair'\]\[0\]\.view_points\[0\]\.agent_state\.rotation"):
        load_dataset(write(tmp_path, data))
    data = habitat_objectnav_dict()
    data["episodes"][0]["object_category"] = "sofa"
    with pytest.raises(DatasetError, match="no entry 'bxsVRursffK.basis.glb_sofa'"):
        load_dataset(write(tmp_path, data))
    data = habitat_objectnav_dict()
    data["category_to_task_category_id"] = {"bed": 1}
    with pytest.raises(DatasetError, match="not in category_to_task_category_id"):
        load_dataset(write(tmp_path, data))
    data = habitat_objectnav_dict()
    del data["goals_by_category"]["bxsVRursffK.basis.glb_chair"][0]["object_id"]
    with pytest.raises(DatasetError, match="object_id"):
        load_dataset(write(tmp_path, data))


def test_bad_instruction_fields(tmp_path):
    d = make_instruction().to_dict()
    d["subgoals"][0]["kind"] = "floor"
    with pytest.raises(DatasetError, match=r"subgoals\[0\]\.kind"):
        load_dataset(write(tmp_path, {"nav3d_task": "instruction", "episodes": [d]}))
    d = make_instruction().to_dict()
    d["subgoals"][0]["extents"] = []
    with pytest.raises(DatasetError, match=r"subgoals\[0\]\.extents"):
        load_dataset(write(tmp_path, {"episodes": [d]}))
    d = make_instruction().to_dict()
    del d["instruction"]["instruction_text"]
    with pytest.raises(DatasetError, match=r"instruction\.instruction_text"):
        load_dataset(write(tmp_path, {"episodes": [d]}))


def test_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="file not found") as info:
        load_dataset(tmp_path / "absent.json")
    assert "absent.json" in str(info.value)
    with pytest.raises(DatasetError, match="expected a .json or .json.gz"):
        load_dataset(tmp_path / "eps.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text('{"episodes": [')
    with pytest.raises(DatasetError, match="invalid JSON at line 1"):
        load_dataset(bad)
    notgz = tmp_path / "bad.json.gz"
    notgz.write_text('{"episodes": []}')
    with pytest.raises(DatasetError, match="not a valid gzip file"):
        load_dataset(notgz)
    truncated = tmp_path / "trunc.json.gz"
    truncated.write_bytes(gzip.compress(b'{"episodes": []}' * 100)[:30])
    with pytest.raises(DatasetError, match="gzip"):
        load_dataset(truncated)
    with pytest.raises(DatasetError, match="top level must be an object"):
        load_dataset(write(tmp_path, [1, 2]))
    with pytest.raises(DatasetError, match="'episodes' is missing"):
        load_dataset(write(tmp_path, {"eps": []}))
    with pytest.raises(DatasetError, match="'episodes' must be a list"):
        load_dataset(write(tmp_path, {"episodes": {}}))
    with pytest.raises(DatasetError, match="nav3d_task"):
        load_dataset(write(tmp_path, {"nav3d_task": "vln", "episodes": []}))
    with pytest.raises(DatasetError, match="episode 0: expected an episode object"):
        load_dataset(write(tmp_path, {"episodes": [3]}))
    assert isinstance(DatasetError("x", "y"), ValueError)


def test_constructors_validate():
    with pytest.raises(FieldError, match="start_rotation"):
        make_pointnav().__class__(episode_id="0", scene_id="s", start_position=[0, 0, 0], start_rotation=[1, 2], goals=[NavigationGoal([0, 0, 0])])
    with pytest.raises(FieldError, match="object_category"):
        ObjectNavEpisode(episode_id="0", scene_id="s", start_position=[0, 0, 0], start_rotation=[0, 0, 0, 1], object_category="bed", goals=[make_object_goal(1, "chair")])
    with pytest.raises(FieldError, match="ObjectGoal"):
        Subgoal(kind="object", target="mug", goals=[NavigationGoal([0, 0, 0])])
    ep = make_pointnav()
    assert ep.start_pose.yaw == pytest.approx(np.pi / 4)  # rotation [0, sin(pi/8), 0, cos(pi/8)]


# ------------------------------------------------------------------------------------ writing


def test_save_errors(tmp_path):
    with pytest.raises(DatasetError, match="one kind of episode"):
        save_dataset([make_pointnav(), make_objectnav()], tmp_path / "mixed.json")
    with pytest.raises(DatasetError, match="NaN or infinite"):
        bad = PointNavEpisode(episode_id="0", scene_id="s", start_position=[0, 0, 0], start_rotation=[0, 0, 0, 1], goals=[NavigationGoal([1, 0, 0])], info={"geodesic_distance": float("inf")})
        save_dataset([bad], tmp_path / "inf.json")
    assert not (tmp_path / "inf.json").exists()
    other = make_objectnav(1)
    other = ObjectNavEpisode(**{**{k: getattr(other, k) for k in ("episode_id", "scene_id", "start_position", "start_rotation", "object_category", "info")}, "goals": [make_object_goal(99)]})
    with pytest.raises(DatasetError, match="different goals"):
        save_dataset([make_objectnav(0), other], tmp_path / "clash.json")
    assert os.listdir(tmp_path) == []
    assert load_dataset(save_dataset([make_pointnav()], tmp_path / "new" / "folder" / "eps.json")) == [make_pointnav()]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = save_dataset([make_pointnav(0)], tmp_path / "eps.json.gz")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_dataset([make_pointnav(i) for i in range(5)], path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old dataset is untouched
    assert sorted(os.listdir(tmp_path)) == ["eps.json.gz"]  # no temporary file left behind
    assert len(load_dataset(path)) == 1
