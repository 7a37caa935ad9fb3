"""Writing a 3D-language dataset to disk: one features file per scene and JSONL records split by scene.

Layout of ``out_dir``::

    maps/<scene>.npz     agent.scene_maps.SceneFeatures of each scene (points, float16 features, codec)
    train.jsonl          records (agent.language_data) of the training scenes, one JSON object a line
    val.jsonl
    test.jsonl
    dataset.json         configuration, seeds, splits, counts per split and task, per-scene map info

Scenes are split with ``envs.episode_generator.split_scene_ids`` (a hash of the scene id, so a
scene's split never depends on which other scenes are in the dataset), and all of a scene's records
go to its split: test houses are never trained on. Every file is written atomically
(``envs.files``). A run can be resumed: a scene whose features file already exists is not mapped
again (its header must match the construction, exploration config and seed, else the run stops with
an error); records are regenerated, which is deterministic, so a resumed run writes the same files.
Each scene is one call of ``scene_data`` (map it, make its records; it writes nothing), run here or
as a Ray task (``ray=``, ``agent.scale``); this process writes every file either way.

Location tokens in a scene's records use its map's codec (the bounds of its map points) unless one
``codec`` is given for all of them (a 3D-LLM with fixed scene bounds); ``meta`` keeps every ground
truth in metres, so records can be re-tokenised for another codec.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from agent.language_data import TASKS, TEMPLATE_COUNTS, LanguageDataConfig, scene_records
from agent.location_codec import LocationCodec
from agent.scene_maps import SCENE_INPUTS, ExplorationConfig, SceneFeatures, check_construction, explore_and_map, exploration_simulator, map_file_name, read_features_header
from envs.files import atomic_write_text, writable_folder

DATASET_FORMAT = "nav3d-language-data"
DATASET_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetSummary:
    """What ``write_dataset`` wrote: the folder, each split's scene ids and record counts per task."""

    out_dir: Path
    splits: dict[str, list[str]]
    counts: dict[str, dict[str, int]]
    maps_built: int
    maps_reused: int
    seconds: float

    @property
    def records(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


def scene_ids_of(houses: int | Sequence[int | str]) -> list[str]:
    """Scene ids for ``houses``: an int N -> ``house:0`` .. ``house:N-1``; a sequence of house seeds
    (ints) or scene ids (``"house:7"``, mesh paths). Raises ``ValueError`` for none or duplicates."""
    if isinstance(houses, bool):
        raise ValueError(f"houses must be a number of houses (>= 1) or a list of house seeds / scene ids, got {houses!r}")
    if isinstance(houses, int):
        if houses < 1:
            raise ValueError(f"the number of houses must be >= 1, got {houses}")
        return [f"house:{i}" for i in range(houses)]
    ids = []
    for h in houses:
        if isinstance(h, bool) or not isinstance(h, (int, str)):
            raise ValueError(f"houses must hold house seeds (ints >= 0) or scene ids (strings), got {h!r}")
        if isinstance(h, int) and h < 0:
            raise ValueError(f"house seeds must be >= 0, got {h}")
        ids.append(f"house:{h}" if isinstance(h, int) else h)
    if not ids:
        raise ValueError("no houses given: pass a number of houses >= 1 or a non-empty list of seeds / scene ids")
    duplicates = sorted(k for k, v in Counter(ids).items() if v > 1)
    if duplicates:
        raise ValueError(f"houses are listed more than once: {duplicates}")
    return ids


def write_dataset(
    out_dir: str | Path,
    houses: int | Sequence[int | str],
    construction: str = "neural",
    seed: int = 0,
    exploration: ExplorationConfig = ExplorationConfig(),
    language: LanguageDataConfig = LanguageDataConfig(),
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    resume: bool = True,
    progress: bool = True,
    encoder=None,
    codec: LocationCodec | None = None,
    ray: str | bool | None = None,
    threads: int = 1,
    map_seed: int | None = None,
) -> DatasetSummary:
    """Map every scene, generate its records and write the dataset (see the module doc).

    ``houses``: a number N (houses 0..N-1) or house seeds / scene ids. ``seed`` seeds the records and,
    unless ``map_seed`` is given, the exploration that builds the maps (another ``seed`` with the
    same ``map_seed`` writes new records over maps already built). ``resume``: reuse features files
    already in ``out_dir/maps`` (else they are rebuilt). ``encoder``: a ``SentenceEncoder`` for the
    features (default: loaded when a map is built).
    ``codec``: one location codec for every record (e.g. a 3D-LLM's fixed scene bounds); None (the
    default) uses each scene's map codec (``SceneFeatures.codec``, the bounds of its map points).
    ``ray``: None makes the scenes here, one after the other; True as tasks on this machine's Ray
    instance, a string on the Ray cluster at that address (``agent.scale``), each task with
    ``threads`` torch threads. Either way each scene is ``scene_data`` and this process writes every
    file, so the files are the same.
    """
    from tqdm import tqdm

    from envs.episode_generator import split_scene_ids

    check_construction(construction, SCENE_INPUTS)
    map_seed = seed if map_seed is None else map_seed
    for name, value in (("seed", seed), ("map_seed", map_seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    ids = scene_ids_of(houses)
    out = writable_folder(out_dir)
    maps_dir = writable_folder(out / "maps")
    splits = split_scene_ids(ids, tuple(fractions), SPLITS)
    split_of = {sid: name for name, members in splits.items() for sid in members}
    t0 = time.perf_counter()
    jobs = (_scene_job(maps_dir, scene_id, split_of[scene_id], construction, seed, map_seed, exploration, language, resume, codec) for scene_id in ids)
    results: dict[str, SceneData] = {}
    for data in tqdm(_scene_results(jobs, encoder, ray, threads), total=len(ids), desc="scenes", unit="scene", file=sys.stderr, disable=not progress):
        if data.built:
            data.features.save(maps_dir / map_file_name(data.scene_id))
        results[data.scene_id] = data
    feature_dim = results[ids[0]].features.feature_dim
    odd = [str(maps_dir / map_file_name(sid)) for sid in ids if results[sid].features.feature_dim != feature_dim]
    if odd:
        raise ValueError(f"{odd} hold features of another size than the {feature_dim}-d ones of {ids[0]!r}; rebuild them (delete the files)")
    built = sum(results[sid].built for sid in ids)
    reused = len(ids) - built
    by_split: dict[str, list[dict]] = {name: [] for name in SPLITS}
    maps_info: dict[str, Any] = {}
    for scene_id in ids:
        by_split[split_of[scene_id]].extend(results[scene_id].records)
        maps_info[scene_id] = results[scene_id].map_info(codec)
    for name in SPLITS:
        atomic_write_text(out / f"{name}.jsonl", "".join(json.dumps(r) + "\n" for r in by_split[name]))
    counts = {name: {task: sum(r["task"] == task for r in by_split[name]) for task in TASKS} for name in SPLITS}
    summary = DatasetSummary(out, {k: list(v) for k, v in splits.items()}, counts, built, reused, time.perf_counter() - t0)
    header = {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "code": code_version(),
        "construction": construction,
        "seed": seed,
        "map_seed": map_seed,
        "scenes": ids,
        "fractions": list(fractions),
        "splits": summary.splits,
        "counts": counts,
        "records": summary.records,
        "feature_dim": feature_dim,
        "points": exploration.points,
        "bins": exploration.bins if codec is None else codec.bins,
        "codec": "per-map" if codec is None else codec.to_dict(),
        "exploration": exploration.to_dict(),
        "language": language.to_dict(),
        "templates": TEMPLATE_COUNTS,
        "maps": maps_info,
        "seconds": round(summary.seconds, 3),
    }
    atomic_write_text(out / "dataset.json", json.dumps(header, indent=2) + "\n")
    return summary


@dataclass
class SceneData:
    """One scene's share of a dataset (``scene_data``): its features (``built`` here or reused from
    its file), its records and the seconds spent."""

    scene_id: str
    split: str
    features: SceneFeatures
    records: list[dict]
    built: bool
    seconds: dict[str, float]

    def map_info(self, codec: LocationCodec | None) -> dict[str, Any]:
        """The scene's entry of ``dataset.json``'s ``maps``."""
        features = self.features
        record_codec = features.codec if codec is None else codec
        outside = np.any((features.points < record_codec.lower) | (features.points > record_codec.upper), axis=1)
        return {
            "file": f"maps/{map_file_name(self.scene_id)}",
            "split": self.split,
            "reused": not self.built,
            "frames": features.info.get("frames"),
            "rooms_visited": features.info.get("rooms_visited"),
            "rooms_skipped": features.info.get("rooms_skipped"),
            "map_points": features.info.get("map_points"),
            "points_outside_codec": int(np.sum(outside)),
            "map_seconds": features.info.get("seconds"),
            "records": len(self.records),
            "seconds": self.seconds,
        }


def scene_data(
    scene_id: str,
    split: str,
    construction: str,
    seed: int,
    exploration: ExplorationConfig,
    language: LanguageDataConfig,
    features: SceneFeatures | None = None,
    codec: LocationCodec | None = None,
    encoder=None,
    map_seed: int | None = None,
) -> SceneData:
    """Map one scene (unless its ``features`` are given) and make its records; writes nothing, so it
    runs the same here or as a Ray task. ``encoder``: default ``shared_encoder()``, loaded only when
    a map is built. ``map_seed``: the exploration's seed (default ``seed``, which seeds the records)."""
    from envs.scene_io import resolve_scene

    t_scene = time.perf_counter()
    scene = resolve_scene(scene_id)
    simulator = exploration_simulator(scene, exploration)
    try:
        built = features is None
        if built:
            if encoder is None:
                from perception.text_encoder import shared_encoder

                encoder = shared_encoder()
            map_seed = seed if map_seed is None else map_seed
            features = explore_and_map(scene, construction, exploration, map_seed, encoder=encoder, simulator=simulator, scene_id=scene_id)
        t_records = time.perf_counter()
        record_codec = features.codec if codec is None else codec
        records = scene_records(scene, simulator, record_codec, seed, language, scene_id, split, f"maps/{map_file_name(scene_id)}")
    finally:
        simulator.close()
    seconds = {"load_and_map": round(t_records - t_scene, 3), "records": round(time.perf_counter() - t_records, 3)}
    return SceneData(scene_id, split, features, records, built, seconds)


def _scene_job(
    maps_dir: Path, scene_id: str, split: str, construction: str, seed: int, map_seed: int, exploration: ExplorationConfig,
    language: LanguageDataConfig, resume: bool, codec: LocationCodec | None,
) -> dict[str, Any]:
    """The arguments of ``scene_data`` for one scene, its features read from ``maps_dir`` when
    ``resume`` and its file exists (checked against the settings)."""
    path = maps_dir / map_file_name(scene_id)
    features = None
    if resume and path.exists():
        _check_reusable(path, scene_id, construction, exploration, map_seed)
        features = SceneFeatures.load(path)
    return {"scene_id": scene_id, "split": split, "construction": construction, "seed": seed, "map_seed": map_seed, "exploration": exploration,
            "language": language, "features": features, "codec": codec}


def _scene_results(jobs: Iterable[dict[str, Any]], encoder, ray: str | bool | None, threads: int) -> Iterator[SceneData]:
    """``scene_data`` of every job: here in order, or on Ray as they finish."""
    if ray:
        from agent.scale import run_scenes

        yield from run_scenes(scene_data, jobs, threads, ray)
        return
    for job in jobs:
        yield scene_data(**job, encoder=encoder)


def _check_reusable(path: Path, scene_id: str, construction: str, exploration: ExplorationConfig, seed: int) -> None:
    """Raise ``ValueError`` when an existing features file was made differently than asked."""
    try:
        header = read_features_header(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} exists but is not a scene features file ({exc}); delete it to rebuild it") from exc
    info = header.get("info", {})
    wanted = {"scene_id": scene_id, "construction": construction, "exploration": json.loads(json.dumps(exploration.to_dict())), "seed": seed}
    found = {"scene_id": header.get("scene_id"), "construction": header.get("construction"), "exploration": info.get("exploration"), "seed": info.get("seed")}
    different = [k for k in wanted if wanted[k] != found[k]]
    if different:
        detail = ", ".join(f"{k}: file has {found[k]!r}, asked for {wanted[k]!r}" for k in different)
        raise ValueError(
            f"{str(path)!r} was built with other settings ({detail}); write to another folder, delete the maps folder, "
            "or pass the same settings to resume"
        )


def code_version() -> dict[str, Any]:
    """The nav3d package version and, when the code is a git checkout, its commit (None otherwise)."""
    try:
        from importlib.metadata import version

        package = version("nav3d")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        package = None
    commit = None
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
        if result.returncode == 0:
            commit = result.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"nav3d": package, "git_commit": commit}


def read_records(path: str | Path) -> list[dict]:
    """The records of one JSONL split file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"records file {str(path)!r} does not exist")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{str(path)!r} line {n} is not JSON ({exc.msg})") from exc
    return rows
