"""How a 3D-LLM writes locations: location tokens, or text numbers (the issue's ablation (2)).

- ``"tokens"`` (the default): a waypoint is 3 location tokens ``<lx><ly><lz>`` and a box 6
  (``agent.location_codec``); the model has the location grammar and, optionally, the pointer head.
- ``"numbers"``: the same locations written as text numbers in world metres with one decimal: a
  waypoint ``(1.2, 0.0, -3.4)`` and a box ``(xmin, ymin, zmin, xmax, ymax, zmax)``. The model sees
  positions only through its position embeddings (no location tokens, no pointer head, no grammar).

Datasets on disk stay in tokens; a ``numbers`` run converts each record's prompt and answer with
:func:`tokens_to_numbers` and that record's codec when it loads them (``agent.training.LanguageRecords``),
so a number is the bin centre of the token it replaces, rounded to 0.05 m. ``nav3d train
--waypoint-format numbers`` records the format in the checkpoint's ``config.json`` as
``map_data["waypoint_format"]`` (absent = ``"tokens"``; :func:`waypoint_format_of`), which the planner
and ``nav3d eval-planner`` read to parse the answers (:func:`parse_numbers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from agent.location_codec import LocationCodec

WAYPOINT_FORMATS: tuple[str, ...] = ("tokens", "numbers")
"""The ``--waypoint-format`` choices (module doc)."""

WAYPOINT_SOURCES = ("map", "pointer", "tokens")
"""Where a pointer-head model's room ("go to the kitchen") and object ("find the mug") steps take
their waypoints from: the map's geometry around the points the pointer chose ("map",
``agent.map_waypoints``: a room's middle between its walls, the first place within reach of the
object on the way), the pointer's weighted mean for room steps alone ("pointer",
``agent.pointer_targets.room_waypoints_from_pointer``), or the location tokens as written. Models
without a pointer head always use their tokens (or numbers)."""
MAP_DATA_KEY = "waypoint_format"
"""The key of ``ThreeDLLMConfig.map_data`` that records a model's waypoint format."""

_RUN = re.compile(r"(?:<loc(?:0|[1-9][0-9]*)>)+")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_GROUP = re.compile(rf"\(\s*({_NUMBER}(?:\s*,\s*{_NUMBER})*)\s*\)")
LOCATION_NUMBERS = re.compile(rf"\(\s*{_NUMBER}(?:\s*,\s*{_NUMBER}){{2}}(?:(?:\s*,\s*{_NUMBER}){{3}})?\s*\)")
"""A location written as numbers: a parenthesised group of 3 or 6 comma-separated numbers."""


def check_waypoint_format(value: str) -> str:
    """``value`` when it is one of ``WAYPOINT_FORMATS``, else a ValueError naming the choices."""
    if value not in WAYPOINT_FORMATS:
        raise ValueError(f"waypoint format must be one of {WAYPOINT_FORMATS}, got {value!r}")
    return value


def format_numbers(values: Any) -> str:
    """``"(1.2, 0.0, -3.4)"``: metres with one decimal (no ``-0.0``)."""
    return "(" + ", ".join(f"{round(float(v), 1) + 0.0:.1f}" for v in values) + ")"


def tokens_to_numbers(text: str, codec: LocationCodec) -> str:
    """``text`` with each run of location tokens written as numbers (module doc): a run of 3 is a
    waypoint, a run of 6 a box (bin centres of ``codec``, metres). Another run length, or a token
    outside the codec's bins, is a ValueError naming it."""

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        count = len(codec.parse_location_tokens(run))
        if count == 3:
            return format_numbers(codec.decode_point(run))
        if count == 6:
            return format_numbers(codec.decode_box(run))
        raise ValueError(f"cannot write {run!r} as numbers: a location is 3 tokens (a point) or 6 (a box), not {count}")

    return _RUN.sub(replace, text)


def parse_numbers(text: str) -> list[tuple[float, ...]]:
    """The parenthesised groups of comma-separated numbers in ``text`` (metres), in order:
    ``"go to (1.2, 0.0, -3.4)"`` -> ``[(1.2, 0.0, -3.4)]``. Callers check the group sizes (3 or 6)."""
    return [tuple(float(v) for v in match.group(1).split(",")) for match in _GROUP.finditer(text)]


def box_from_numbers(text: str) -> np.ndarray:
    """(6,) ``xmin ymin zmin xmax ymax zmax`` metres of the one 6-number group in ``text`` (a grounding
    answer); no such group, several groups, or a minimum above its maximum is a ValueError."""
    groups = parse_numbers(text)
    if len(groups) != 1 or len(groups[0]) != 6:
        raise ValueError(f"a box is one group of 6 numbers (xmin, ymin, zmin, xmax, ymax, zmax), got groups of sizes {[len(g) for g in groups]}")
    box = np.asarray(groups[0], dtype=np.float64)
    if np.any(box[:3] > box[3:]):
        raise ValueError(f"box minimum exceeds its maximum on some axis: {box.tolist()}")
    return box


def location_free_generation(model: Any) -> dict[str, Any]:
    """``generate`` keyword arguments that keep a model's location tokens out of its answers (for a
    "numbers" model, whose tokenizer still holds them): ``bad_words_ids`` of its ``location_ids``."""
    ids = getattr(model, "location_ids", None) or []
    return {"bad_words_ids": [[int(i)] for i in ids]} if ids else {}


def strip_numbers(text: str) -> str:
    """``text`` without its parenthesised number groups (each replaced by a space)."""
    return _GROUP.sub(" ", text)


def waypoint_format_of(model: Any) -> str:
    """The waypoint format a model was trained with: its ``config.map_data["waypoint_format"]``
    ("tokens" when absent, or for an object without that config)."""
    data = getattr(getattr(model, "config", None), "map_data", None)
    value = data.get(MAP_DATA_KEY, "tokens") if isinstance(data, Mapping) else "tokens"
    return check_waypoint_format(value)
