"""Evaluating a trained 3D-LLM on a dataset split (held-out houses): ``evaluate_planner``.

For each task asked for, the records of ``DIR/<split>.jsonl`` (with their scene maps, loaded by
``agent.training.LanguageRecords``) are answered in batches by greedy generation, each record's
scene normalised by its own codec (``bounds``). Decomposition answers are constrained to whole
(x y z) location groups and grounding answers to whole 6-token boxes; QA and captions are free.
Scored with ``agent.planner_metrics`` (definitions there):

- decomposition: step accuracy (with and without the waypoint condition), plan exact, ordered
  P/R/F1, waypoint error median and share <= tolerance, and text metrics of the step phrases.
  Reference waypoints are the generator's exact ones (``meta["steps"]``) when the record has them,
  else the bin centres of the reference answer; predicted ones are bin centres (by default, room
  and object steps' read from the map around the points the pointer chose instead:
  ``EvalConfig.waypoints``, ``agent.map_waypoints``), so a perfect model
  still shows the quantisation error (``waypoint_error_median`` of the reference answer itself is
  reported as ``reference_quantisation_median``). ``room_waypoint_inside``: the share of room steps
  (written in the reference's place with its action and target) whose waypoint lies inside the
  room's recorded extent, which is what reaching a room subgoal asks; None for data without extents.
- grounding: IoU of the decoded predicted box with the decoded reference answer's box (bin centres,
  the best a model can write), Acc@0.25 / Acc@0.5; an unreadable box is IoU 0. With
  ``EvalConfig.waypoints`` "map" (the default), a room's box is read off the map around the points
  the pointer chose instead (``agent.map_waypoints.box_from_map``); objects' stay as written.
- qa: exact match after normalisation, plus text metrics. caption: text metrics.

A model trained with ``--waypoint-format numbers`` (``agent.waypoint_format``; its config says so)
sees the records with their locations as text numbers and answers without location tokens or the
location grammar; its ``(x, y, z)`` waypoints and 6-number boxes are read as written (metres) and
scored against the same references, so the metrics of the two formats compare directly (a numbers
reference is rounded to 0.05 m, which ``reference_quantisation_median`` includes).

A malformed answer never raises: it is parsed as far as it goes and what could not be read counts as
wrong. With ``out_dir``: ``predictions.jsonl`` (one line a record: id, task, prompt, reference,
prediction, per-record scores, parse problems) and ``summary.json`` (metrics per task and settings),
both written atomically.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from agent.constraints import LocationGrammar
from agent.decomposition import Step, parse_decomposition
from agent.language_dataset import read_records
from agent.llm3d import ThreeDLLM
from agent.location_codec import LocationCodec
from agent.map_waypoints import box_from_map, map_walls, read_waypoints
from agent.pointer_targets import step_region
from agent.planner_metrics import (
    DEFAULT_TOLERANCE,
    box_iou,
    decomposition_metrics,
    grounding_metrics,
    normalize_answer,
    score_decomposition,
    text_metrics,
)
from agent.precision import POINT_DTYPES
from agent.training import CHECKPOINT_DIR, LanguageRecords
from agent.waypoint_format import WAYPOINT_SOURCES, box_from_numbers, location_free_generation, tokens_to_numbers, waypoint_format_of
from envs.files import atomic_write_text, writable_folder

EVAL_TASKS: tuple[str, ...] = ("decomposition", "grounding", "qa", "caption")
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass
class EvalConfig:
    """Generation settings: new-token budgets per task, the waypoint tolerance (metres), where room
    and object steps' waypoints are read from (``WAYPOINT_SOURCES``; "map" reads grounding answers'
    room boxes from the map too) and the type a loaded model's point-sized
    parts run in (``agent.precision.POINT_DTYPES``; a model given as an object is used as it is)."""

    max_new_tokens: dict[str, int] = field(default_factory=lambda: {"decomposition": 128, "grounding": 12, "qa": 24, "caption": 64})
    tolerance: float = DEFAULT_TOLERANCE
    waypoints: str = "map"
    point_dtype: str = "auto"

    def __post_init__(self) -> None:
        if self.waypoints not in WAYPOINT_SOURCES:
            raise ValueError(f"EvalConfig.waypoints must be one of {WAYPOINT_SOURCES}, got {self.waypoints!r}")
        if self.point_dtype not in POINT_DTYPES:
            raise ValueError(f"EvalConfig.point_dtype must be one of {POINT_DTYPES}, got {self.point_dtype!r}")


def load_model(model_or_folder: Any, feature_dim: int | None = None, device: torch.device | str | None = None, point_dtype: str = "auto") -> Any:
    """A model as given (anything with ``generate``), or ``ThreeDLLM.from_pretrained`` of a folder with
    its point-sized parts in ``point_dtype`` (``agent.precision``); a training output folder (holding
    ``checkpoint-last/``) means its last checkpoint."""
    if hasattr(model_or_folder, "generate"):
        return model_or_folder
    folder = Path(model_or_folder)
    if (folder / CHECKPOINT_DIR).is_dir():
        folder = folder / CHECKPOINT_DIR
    return ThreeDLLM.from_pretrained(folder, feature_dim=feature_dim, device=device, point_dtype=point_dtype)


def evaluate_planner(
    model_or_folder: Any,
    data_dir: str | Path,
    split: str = "test",
    tasks: Sequence[str] = EVAL_TASKS,
    max_records: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    out_dir: str | Path | None = None,
    config: EvalConfig | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Generate answers for the ``split`` records of ``tasks`` and score them (module doc).

    ``max_records``: at most this many records of each task (the first in file order; None: all).
    Returns ``{"split", "records", "seconds", "tasks": {task: metrics}, "config"}``; with ``out_dir``
    also writes the predictions and the summary there.
    """
    config = config or EvalConfig()
    unknown = [t for t in tasks if t not in EVAL_TASKS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {list(EVAL_TASKS)}, got {list(tasks)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if max_records is not None and (isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1):
        raise ValueError(f"max_records must be an integer >= 1 or None, got {max_records!r}")
    data_dir = Path(data_dir)
    if not (data_dir / f"{split}.jsonl").is_file():
        raise FileNotFoundError(f"{str(data_dir)!r} has no {split}.jsonl; give a folder written by `nav3d language-data`")
    out = writable_folder(out_dir, "--out") if out_dir is not None else None
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    data = LanguageRecords(data_dir, split, cache)
    records = read_records(data_dir / f"{split}.jsonl")  # same order as data.samples
    model = load_model(model_or_folder, data.feature_dim, device, config.point_dtype)
    waypoint_format = waypoint_format_of(model)
    if waypoint_format != data.waypoint_format:
        data = LanguageRecords(data_dir, split, cache, waypoint_format)
    device = getattr(model, "device", torch.device("cpu"))
    began = time.perf_counter()
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    from tqdm import tqdm

    for task in tasks:
        indices = [i for i, r in enumerate(records) if r.get("task") == task][: max_records or None]
        predictions: list[str] = []
        weights: list[list[np.ndarray]] = []
        for start in tqdm(range(0, len(indices), batch_size), desc=task, unit="batch", file=sys.stderr, disable=not progress):
            chunk = indices[start : start + batch_size]
            texts, chunk_weights = _generate(model, data, chunk, task, config, device)
            predictions.extend(texts)
            weights.extend(chunk_weights)
        chosen = [records[i] for i in indices]
        reads_map = config.waypoints == "map" if task == "grounding" else task == "decomposition" and config.waypoints != "tokens"
        if reads_map:
            samples = [data.samples[i] for i in indices]
            walls = map_walls(model, [s.features for s in samples]) if config.waypoints == "map" else [None] * len(samples)
            pointer = (weights, [s.points for s in samples], walls)
            task_metrics, task_rows = SCORERS[task](chosen, predictions, config, waypoint_format, pointer)
        else:
            task_metrics, task_rows = SCORERS[task](chosen, predictions, config, waypoint_format)
        metrics[task] = task_metrics
        rows.extend(task_rows)
    summary = {
        "split": split,
        "data_dir": str(data_dir),
        "records": len(rows),
        "seconds": round(time.perf_counter() - began, 3),
        "tasks": metrics,
        "config": {
            **asdict(config), "batch_size": batch_size, "max_records": max_records, "waypoint_format": waypoint_format,
            "point_dtype_used": str(getattr(model, "point_dtype", "n/a")).removeprefix("torch."),
        },
    }
    if out is not None:
        atomic_write_text(out / PREDICTIONS_FILE, "".join(json.dumps(r) + "\n" for r in rows))
        atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


def _generate(model: Any, data: LanguageRecords, indices: list[int], task: str, config: EvalConfig, device: Any) -> tuple[list[str], list[list[np.ndarray]]]:
    """The answers to ``indices`` and, per answer, the pointer's weights per location triple (empty
    lists for a model without ``generate_with_weights``)."""
    batch = data.batch(indices, device)
    constrained = task in ("decomposition", "grounding") and data.waypoint_format == "tokens"
    grammar = LocationGrammar(group_size=6) if task == "grounding" else LocationGrammar()
    kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens[task], "constrain_locations": constrained, "bounds": batch["bounds"]}
    if constrained:
        kwargs["grammar"] = grammar
    if data.waypoint_format == "numbers":
        kwargs.update(location_free_generation(model))
    inputs = (batch["points"], batch["features"], batch["point_mask"], batch["prompts"])
    if hasattr(model, "generate_with_weights"):
        generations = model.generate_with_weights(*inputs, **kwargs)
        return [g.text for g in generations], [g.point_weights for g in generations]
    texts = model.generate(*inputs, **kwargs)
    return [t if isinstance(t, str) else "" for t in texts], [[] for _ in texts]


# -------------------------------------------------------------------------------- scoring per task


def _row(record: dict, prediction: str, **extra: Any) -> dict[str, Any]:
    return {"id": record.get("id"), "task": record.get("task"), "scene_id": record.get("scene_id"), "prompt": record.get("prompt"),
            "reference": record.get("answer"), "prediction": prediction, **extra}


def _start(record: dict) -> np.ndarray | None:
    """The agent's start (3,) world metres of a decomposition record (``meta["start"]``), or None
    for a record without it (room steps are then read at the pointer's mean, objects as written)."""
    start = (record.get("meta") or {}).get("start")
    return None if start is None else np.asarray(start, dtype=np.float64)


def _reference_steps(record: dict, codec: LocationCodec) -> list[Step]:
    """The reference steps: parsed from the answer, waypoints replaced by the exact ones of ``meta``."""
    parsed = list(parse_decomposition(record["answer"], codec))
    truth = (record.get("meta") or {}).get("steps")
    if isinstance(truth, list) and len(truth) == len(parsed):
        parsed = [Step(s.index, s.action, s.target, np.asarray(t["waypoint"], dtype=np.float64), s.bins) for s, t in zip(parsed, truth)]
    return parsed


def _score_decompositions(
    records: list[dict], predictions: list[str], config: EvalConfig, waypoint_format: str = "tokens",
    pointer: tuple[list[list[np.ndarray]], list[np.ndarray], list[np.ndarray | None]] | None = None,
) -> tuple[dict, list[dict]]:
    """Decomposition metrics; ``pointer``: per record the pointer's weights per triple, the scene's
    points (N, 3) and which of them are walls (N,) or None, from which room steps' waypoints are read
    (``agent.map_waypoints.read_waypoints``)."""
    scores, quantisation, rows, inside = [], [], [], []
    for k, (record, text) in enumerate(zip(records, predictions)):
        codec = LocationCodec.from_dict(record["codec"])
        reference = _reference_steps(record, codec)
        parsed = parse_decomposition(text, codec, waypoint_format)
        steps = list(parsed)
        if pointer is not None:
            steps, _ = read_waypoints(config.waypoints, steps, pointer[0][k], pointer[1][k], pointer[2][k], _start(record))
        score = score_decomposition(steps, reference, config.tolerance)
        scores.append(score)
        inside.extend(_rooms_reached(steps, record))
        shown = tokens_to_numbers(record["answer"], codec) if waypoint_format == "numbers" else record["answer"]  # as the model saw it
        quantisation.extend(score_decomposition(list(parse_decomposition(shown, codec, waypoint_format)), reference, config.tolerance).errors)
        waypoints = [None if st.waypoint is None else [round(float(v), 4) for v in st.waypoint] for st in steps]  # as scored
        rows.append(_row(record, text, right=score.right, slots=score.slots, f1=score.f1, waypoint_errors=list(score.errors), waypoints=waypoints, problems=parsed.problems))
    metrics = decomposition_metrics(scores, config.tolerance)
    metrics["reference_quantisation_median"] = float(np.median(quantisation)) if quantisation else None
    metrics["room_steps_scored"] = len(inside)
    metrics["room_waypoint_inside"] = float(np.mean(inside)) if inside else None
    metrics["text"] = text_metrics(predictions, [r["answer"] for r in records])
    return metrics, rows


def _rooms_reached(steps: list[Step], record: dict) -> list[bool]:
    """For each reference room step with a recorded extent whose predicted step at the same place has
    the same action and target and a waypoint: whether that waypoint lies inside the room (x/z), which
    is what reaching a room subgoal asks (``envs.measures.SubgoalProgress``)."""
    truth = (record.get("meta") or {}).get("steps") or []
    out = []
    for i, t in enumerate(truth):
        if t.get("kind") != "room" or "extent" not in t or i >= len(steps):
            continue
        step = steps[i]
        if step.action == t.get("action") and step.target == t.get("target") and step.waypoint is not None:
            out.append(bool(step_region(t).contains(step.waypoint)[0]))
    return out


def _predicted_box(text: str, codec: LocationCodec, waypoint_format: str = "tokens") -> tuple[np.ndarray | None, str | None]:
    try:
        return (box_from_numbers(text) if waypoint_format == "numbers" else codec.decode_box(text)), None
    except ValueError as exc:
        return None, str(exc)


def _score_grounding(
    records: list[dict], predictions: list[str], config: EvalConfig, waypoint_format: str = "tokens",
    pointer: tuple[list[list[np.ndarray]], list[np.ndarray], list[np.ndarray | None]] | None = None,
) -> tuple[dict, list[dict]]:
    """Grounding metrics; ``pointer`` as for decompositions, from which room boxes are read
    (``agent.map_waypoints.box_from_map``)."""
    ious, rows = [], []
    for k, (record, text) in enumerate(zip(records, predictions)):
        codec = LocationCodec.from_dict(record["codec"])
        reference, _ = _predicted_box(record["answer"], codec)
        box, problem = _predicted_box(text, codec, waypoint_format)
        read = None
        if pointer is not None and pointer[2][k] is not None:
            box, read = box_from_map(box, pointer[0][k], pointer[1][k], pointer[2][k])
        iou = box_iou(box, reference) if box is not None and reference is not None else 0.0
        ious.append(iou)
        scored = None if box is None else [round(float(v), 4) for v in box]
        rows.append(_row(record, text, iou=iou, box=scored, read_from_map=read is not None, problems=[problem] if problem else []))
    return grounding_metrics(ious), rows


def _score_qa(records: list[dict], predictions: list[str], config: EvalConfig, waypoint_format: str = "tokens") -> tuple[dict, list[dict]]:
    references = [r["answer"] for r in records]
    rows = [_row(r, p, exact=normalize_answer(p) == normalize_answer(r["answer"])) for r, p in zip(records, predictions)]
    exact = sum(row["exact"] for row in rows) / len(rows) if rows else 0.0
    return {"records": len(rows), "exact_match": exact, "text": text_metrics(predictions, references)}, rows


def _score_captions(records: list[dict], predictions: list[str], config: EvalConfig, waypoint_format: str = "tokens") -> tuple[dict, list[dict]]:
    rows = [_row(r, p) for r, p in zip(records, predictions)]
    return {"records": len(rows), "text": text_metrics(predictions, [r["answer"] for r in records])}, rows


SCORERS = {"decomposition": _score_decompositions, "grounding": _score_grounding, "qa": _score_qa, "caption": _score_captions}
