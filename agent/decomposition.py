"""Task decompositions as text: ordered steps, each an action phrase, its target and a waypoint.

The answer format (one line; ``parse_decomposition`` also accepts newlines between steps)::

    1. go to the kitchen <loc12><loc3><loc40> 2. find the red mug <loc30><loc3><loc51>

Step ``k`` is ``"{k}. {action} the {target} {x}{y}{z}"``: ``action`` is one of ``ACTIONS`` ("go to"
for a room, "find" for an object), ``target`` the room name or the object's ``[colour] category``,
and ``x y z`` three location tokens (``agent.location_codec``) of the step's waypoint, a navigable
point at floor height (world metres, Y up).

``parse_decomposition`` never raises on malformed text: it returns the steps it could read and a
list of problems (what was wrong and where), so an evaluator can score partial answers. With
``waypoint_format="numbers"`` (``agent.waypoint_format``, an ablation) a waypoint is written
``(x, y, z)`` in metres instead of three tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from agent.location_codec import LOCATION_TOKEN, LocationCodec, location_token_name
from agent.waypoint_format import check_waypoint_format, parse_numbers, strip_numbers

ACTIONS: tuple[str, ...] = ("go to", "find")
"""Step actions: "go to" a room, "find" an object."""
ACTION_OF_KIND = {"room": "go to", "object": "find"}

_STEP_START = re.compile(r"(?:(?<=\s)|^)(\d+)\s*[.)](?=\s|$|<)")
_LOCATION_LIKE = re.compile(r"<\s*loc\s*[^<>\s]*>?", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    """One step: its 1-based ``index`` as written, ``action`` ("go to", "find", or "" when the text
    named none), ``target`` text ("kitchen", "red mug"), the ``bins`` of its location tokens and the
    ``waypoint`` they decode to ((3,) world metres, bin centres), or None when it has no valid
    three tokens. ``box`` ((6,) world metres: xmin ymin zmin xmax ymax zmax) is the target's extent
    when the source knows it (an oracle plan); the answer format carries none, so parsed steps have
    None."""

    index: int
    action: str
    target: str
    waypoint: np.ndarray | None = None
    bins: tuple[int, ...] = ()
    box: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Step):
            return NotImplemented
        return (
            (self.index, self.action, self.target, self.bins) == (other.index, other.action, other.target, other.bins)
            and _same_array(self.waypoint, other.waypoint)
            and _same_array(self.box, other.box)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def text(self) -> str:
        """The step's phrase without number or tokens: ``"find the red mug"`` (``target`` alone when
        the text named no action)."""
        return f"{self.action} the {self.target}" if self.action else self.target

    @property
    def key(self) -> tuple[str, str]:
        """(action, target): what step-level matching compares besides the waypoint."""
        return (self.action, self.target)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "action": self.action,
            "target": self.target,
            "bins": list(self.bins),
            "waypoint": None if self.waypoint is None else [float(v) for v in self.waypoint],
            "box": None if self.box is None else [float(v) for v in self.box],
        }


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


class ParsedDecomposition(list):
    """The steps read from a text (a ``list[Step]``) plus ``problems``: one message per thing that
    could not be read as the format says (empty when the text is well formed)."""

    def __init__(self, steps: Sequence[Step] = (), problems: Sequence[str] = ()) -> None:
        super().__init__(steps)
        self.problems: list[str] = list(problems)

    @property
    def ok(self) -> bool:
        """Whether the text was well formed (no problems)."""
        return not self.problems


def step_text(index: int, action: str, target: str, tokens: Sequence[str]) -> str:
    """``"2. find the red mug <loc1><loc2><loc3>"``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown step action {action!r}; steps use one of {list(ACTIONS)}")
    return f"{int(index)}. {action} the {target} {''.join(tokens)}"


def format_decomposition(steps: Sequence[tuple[str, str, np.ndarray]], codec: LocationCodec) -> str:
    """The answer text of ``(action, target, waypoint)`` steps, numbered from 1; waypoints are world
    metres, encoded with ``codec``."""
    return " ".join(step_text(i + 1, a, t, codec.encode_point(np.asarray(w, dtype=np.float64))) for i, (a, t, w) in enumerate(steps))


def parse_decomposition(text: str, codec: LocationCodec | None = None, waypoint_format: str = "tokens") -> ParsedDecomposition:
    """The steps of a decomposition ``text`` (see the module doc), never raising.

    Steps start at ``"<k>."`` (or ``"<k>)"``) preceded by whitespace or the start of the text. For
    each step: the action is the leading ``"go to"``/``"find"`` (case-insensitive), the target is the
    rest of its words without a leading "the" and trailing punctuation, and the waypoint is decoded
    from exactly three well-formed location tokens inside ``codec``'s bins. Problems reported: no
    numbered step, text before step 1, numbers out of sequence, an unknown action, an empty target,
    a token count other than three, malformed or out-of-range tokens (dropped), and a missing codec
    (waypoints stay None). The steps keep the text's order.

    ``waypoint_format`` "numbers" (``agent.waypoint_format``): a step's waypoint is instead its one
    ``(x, y, z)`` group of metres, taken as written (no codec needed; with one, ``bins`` are its bins),
    and a group count other than one, or a group of other than 3 numbers, is a problem.
    """
    check_waypoint_format(waypoint_format)
    problems: list[str] = []
    if not isinstance(text, str):
        return ParsedDecomposition([], [f"expected text, got {type(text).__name__}"])
    starts = list(_STEP_START.finditer(text))
    if not starts:
        return ParsedDecomposition([], ["no numbered step found (expected '1. go to the <room> <loc..><loc..><loc..> 2. ...')"])
    before = text[: starts[0].start()].strip()
    if before:
        problems.append(f"text before the first step was ignored: {_short(before)!r}")
    if codec is None and waypoint_format == "tokens":
        problems.append("no location codec given: waypoints were not decoded")
    steps: list[Step] = []
    for n, match in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else len(text)
        index = int(match.group(1))
        if index != n + 1:
            problems.append(f"step {n + 1} is numbered {index}")
        read = _numbers_waypoint if waypoint_format == "numbers" else _token_waypoint
        steps.append(_parse_step(index, text[match.end() : end], codec, problems, read))
    return ParsedDecomposition(steps, problems)


def _token_waypoint(where: str, body: str, codec: LocationCodec | None, problems: list[str]) -> tuple[str, np.ndarray | None, tuple[int, ...]]:
    """A step body's words, and the waypoint and bins of its three location tokens."""
    bins: list[int] = []
    for m in LOCATION_TOKEN.finditer(body):
        value = int(m.group(1))
        if codec is not None and value >= codec.bins:
            problems.append(f"{where}: location token {m.group(0)} is outside the codec's {codec.bins} bins (dropped)")
        else:
            bins.append(value)
    stripped = LOCATION_TOKEN.sub(" ", body)
    for m in _LOCATION_LIKE.finditer(stripped):
        problems.append(f"{where}: malformed location token {m.group(0)!r} (dropped)")
    waypoint = None
    if len(bins) != 3:
        problems.append(f"{where}: {len(bins)} location tokens, expected 3 (x y z)")
    elif codec is not None:
        waypoint = np.array([codec.value_of(b, axis) for axis, b in enumerate(bins)], dtype=np.float64)
    return _LOCATION_LIKE.sub(" ", stripped), waypoint, tuple(bins)


def _numbers_waypoint(where: str, body: str, codec: LocationCodec | None, problems: list[str]) -> tuple[str, np.ndarray | None, tuple[int, ...]]:
    """A step body's words, and the waypoint of its one ``(x, y, z)`` group (bins under ``codec``)."""
    groups = parse_numbers(body)
    if len(groups) != 1 or len(groups[0]) != 3:
        sizes = [len(g) for g in groups]
        problems.append(f"{where}: number groups of sizes {sizes}, expected one (x, y, z)")
        return strip_numbers(body), None, ()
    waypoint = np.asarray(groups[0], dtype=np.float64)
    bins = () if codec is None else tuple(int(codec.bin_of(waypoint[axis], axis)) for axis in range(3))
    return strip_numbers(body), waypoint, bins


_WaypointReader = Callable[[str, str, "LocationCodec | None", list[str]], tuple[str, "np.ndarray | None", tuple[int, ...]]]
"""(where, step body, codec, problems) -> (the body's words, waypoint, bins): one per waypoint format."""


def _parse_step(index: int, body: str, codec: LocationCodec | None, problems: list[str], read: _WaypointReader = _token_waypoint) -> Step:
    where = f"step {index}"
    words, waypoint, bins = read(where, body, codec, problems)
    words = re.sub(r"\s+", " ", words).strip().strip(".,;:").strip().lower()
    action = ""
    for candidate in ACTIONS:
        if words == candidate or words.startswith(candidate + " "):
            action, words = candidate, words[len(candidate) :].strip()
            break
    else:
        problems.append(f"{where}: no known action (expected one of {list(ACTIONS)}) in {_short(words)!r}")
    if words == "the" or words.startswith("the "):
        words = words[3:].strip()
    target = words.strip(".,;: ")
    if not target:
        problems.append(f"{where}: no target")
    return Step(index, action, target, waypoint, bins)


def tokens_of_bins(bins: Sequence[int]) -> list[str]:
    """``[<loc..>, ...]`` for bin indices."""
    return [location_token_name(b) for b in bins]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class StepTruth:
    """A ground-truth step as the generator knows it: the subgoal ``kind`` ("room"/"object"), the
    ``target`` text, the waypoint (world metres) and what it refers to (``room`` name or
    ``instance_id``)."""

    kind: str
    target: str
    waypoint: tuple[float, float, float]
    room: str | None = None
    instance_id: int | None = None
    color: str | None = None
    category: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def action(self) -> str:
        return ACTION_OF_KIND[self.kind]

    def to_dict(self) -> dict:
        d = {
            "kind": self.kind,
            "action": self.action,
            "target": self.target,
            "waypoint": [float(v) for v in self.waypoint],
            "room": self.room,
            "instance_id": self.instance_id,
            "color": self.color,
            "category": self.category,
        }
        d.update(self.extra)
        return d
