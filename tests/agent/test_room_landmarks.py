"""RoomLandmarks: which categories tell a room, counted over labelled scenes; groups of landmarks that show a room."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from agent.room_landmarks import DEFAULT_FILE, RoomLandmarks, point_categories, room_groups
from envs.episode_generator import STRUCTURAL_CATEGORIES
from envs.scene import SceneObject


def obj(i, category, room, x=0.0, z=0.0):
    return SceneObject(i, category, np.array([x - 0.2, 0.0, z - 0.2]), np.array([x + 0.2, 0.8, z + 0.2]), "white", room)


def scene_of(objects):
    """A scene's labels alone: what ``from_scenes`` counts."""
    return SimpleNamespace(objects={o.instance_id: o for o in objects})


def test_a_category_mostly_in_one_room_type_is_its_landmark():
    # 5 ovens all in kitchens; 5 counters, 4 in kitchens (0.8); 6 mugs split 3 / 3; floors in every room
    scenes = [scene_of([obj(1, "oven", "kitchen"), obj(2, "counter", "kitchen" if k < 4 else "laundry room"), obj(3, "mug", "kitchen"),
                        obj(4, "mug", "office"), obj(5, "floor", "kitchen")]) for k in range(5)]
    scenes.append(scene_of([obj(1, "mug", "office")]))
    table = RoomLandmarks.from_scenes(scenes, min_share=0.7, min_instances=5, exclude=STRUCTURAL_CATEGORIES, source="test")
    assert table.landmarks == {"kitchen": {"counter": 0.8, "oven": 1.0}}
    assert "floor" in table.categories and "mug" in table.categories  # still classes map points are sorted into
    assert table.of("hallway") == {}
    with pytest.raises(ValueError, match="min_share"):
        RoomLandmarks.from_scenes(scenes, min_share=0.5)
    with pytest.raises(ValueError, match="region"):
        RoomLandmarks.from_scenes([scene_of([obj(1, "oven", "")])])


def test_save_load_round_trip_and_bad_files(tmp_path):
    table = RoomLandmarks({"kitchen": {"oven": 1.0}}, ("floor", "oven"), "by hand")
    path = table.save(tmp_path / "rooms.json")
    assert RoomLandmarks.load(path) == table
    with pytest.raises(FileNotFoundError, match="nav3d room-landmarks"):
        RoomLandmarks.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"landmarks": {}}))
    with pytest.raises(ValueError, match="not a room-landmark table"):
        RoomLandmarks.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="not among"):
        RoomLandmarks({"kitchen": {"oven": 1.0}}, ("floor",))


def test_the_shipped_table_is_the_training_houses_count():
    table = RoomLandmarks.load()
    assert DEFAULT_FILE.is_file() and "nav3d room-landmarks" in table.source
    assert {"refrigerator", "oven"} <= set(table.of("kitchen")) and "toilet" in table.of("bathroom") and "bed" in table.of("bedroom")
    assert all(0.7 <= share <= 1.0 for cs in table.landmarks.values() for share in cs.values())


def test_point_categories_take_the_nearest_category_above_the_threshold():
    embeddings = np.eye(3, dtype=np.float32)  # (K=3, C=3)
    features = np.array([[1.0, 0.1, 0.0], [0.6, 0.6, 0.5], [0.0, 0.0, 0.0], [0.0, 0.2, 2.0]])
    assert point_categories(features, embeddings, 0.7).tolist() == [0, -1, -1, 2]


def test_a_room_is_shown_by_landmarks_as_sure_as_its_best_one():
    table = RoomLandmarks(
        {"kitchen": {"counter": 0.87, "oven": 1.0}, "laundry room": {"washing machine": 0.8}},
        ("counter", "floor", "oven", "washing machine"),
    )
    counter, floor, oven, washer = range(4)
    # a lone counter is not a kitchen; a counter beside an oven is; far apart they are two groups
    positions = np.array([[0.0, 0.5, 0.0], [5.0, 0.5, 0.0], [6.0, 0.5, 0.0], [5.5, 0.0, 0.5], [-5.0, 0.5, 0.0]])
    classes = np.array([counter, counter, oven, floor, washer])
    groups = room_groups(positions, classes, "kitchen", table, cluster_radius=1.5)
    assert len(groups) == 1 and groups[0].members.tolist() == [False, True, True, False, False]
    assert groups[0].evidence == pytest.approx(1.87)
    assert room_groups(positions[:1], classes[:1], "kitchen", table) == []
    # a laundry room's best landmark is a washing machine (0.8): it alone shows one
    assert [g.members.tolist() for g in room_groups(positions, classes, "laundry room", table)] == [[False] * 4 + [True]]
    assert room_groups(positions, classes, "hallway", table) == []
