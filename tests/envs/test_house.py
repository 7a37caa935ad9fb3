"""Tests of the procedural house generator (``envs.house``), through its public API only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from envs.house import OBJECT_CATEGORIES, PALETTE, ROOM_TYPES, HouseConfig, generate_house, parse_house_id
from envs.scene import Scene

SEEDS = tuple(range(20))
VOCAB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "vocab"
STRUCTURE = {"wall", "floor", "ceiling", "door", "window"}
MOUNTED = {"mirror", "picture", "window"}  # always flush on a wall
ON_SURFACE = {"mug", "book", "laptop", "bottle", "vase", "plant", "lamp", "pillow", "bowl", "microwave"}
WALL_OR_SURFACE = {"clock", "towel", "tv"}  # hung on a wall or standing on something
AGENT_RADIUS = 0.18
BAND = (0.2, 0.88)  # the agent's body, above the height it can step over (metres)


@pytest.fixture(scope="module")
def houses() -> dict[int, Scene]:
    return {seed: generate_house(seed) for seed in SEEDS}


def _walls(scene: Scene) -> list:
    return [o for o in scene.objects.values() if o.category == "wall"]


def _flush_on_wall(obj, walls, tol: float = 1e-4) -> bool:
    """Whether one vertical face of ``obj``'s box lies on a wall box's face it overlaps along the wall."""
    for w in walls:
        for k, other in ((0, 2), (2, 0)):
            touches = abs(obj.bbox_min[k] - w.bbox_max[k]) < tol or abs(obj.bbox_max[k] - w.bbox_min[k]) < tol
            along = obj.bbox_min[other] < w.bbox_max[other] and w.bbox_min[other] < obj.bbox_max[other]
            if touches and along:
                return True
    return False


def _raycaster(scene: Scene, keep: np.ndarray | None = None):
    o3d = pytest.importorskip("open3d")
    faces = scene.faces if keep is None else scene.faces[keep]
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.vertices), o3d.core.Tensor(faces.astype(np.uint32)))
    return rc, o3d


def _cast(rc, o3d, origins: np.ndarray, directions: np.ndarray) -> dict[str, np.ndarray]:
    rays = np.concatenate([origins, np.broadcast_to(directions, origins.shape)], axis=1).astype(np.float32)
    return {k: v.numpy() for k, v in rc.cast_rays(o3d.core.Tensor(rays)).items()}


# --------------------------------------------------------------------------------------------------
# identity and determinism


def test_same_seed_gives_byte_identical_scene():
    a, b = generate_house(7), generate_house(7)
    for name in ("vertices", "faces", "face_colors", "face_instance"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert [o.to_dict() for o in a.objects.values()] == [o.to_dict() for o in b.objects.values()]
    assert [r.to_dict() for r in a.regions] == [r.to_dict() for r in b.regions]
    assert a.vertex_colors is None


def test_different_seeds_give_different_houses(houses):
    digests = {(s.vertices.shape, s.vertices.tobytes()) for s in houses.values()}
    assert len(digests) == len(houses)


def test_scene_name_round_trips_through_parse_house_id(houses):
    assert houses[3].name == "house:3"
    assert parse_house_id(houses[3].name) == 3


@pytest.mark.parametrize("text", ["house:", "house:-1", "house:1.5", "House:3", " house:3", "house:3x", "scene.glb", ""])
def test_parse_house_id_rejects_other_ids(text):
    assert parse_house_id(text) is None


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_parse_house_id_reads_any_seed(seed):
    assert parse_house_id(f"house:{seed}") == seed


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        generate_house(seed)


# --------------------------------------------------------------------------------------------------
# configuration


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_rooms": 6, "max_rooms": 4}, "min_rooms"),
        ({"min_rooms": 0}, "min_rooms"),
        ({"wall_thickness": -0.1}, "wall_thickness"),
        ({"wall_height": 0.0}, "wall_height"),
        ({"door_width": -1.0}, "door_width"),
        ({"door_height": 2.45}, "door_height"),
        ({"min_room_size": 1.0}, "min_room_size"),
        ({"footprint_max": 6.0}, "footprint_max"),
        ({"max_rooms": 40}, "max_rooms"),
        ({"extra_door_probability": 1.5}, "extra_door_probability"),
        ({"cylinder_sections": 2}, "cylinder_sections"),
        ({"room_area_range": (20.0, 10.0)}, "room_area_range"),
        ({"agent_radius": -0.1}, "agent_radius"),
    ],
)
def test_bad_config_raises_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        HouseConfig(**kwargs)


def test_config_is_respected():
    cfg = HouseConfig(min_rooms=2, max_rooms=2, wall_height=3.0, furnish=False)
    scene = generate_house(5, cfg)
    assert len(scene.regions) == 2
    assert set(scene.categories) <= STRUCTURE
    ceilings = [o for o in scene.objects.values() if o.category == "ceiling"]
    assert ceilings and all(o.bbox_min[1] == pytest.approx(3.0) for o in ceilings)


# --------------------------------------------------------------------------------------------------
# scene invariants


def test_every_face_belongs_to_an_object(houses):
    for scene in houses.values():
        ids = np.unique(scene.face_instance)
        assert ids.min() > 0
        assert set(ids.tolist()) == set(scene.objects)
        assert all(o.instance_id == k for k, o in scene.objects.items())


def test_object_boxes_are_the_boxes_of_their_faces(houses):
    for scene in houses.values():
        n = max(scene.objects) + 1
        tri = scene.vertices[scene.faces]  # (F, 3, 3)
        lo = np.full((n, 3), np.inf)
        hi = np.full((n, 3), -np.inf)
        np.minimum.at(lo, scene.face_instance, tri.min(axis=1))
        np.maximum.at(hi, scene.face_instance, tri.max(axis=1))
        for k, obj in scene.objects.items():
            np.testing.assert_allclose(obj.bbox_min, lo[k], atol=1e-6)
            np.testing.assert_allclose(obj.bbox_max, hi[k], atol=1e-6)


def test_floors_walls_and_ceilings_have_their_heights(houses):
    for scene in houses.values():
        by = {c: [o for o in scene.objects.values() if o.category == c] for c in ("floor", "wall", "ceiling")}
        assert len(by["floor"]) == len(by["ceiling"]) == len(scene.regions)
        assert all(o.bbox_max[1] == 0.0 and o.bbox_min[1] < 0.0 for o in by["floor"])
        assert all(o.bbox_min[1] == 0.0 and o.bbox_max[1] == pytest.approx(2.5) for o in by["wall"])
        assert all(o.bbox_min[1] == pytest.approx(2.5) for o in by["ceiling"])
        floor_ids = [o.instance_id for o in by["floor"]]
        floor_faces = scene.faces[np.isin(scene.face_instance, floor_ids)]
        assert scene.vertices[floor_faces][..., 1].max() == 0.0


def test_floor_standing_items_stand_on_the_floor_without_overlapping(houses):
    for scene in houses.values():
        floor_items = [
            o for o in scene.objects.values()
            if o.category not in STRUCTURE | MOUNTED and o.bbox_min[1] == 0.0
        ]  # fmt: skip
        assert len(floor_items) >= 8
        for i, a in enumerate(floor_items):
            for b in floor_items[i + 1 :]:
                apart = (
                    a.bbox_max[0] + 0.04 <= b.bbox_min[0] or b.bbox_max[0] + 0.04 <= a.bbox_min[0]
                    or a.bbox_max[2] + 0.04 <= b.bbox_min[2] or b.bbox_max[2] + 0.04 <= a.bbox_min[2]
                )  # fmt: skip
                assert apart, f"{scene.name}: {a.category} {a.instance_id} overlaps {b.category} {b.instance_id}"


def test_regions_tile_the_footprint(houses):
    for scene in houses.values():
        rects = np.array([[r.bbox_min[0], r.bbox_min[2], r.bbox_max[0], r.bbox_max[2]] for r in scene.regions])
        assert 4 <= len(rects) <= 7
        assert len({r.name for r in scene.regions}) == len(rects)
        assert np.all(rects[:, 2] - rects[:, 0] >= 3.0) and np.all(rects[:, 3] - rects[:, 1] >= 3.0)
        assert all(r.bbox_min[1] == 0.0 and r.bbox_max[1] == pytest.approx(2.5) for r in scene.regions)
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                w = min(rects[i, 2], rects[j, 2]) - max(rects[i, 0], rects[j, 0])
                d = min(rects[i, 3], rects[j, 3]) - max(rects[i, 1], rects[j, 1])
                assert w <= 1e-9 or d <= 1e-9, f"{scene.name}: regions {i} and {j} overlap"
        outer = (rects[:, 2].max() - rects[:, 0].min()) * (rects[:, 3].max() - rects[:, 1].min())
        area = np.sum((rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1]))
        assert area == pytest.approx(outer)
        side = np.sqrt(outer)
        assert 7.0 <= side <= 16.0


def test_objects_have_room_regions(houses):
    for scene in houses.values():
        names = {r.name for r in scene.regions}
        assert all(o.region in names for o in scene.objects.values())
        for o in scene.objects.values():
            if o.category not in STRUCTURE:
                region = scene.region(o.region)
                assert region.contains(o.center[None])[0], f"{o.category} {o.instance_id} outside {o.region}"


def test_mesh_is_moderate_and_outward_wound(houses):
    for scene in houses.values():
        assert len(scene.faces) < 40_000
        tri = scene.vertices[scene.faces].astype(np.float64)
        signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6.0
        volume = np.bincount(scene.face_instance, weights=signed)
        assert np.all(volume[list(scene.objects)] > 0.0), "some object is wound inside out"


# --------------------------------------------------------------------------------------------------
# contents


def test_room_types_and_categories_across_seeds(houses):
    rooms = {r.name for s in houses.values() for r in s.regions}
    assert rooms == set(ROOM_TYPES)
    for scene in houses.values():
        assert {"living room", "kitchen", "bedroom", "bathroom"} <= {r.name for r in scene.regions}
        assert set(scene.categories) <= set(OBJECT_CATEGORIES)
        assert sum(o.category not in STRUCTURE for o in scene.objects.values()) >= 30
    seen = {c for s in houses.values() for c in s.categories}
    assert len(seen) >= 30
    assert seen == set(OBJECT_CATEGORIES)


def _vocab_names() -> set[str]:
    names: set[str] = set()
    for path in sorted(VOCAB_DIR.glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t") if "\t" in line else re.split(r" {2,}", line)
            names.update(c.strip().lower() for c in cells if c.strip())
    return names


def test_categories_are_real_vocabulary_names():
    if not VOCAB_DIR.is_dir():
        pytest.skip(f"shared vocabulary not found at {VOCAB_DIR} (only present beside a development checkout)")
    names = _vocab_names()
    missing = sorted(set(OBJECT_CATEGORIES) - names)
    assert not missing, f"not Matterport/HM3D category names: {missing}"


def test_palette_colours_are_shared_across_categories(houses):
    users: dict[str, set[str]] = {c: set() for c in PALETTE}
    rgb = {tuple(v) for v in PALETTE.values()}
    for scene in houses.values():
        for o in scene.objects.values():
            assert o.color in PALETTE
            if o.category not in STRUCTURE:
                users[o.color].add(o.category)
        assert {tuple(c) for c in np.unique(scene.face_colors, axis=0)} <= rgb
    assert all(len(cats) >= 2 for cats in users.values()), {c: sorted(v) for c, v in users.items()}


def test_small_objects_rest_on_a_surface(houses):
    for seed in SEEDS[:6]:
        scene = houses[seed]
        walls = _walls(scene)
        loose = [
            o for o in scene.objects.values()
            if o.category in ON_SURFACE or (o.category in WALL_OR_SURFACE and not _flush_on_wall(o, walls))
        ]  # fmt: skip
        assert loose
        keep = ~np.isin(scene.face_instance, [o.instance_id for o in loose])
        kept_faces = np.flatnonzero(keep)
        rc, o3d = _raycaster(scene, keep=keep)
        lift = 0.05
        origins = np.array([[o.center[0], o.bbox_min[1] + lift, o.center[2]] for o in loose])
        hits = _cast(rc, o3d, origins, np.array([0.0, -1.0, 0.0]))
        for o, t, prim in zip(loose, hits["t_hit"], hits["primitive_ids"]):
            assert o.bbox_min[1] > 0.05, f"{scene.name}: {o.category} {o.instance_id} on the floor"
            assert t == pytest.approx(lift, abs=1e-3), f"{scene.name}: {o.category} {o.instance_id} floats or sinks"
            support = scene.objects[int(scene.face_instance[kept_faces[prim]])]
            assert support.category not in STRUCTURE, f"{o.category} stands on {support.category}"
            assert support.bbox_min[1] == 0.0, f"{o.category} stands on a {support.category} that is not on the floor"


def test_wall_mounted_items_are_flush_on_walls(houses):
    for scene in list(houses.values())[:8]:
        walls = _walls(scene)
        mounted = [o for o in scene.objects.values() if o.category in MOUNTED]
        assert any(o.category == "window" for o in mounted)
        for o in mounted:
            assert o.bbox_min[1] > 0.5
            assert _flush_on_wall(o, walls), f"{scene.name}: {o.category} {o.instance_id} is not on a wall"


# --------------------------------------------------------------------------------------------------
# doors and navigability


def _interior_doors(scene: Scene) -> list:
    lo, hi = scene.bounds
    return [
        o for o in scene.objects.values()
        if o.category == "door" and min(o.center[0] - lo[0], hi[0] - o.center[0], o.center[2] - lo[2], hi[2] - o.center[2]) > 0.5
    ]  # fmt: skip


def test_doors_are_openings_wide_and_high_enough(houses):
    for seed in SEEDS[:5]:
        scene = houses[seed]
        rc, o3d = _raycaster(scene)
        doors = _interior_doors(scene)
        assert len(doors) >= len(scene.regions) - 1
        for door in doors:
            size = door.bbox_max - door.bbox_min
            across = 0 if size[0] < size[2] else 2  # the wall's normal axis
            along = 2 - across
            c = door.center.copy()
            normal = np.zeros(3)
            normal[across] = 1.0
            tangent = np.zeros(3)
            tangent[along] = 1.0
            for y in (0.3, 1.0, 2.0):
                start = c + np.array([0.0, y - c[1], 0.0]) - 0.6 * normal
                assert _cast(rc, o3d, start[None], normal)["t_hit"][0] > 1.2, f"{scene.name}: door blocked at {y} m"
            mid = c + np.array([0.0, 1.0 - c[1], 0.0])
            width = _cast(rc, o3d, np.stack([mid, mid]), np.stack([tangent, -tangent]))["t_hit"].sum()
            assert width >= 1.0 - 1e-3
            assert 1.0 + _cast(rc, o3d, mid[None], np.array([0.0, 1.0, 0.0]))["t_hit"][0] >= 2.1 - 1e-3


def _free_floor(scene: Scene, res: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells (5 cm) where nothing occupies the agent's height band: a ray cast down from the top of the
    band first meets an upward-facing surface below the band (a downward-facing first hit means the
    ray started inside a solid)."""
    rc, o3d = _raycaster(scene)
    lo, hi = scene.bounds
    xs = np.arange(lo[0] + res / 2, hi[0], res)
    zs = np.arange(lo[2] + res / 2, hi[2], res)
    gx, gz = np.meshgrid(xs, zs)
    origins = np.stack([gx, np.full_like(gx, BAND[1]), gz], axis=-1).reshape(-1, 3)
    hits = _cast(rc, o3d, origins, np.array([0.0, -1.0, 0.0]))
    hit_y = BAND[1] - hits["t_hit"]
    free = np.isfinite(hits["t_hit"]) & (hit_y <= BAND[0]) & (hits["primitive_normals"][:, 1] > 0.5)
    return free.reshape(gx.shape), xs, zs


def test_no_free_floor_inside_tall_furniture(houses):
    for seed in SEEDS[:4]:
        scene = houses[seed]
        free, xs, zs = _free_floor(scene, 0.05)
        tall = [
            o for o in scene.objects.values()
            if o.category not in STRUCTURE and o.bbox_min[1] == 0.0 and o.bbox_max[1] > BAND[1]
        ]  # fmt: skip
        assert tall
        for o in tall:  # the core of the footprint, where a closed body could hide an agent-sized pocket
            cols = (xs > o.bbox_min[0] + 0.15) & (xs < o.bbox_max[0] - 0.15)
            rows = (zs > o.bbox_min[2] + 0.15) & (zs < o.bbox_max[2] - 0.15)
            assert not free[np.ix_(rows, cols)].any(), f"{scene.name}: free floor inside {o.category} {o.instance_id}"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_navigable_floor_is_one_connected_piece(houses, seed):
    scene = houses[seed]
    res = 0.05
    free, xs, zs = _free_floor(scene, res)
    clear = ndimage.distance_transform_edt(free) * res > AGENT_RADIUS
    labels, n = ndimage.label(clear)
    assert n >= 1
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    main = labels == largest
    for region in scene.regions:
        x0, z0, x1, z1 = region.bbox_min[0], region.bbox_min[2], region.bbox_max[0], region.bbox_max[2]
        qx, qz = (x1 - x0) / 4, (z1 - z0) / 4
        cols = (xs > x0 + qx) & (xs < x1 - qx)
        rows = (zs > z0 + qz) & (zs < z1 - qz)
        share = main[np.ix_(rows, cols)].mean()
        assert share >= 0.15, f"{scene.name}: the middle of the {region.name} is cut off ({share:.0%} reachable)"
    for door in _interior_doors(scene):
        i, j = np.searchsorted(zs, door.center[2]), np.searchsorted(xs, door.center[0])
        assert main[i, j], f"{scene.name}: door {door.instance_id} is not on the main navigable piece"
