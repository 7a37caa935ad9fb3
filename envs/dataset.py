"""Reading and writing episode datasets in habitat-lab's JSON / JSON.gz layout.

A dataset file is ``{"episodes": [...]}`` (habitat's ``PointNavDatasetV1``/``ObjectNavDatasetV1``
layout). ObjectNav files also hold ``category_to_task_category_id`` and
``category_to_scene_annotation_category_id`` (habitat's reader asserts both) and, as habitat's
``ObjectNavDatasetV1.to_json`` writes them, ``goals_by_category`` keyed ``"{scene}_{category}"``
with each episode's ``goals`` left empty. Both layouts (goals inline or in ``goals_by_category``)
are read. nav3d adds a top-level ``"nav3d_task"`` (``"pointnav"``, ``"objectnav"`` or
``"instruction"``); habitat's readers ignore unknown top-level keys. Files without it get their kind
from their content. A file holds one kind of episode.

Every problem with a file raises :class:`DatasetError` naming the file, the episode (index and id)
and the field, never a silent default. Writes go to a temporary file in the same folder that then
replaces the target (``os.replace``), so a crash never leaves a partial dataset.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from envs.files import atomic_write_bytes
from envs.episodes import (
    TASK_INSTRUCTION,
    TASK_OBJECTNAV,
    TASK_POINTNAV,
    TASKS,
    AnyEpisode,
    FieldError,
    InstructionEpisode,
    ObjectGoal,
    ObjectNavEpisode,
    PointNavEpisode,
    episode_from_dict,
    object_goal_from_dict,
)

TASK_KEY = "nav3d_task"
"""The top-level key naming the episodes' kind."""


class DatasetError(ValueError):
    """A dataset file cannot be read or written as asked.

    ``path`` is the file, ``episode_index``/``episode_id`` the episode (None for file-level problems),
    ``field`` the field path inside the episode (or the top-level key), or None.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        message: str,
        episode_index: int | None = None,
        episode_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.episode_index = episode_index
        self.episode_id = episode_id
        self.field = field
        where = self.path
        if episode_index is not None:
            where += f": episode {episode_index}"
            if episode_id is not None:
                where += f" (episode_id {episode_id!r})"
        super().__init__(f"{where}: {message}")


@dataclass
class Dataset:
    """The episodes of one file and, for ObjectNav, habitat's category tables."""

    episodes: list[AnyEpisode]
    task: str
    category_to_task_category_id: dict[str, int] = field(default_factory=dict)
    category_to_scene_annotation_category_id: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# reading


def _read_text(path: Path) -> str:
    name = path.name
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        raise DatasetError(path, "unsupported file name; expected a .json or .json.gz dataset file")
    if not path.exists():
        raise DatasetError(path, "file not found")
    if not path.is_file():
        raise DatasetError(path, "not a regular file")
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DatasetError(path, f"not a valid gzip file ({e})") from None
    except OSError as e:
        raise DatasetError(path, f"cannot read the file ({e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(path, f"not UTF-8 text ({e})") from None


def _parse_json(path: Path, text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise DatasetError(path, f"the top level must be an object {{\"episodes\": [...]}}, got {type(data).__name__}")
    if "episodes" not in data:
        raise DatasetError(path, "top-level field 'episodes' is missing; expected a list of episodes", field="episodes")
    if not isinstance(data["episodes"], list):
        raise DatasetError(path, f"top-level field 'episodes' must be a list, got {type(data['episodes']).__name__}", field="episodes")
    return data


def _detect_task(path: Path, data: dict) -> str:
    if TASK_KEY in data:
        task = data[TASK_KEY]
        if task not in TASKS:
            raise DatasetError(path, f"top-level field {TASK_KEY!r} must be one of {list(TASKS)}, got {task!r}", field=TASK_KEY)
        return task
    if "goals_by_category" in data or "category_to_task_category_id" in data:
        return TASK_OBJECTNAV
    episodes = data["episodes"]
    first = episodes[0] if episodes and isinstance(episodes[0], dict) else {}
    if "instruction" in first or "subgoals" in first:
        return TASK_INSTRUCTION
    if "object_category" in first:
        return TASK_OBJECTNAV
    return TASK_POINTNAV


def _category_table(path: Path, data: dict, key: str) -> dict[str, int]:
    table = data.get(key)
    if table is None:
        return {}
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in table.items()
    ):
        raise DatasetError(path, f"top-level field {key!r} must map category names to integers, got {table!r:.80}", field=key)
    return dict(table)


def _goals_by_category(path: Path, data: dict) -> dict[str, list[ObjectGoal]]:
    raw = data.get("goals_by_category")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DatasetError(path, "top-level field 'goals_by_category' must be an object {\"<scene>_<category>\": [goals]}", field="goals_by_category")
    out: dict[str, list[ObjectGoal]] = {}
    for key, goals in raw.items():
        where = f"goals_by_category[{key!r}]"
        if not isinstance(goals, list) or not goals:
            raise DatasetError(path, f"{where} must be a non-empty list of object goals", field=where)
        try:
            out[key] = [object_goal_from_dict(g, f"{where}[{i}].") for i, g in enumerate(goals)]
        except FieldError as e:
            raise DatasetError(path, str(e), field=e.field) from None
    return out


def read_dataset(path: str | os.PathLike) -> Dataset:
    """The episodes and category tables of a habitat-lab ``.json`` / ``.json.gz`` dataset file.

    Raises :class:`DatasetError` (naming the file, episode index/id and field) on any problem.
    """
    path = Path(path)
    data = _parse_json(path, _read_text(path))
    task = _detect_task(path, data)
    task_ids = _category_table(path, data, "category_to_task_category_id")
    annotation_ids = _category_table(path, data, "category_to_scene_annotation_category_id") or _category_table(
        path, data, "category_to_mp3d_category_id"
    )
    shared = _goals_by_category(path, data) if task == TASK_OBJECTNAV else {}
    episodes: list[AnyEpisode] = []
    for index, raw in enumerate(data["episodes"]):
        episode_id = raw.get("episode_id") if isinstance(raw, dict) else None
        episode_id = None if episode_id is None else str(episode_id)
        if not isinstance(raw, dict):
            raise DatasetError(path, f"expected an episode object, got {type(raw).__name__}", index, episode_id)
        goals = None
        if task == TASK_OBJECTNAV and raw.get("goals") in (None, []):
            scene_id, category = raw.get("scene_id"), raw.get("object_category")
            if isinstance(scene_id, str) and isinstance(category, str):
                key = f"{os.path.basename(scene_id)}_{category}"
                if key not in shared:
                    known = ", ".join(sorted(shared)[:10]) or "(none)"
                    raise DatasetError(
                        path,
                        f"field 'goals' is empty and goals_by_category has no entry {key!r} "
                        f"(expected goals inline or under that key; its keys include: {known})",
                        index,
                        episode_id,
                        field="goals",
                    )
                goals = shared[key]
        try:
            episode = episode_from_dict(raw, task, goals)
        except FieldError as e:
            raise DatasetError(path, str(e), index, episode_id, field=e.field) from None
        if isinstance(episode, ObjectNavEpisode) and task_ids and episode.object_category not in task_ids:
            raise DatasetError(
                path,
                f"object_category {episode.object_category!r} is not in category_to_task_category_id "
                f"(known: {', '.join(sorted(task_ids))})",
                index,
                episode_id,
                field="object_category",
            )
        episodes.append(episode)
    return Dataset(episodes, task, task_ids, annotation_ids)


def load_dataset(path: str | os.PathLike) -> list[AnyEpisode]:
    """The episodes of a habitat-lab ``.json`` / ``.json.gz`` dataset file (see :func:`read_dataset`)."""
    return read_dataset(path).episodes


# --------------------------------------------------------------------------------------------------
# writing


def _task_of(episodes: Sequence[AnyEpisode], path: Path) -> str:
    kinds = set()
    for i, e in enumerate(episodes):
        if not isinstance(e, (PointNavEpisode, ObjectNavEpisode, InstructionEpisode)):
            raise DatasetError(path, f"cannot write a {type(e).__name__}; expected an episode type of envs.episodes", i)
        kinds.add(e.task)
    if len(kinds) > 1:
        raise DatasetError(path, f"a dataset file holds one kind of episode, got {sorted(kinds)}")
    return kinds.pop() if kinds else TASK_POINTNAV


def dataset_to_dict(
    episodes: Sequence[AnyEpisode],
    category_to_task_category_id: dict[str, int] | None = None,
    path: str | os.PathLike = "<dataset>",
) -> dict:
    """The JSON-ready dict of a dataset (habitat-lab layout, see the module docstring)."""
    path = Path(path)
    task = _task_of(episodes, path)
    out: dict[str, Any] = {TASK_KEY: task}
    if task != TASK_OBJECTNAV:
        out["episodes"] = [e.to_dict() for e in episodes]
        return out
    categories = sorted({e.object_category for e in episodes})  # type: ignore[union-attr]
    if category_to_task_category_id is None:
        category_to_task_category_id = {c: i for i, c in enumerate(categories)}
    missing = [c for c in categories if c not in category_to_task_category_id]
    if missing:
        raise DatasetError(path, f"category_to_task_category_id lacks the episodes' categories {missing}")
    goals_by_category: dict[str, list[dict]] = {}
    for i, e in enumerate(episodes):
        goals = [g.to_dict() for g in e.goals]
        key = e.goals_key  # type: ignore[union-attr]
        if key in goals_by_category and goals_by_category[key] != goals:
            raise DatasetError(
                path,
                f"episodes share the goals_by_category key {key!r} but have different goals; "
                "habitat's ObjectNav layout stores one goal list per scene and category",
                i,
                e.episode_id,
                field="goals",
            )
        goals_by_category[key] = goals
    table = dict(category_to_task_category_id)
    out["category_to_task_category_id"] = table
    out["category_to_scene_annotation_category_id"] = dict(table)
    out["goals_by_category"] = goals_by_category
    out["episodes"] = [e.to_dict(include_goals=False) for e in episodes]  # type: ignore[call-arg]
    return out


def save_dataset(
    episodes: Sequence[AnyEpisode],
    path: str | os.PathLike,
    category_to_task_category_id: dict[str, int] | None = None,
) -> Path:
    """Write ``episodes`` (one kind) to ``path`` (``.json`` or ``.json.gz``) atomically; returns the path.

    Missing folders are created. ObjectNav episodes are written in habitat's ``goals_by_category`` layout;
    ``category_to_task_category_id`` defaults to the sorted categories numbered from 0.
    """
    path = Path(path)
    name = path.name
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        raise DatasetError(path, "unsupported file name; expected a .json or .json.gz dataset file")
    data = dataset_to_dict(episodes, category_to_task_category_id, path)
    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError as e:
        raise DatasetError(path, f"cannot encode as JSON ({e}); a value is NaN or infinite (e.g. an unreachable goal's geodesic_distance)") from None
    payload = text.encode("utf-8")
    if name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)
    return path
