"""Ground truth a scene's semantics give for language data: naming objects, counting, and spatial
relations, all geometrically defined on the scene's boxes and mesh (world frame Y up, metres).

- **Targets**: objects whose category is not structural (``STRUCTURAL_CATEGORIES``: floor, wall,
  ceiling, door, window, ...).
- **Referring expressions** (``SceneFacts.name``): the shortest of "sofa" (the only one of its
  category in the scene), "red mug" (the only red mug), "mug in the kitchen" (the only mug in its
  room), "red mug in the kitchen"; None when none of these picks the object out.
- **on(A, B)**: A's lowest point lies within ``on_tolerance`` of an upward-facing face of B (normal
  within about 25 degrees of +Y) whose x/z triangle contains the centre of A's footprint; A and B
  are targets (so nothing is "on" the floor). Each A has at most one support: the one with most
  such faces.
- **next to(A, B)**: A and B are targets in the same room, neither is on the other, their height
  ranges overlap, and the x/z gap between their boxes is at most ``next_to_distance``.
- **left/right of R, seen from V**: a viewer at V facing the centre of R (x/z); target T is to the
  left when ``(T - R) . right < -lateral_margin`` (x/z centres; ``right`` = the viewer's right,
  the forward direction turned -90 degrees about +Y), to the right when it exceeds
  ``lateral_margin``; neither (not asked) in between.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from envs.episode_generator import STRUCTURAL_CATEGORIES
from envs.scene import Scene, SceneObject

_UPWARD = 0.9  # |n_y| / |n| of an upward-facing face

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class RelationConfig:
    """Thresholds of the spatial relations (metres)."""

    on_tolerance: float = 0.02
    next_to_distance: float = 0.5
    lateral_margin: float = 0.3
    max_lateral_distance: float = 2.5
    """left/right: the target's x/z distance to the reference at most this."""
    min_viewer_distance: float = 1.0
    """left/right: the viewer at least this far (x/z) from the reference."""


def plural(category: str) -> str:
    """English plural of a category name ("shelf" -> "shelves", "glass" -> "glasses")."""
    if category.endswith("shelf"):
        return category[:-1] + "ves"
    if category.endswith(("s", "x", "ch", "sh")):
        return category + "es"
    if len(category) > 1 and category.endswith("y") and category[-2] not in "aeiou":
        return category[:-1] + "ies"
    return category + "s"


def article(word: str) -> str:
    """"a" or "an" before ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def count_phrase(category: str, n: int) -> str:
    """"a chair", "two chairs", "12 chairs"."""
    if n == 1:
        return f"{article(category)} {category}"
    word = NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
    return f"{word} {plural(category)}"


def join_phrases(items: list[str]) -> str:
    """"a, b and c"."""
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def contents_phrase(categories: list[str]) -> str:
    """"a lamp, two chairs and a sofa": categories with counts, in alphabetical order."""
    counts = Counter(categories)
    return join_phrases([count_phrase(c, counts[c]) for c in sorted(counts)])


class SceneFacts:
    """Names, counts and relations of a scene's objects (see the module doc). Pure functions of the
    scene and ``config``; results are cached on the instance."""

    def __init__(self, scene: Scene, config: RelationConfig = RelationConfig()) -> None:
        self.scene = scene
        self.config = config

    # ------------------------------------------------------------------------------------ targets

    @cached_property
    def targets(self) -> list[SceneObject]:
        """Non-structural objects, by instance id."""
        return [o for _, o in sorted(self.scene.objects.items()) if o.category not in STRUCTURAL_CATEGORIES]

    @cached_property
    def categories(self) -> list[str]:
        """Sorted distinct target categories."""
        return sorted({o.category for o in self.targets})

    @cached_property
    def room_names(self) -> list[str]:
        """Distinct region names, in the scene's order."""
        return list(dict.fromkeys(r.name for r in self.scene.regions))

    def count(self, category: str, room: str | None = None) -> int:
        """How many targets of ``category`` there are (in regions called ``room`` when given)."""
        return sum(1 for o in self.targets if o.category == category and (room is None or o.region == room))

    def in_room(self, room: str) -> list[SceneObject]:
        """The targets whose region is ``room``."""
        return [o for o in self.targets if o.region == room]

    # ------------------------------------------------------------------------------------ names

    def name(self, obj: SceneObject, with_color: bool = True) -> str | None:
        """The shortest unambiguous referring expression of ``obj`` (module doc), or None.
        ``with_color=False`` only uses category and room (for questions that ask the colour)."""
        same = [o for o in self.targets if o.category == obj.category]
        if len(same) == 1:
            return obj.category
        if with_color and obj.color and sum(o.color == obj.color for o in same) == 1:
            return f"{obj.color} {obj.category}"
        if obj.region is None:
            return None
        in_room = [o for o in same if o.region == obj.region]
        if len(in_room) == 1:
            return f"{obj.category} in the {obj.region}"
        if with_color and obj.color and sum(o.color == obj.color for o in in_room) == 1:
            return f"{obj.color} {obj.category} in the {obj.region}"
        return None

    # ------------------------------------------------------------------------------------ relations

    @cached_property
    def _up_faces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Upward-facing faces of targets: (instance id (F,), height (F,), x/z triangle (F, 3, 2))."""
        s = self.scene
        target_ids = np.array([o.instance_id for o in self.targets], dtype=np.int64)
        keep = np.isin(s.face_instance, target_ids)
        tri = s.vertices[s.faces[keep]].astype(np.float64)  # (F, 3, 3)
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(normal, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            up = (normal[:, 1] / norm) > _UPWARD
        tri = tri[up]
        return s.face_instance[keep][up].astype(np.int64), tri[:, :, 1].mean(axis=1), tri[:, :, [0, 2]]

    @cached_property
    def supports(self) -> dict[int, int]:
        """instance id of A -> instance id of the B it is on (module doc)."""
        inst, height, tri = self._up_faces
        out: dict[int, int] = {}
        for a in self.targets:
            bottom = float(a.bbox_min[1])
            c = a.center
            near = (np.abs(height - bottom) <= self.config.on_tolerance) & (inst != a.instance_id)
            if not near.any():
                continue
            hits = inst[near][_points_in_triangles(np.array([c[0], c[2]]), tri[near])]
            if len(hits):
                counts = Counter(hits.tolist())
                out[a.instance_id] = min(counts, key=lambda i: (-counts[i], i))
        return out

    def on_top_of(self, support: SceneObject) -> list[SceneObject]:
        """The targets that are on ``support``."""
        return [o for o in self.targets if self.supports.get(o.instance_id) == support.instance_id]

    def next_to(self, obj: SceneObject) -> list[SceneObject]:
        """The targets next to ``obj`` (module doc), by instance id."""
        out = []
        for o in self.targets:
            if o.instance_id == obj.instance_id or o.region != obj.region or obj.region is None:
                continue
            if self.supports.get(o.instance_id) == obj.instance_id or self.supports.get(obj.instance_id) == o.instance_id:
                continue
            if o.bbox_max[1] < obj.bbox_min[1] or obj.bbox_max[1] < o.bbox_min[1]:
                continue
            if box_gap_xz(obj, o) <= self.config.next_to_distance:
                out.append(o)
        return out

    def side(self, viewer: np.ndarray, reference: SceneObject, target: SceneObject) -> str | None:
        """"left" or "right": where ``target`` is relative to ``reference`` for a viewer at
        ``viewer`` facing the reference (module doc); None when too close to tell, too far apart,
        or the viewer is too near the reference."""
        cfg = self.config
        v = np.asarray(viewer, dtype=np.float64)[[0, 2]]
        r = reference.center[[0, 2]]
        t = target.center[[0, 2]]
        forward = r - v
        dist = float(np.linalg.norm(forward))
        if dist < cfg.min_viewer_distance or float(np.linalg.norm(t - r)) > cfg.max_lateral_distance:
            return None
        forward /= dist
        right = np.array([-forward[1], forward[0]])
        lateral = float((t - r) @ right)
        if lateral < -cfg.lateral_margin:
            return "left"
        if lateral > cfg.lateral_margin:
            return "right"
        return None


def box_gap_xz(a: SceneObject, b: SceneObject) -> float:
    """The x/z gap (metres) between two objects' boxes; 0 when their footprints overlap."""
    lo, hi = np.asarray(b.bbox_min, float), np.asarray(b.bbox_max, float)
    corners = np.array([[a.bbox_min[0], 0, a.bbox_min[2]], [a.bbox_max[0], 0, a.bbox_max[2]]], dtype=np.float64)
    # the gap between two boxes per axis is max(0, lo_b - hi_a, lo_a - hi_b)
    dx = max(0.0, lo[0] - corners[1, 0], corners[0, 0] - hi[0])
    dz = max(0.0, lo[2] - corners[1, 2], corners[0, 2] - hi[2])
    return float(np.hypot(dx, dz))


def _points_in_triangles(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Whether the x/z point (2,) lies in each triangle (F, 3, 2) (edges included)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]

    def cross(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (v[:, 0] - u[:, 0]) * (w[1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[0] - u[:, 0])

    d1, d2, d3 = cross(a, b, p), cross(b, c, p), cross(c, a, p)
    eps = 1e-12
    has_neg = (d1 < -eps) | (d2 < -eps) | (d3 < -eps)
    has_pos = (d1 > eps) | (d2 > eps) | (d3 > eps)
    return ~(has_neg & has_pos)
