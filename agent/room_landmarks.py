"""Which object categories tell a room apart, and where the agent has seen such a room.

The maps' features name object categories, not rooms, and on a partly explored map the 3D-LLM
often places a room step in the wrong room (held-out instruction episodes: a kitchen step sent to
the laundry room while the map showed the kitchen's oven). A room type's *landmarks* are the
categories whose instances lie mostly in rooms of that type (an oven in a kitchen, a toilet in a
bathroom), counted over labelled training scenes (:meth:`RoomLandmarks.from_scenes`): a prior
learned from data, as the 3D-LLM's own is. ``agent/room_landmarks.json`` ships the table counted
over the 3D-LLM's training houses (``nav3d room-landmarks``; the command is in the file).

:func:`point_categories` sorts features (of map points, or of the instances the agent's frames
showed) into categories: each to the category whose text embedding it is nearest, when that cosine
is at least ``min_relevance``. :func:`room_groups` groups a room's landmarks by place and keeps the
groups that tell the room as surely as its best landmark does (up to ``min_evidence``): a lone
counter (87% of counters are in kitchens) is not a kitchen, a refrigerator is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_FILE = Path(__file__).with_name("room_landmarks.json")


@dataclass(frozen=True)
class RoomLandmarks:
    """``landmarks[room]``: the categories that tell that room type, each with the share of its
    instances found in rooms of that type (``from_scenes``); ``categories``: every category
    counted, the classes map points are sorted into; ``source``: how the table was made."""

    landmarks: dict[str, dict[str, float]]
    categories: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        unknown = sorted({c for cs in self.landmarks.values() for c in cs} - set(self.categories))
        if unknown:
            raise ValueError(f"room landmarks {unknown} are not among the table's categories")

    @classmethod
    def from_scenes(
        cls, scenes: Iterable, min_share: float = 0.7, min_instances: int = 5, exclude: Iterable[str] = (), source: str = ""
    ) -> RoomLandmarks:
        """Count ``scenes``' objects (``envs.scene.Scene``; each object's ``region`` names its room):
        a category is a landmark of room type R when at least ``min_share`` of its (at least
        ``min_instances``) instances lie in rooms of type R. ``exclude``: categories that are never
        landmarks (walls, floors: ``envs.episode_generator.STRUCTURAL_CATEGORIES``); they are still
        classes map points are sorted into, so a floor point is not taken for the nearest landmark."""
        if not 0.5 < min_share <= 1.0:
            raise ValueError(f"min_share must be in (0.5, 1] so a category tells at most one room, got {min_share}")
        skip = set(exclude)
        in_room: Counter[tuple[str, str]] = Counter()
        total: Counter[str] = Counter()
        categories: set[str] = set()
        for scene in scenes:
            for obj in scene.objects.values():
                categories.add(obj.category)
                if obj.category in skip or not obj.region:
                    continue
                in_room[(obj.region, obj.category)] += 1
                total[obj.category] += 1
        if not total:
            raise ValueError("no object in these scenes names its room (SceneObject.region): nothing to count")
        landmarks: dict[str, dict[str, float]] = {}
        for (room, category), n in sorted(in_room.items()):
            if total[category] >= min_instances and n >= min_share * total[category]:
                landmarks.setdefault(room, {})[category] = round(n / total[category], 3)
        return cls(dict(sorted(landmarks.items())), tuple(sorted(categories)), source)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_FILE) -> RoomLandmarks:
        """Read a table written by :meth:`save` (default: the one shipped with nav3d)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no room-landmark table at {path}: write one with `nav3d room-landmarks --out {path}`")
        try:
            data = json.loads(path.read_text())
            landmarks = {r: {c: float(share) for c, share in cs.items()} for r, cs in data["landmarks"].items()}
            return cls(landmarks, tuple(data["categories"]), data.get("source", ""))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as err:
            raise ValueError(f"{path} is not a room-landmark table (JSON with 'landmarks' and 'categories'): {err}") from err

    def save(self, path: str | Path) -> Path:
        """Write the table as JSON, atomically."""
        from envs.files import atomic_write_text

        data = {"source": self.source, "landmarks": self.landmarks, "categories": list(self.categories)}
        path = Path(path)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return path

    def of(self, room: str) -> dict[str, float]:
        """The landmark categories of ``room`` with their shares (empty for a room type the table
        cannot tell)."""
        return self.landmarks.get(room, {})

    def category_embeddings(self, embed: Callable[[str], np.ndarray]) -> np.ndarray:
        """(K, C) unit text embeddings of ``categories`` by ``embed`` (e.g. a map's
        ``extractor.embed_text``, whose encoder caches them)."""
        e = np.stack([np.asarray(embed(c), dtype=np.float32) for c in self.categories])  # (K, C)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def point_categories(features: np.ndarray, embeddings: np.ndarray, min_relevance: float) -> np.ndarray:
    """(N,) for each feature (N, C) the row of ``embeddings`` (K, C, unit) it is nearest in cosine,
    or -1 when that cosine is below ``min_relevance`` (or the feature is zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)  # (N, 1)
    cosine = (features / np.maximum(norms, 1e-12)) @ embeddings.T  # (N, K)
    best = cosine.argmax(axis=1)  # (N,)
    ok = (cosine[np.arange(len(best)), best] >= min_relevance) & (norms[:, 0] > 0)
    return np.where(ok, best, -1)


@dataclass(frozen=True)
class LandmarkGroup:
    """Landmarks of one room type that lie together: ``members`` (N,) bool over the points given,
    ``evidence`` the sum of the shares of the distinct categories among them."""

    members: np.ndarray
    evidence: float


def room_groups(
    points: np.ndarray,
    classes: np.ndarray,
    room: str,
    table: RoomLandmarks,
    cluster_radius: float = 1.5,
    min_evidence: float = 0.95,
) -> list[LandmarkGroup]:
    """The groups of points (N, 3) (seen instances' positions, or map points), sorted into
    categories (N,) by :func:`point_categories`, that show a room of type ``room``: its landmark
    points, linked when within ``cluster_radius``
    metres of each other (x/z), kept when their evidence reaches ``min_evidence`` or, for a room
    whose best landmark's share is lower, that share. Empty for a room type without landmarks."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    shares = np.zeros(len(table.categories) + 1)  # index -1 (no category) reads the last, 0
    for category, share in table.of(room).items():
        shares[table.categories.index(category)] = share
    landmark = shares[classes] > 0  # (N,)
    if not landmark.any():
        return []
    needed = min(min_evidence, max(table.of(room).values()))
    index = np.flatnonzero(landmark)
    tree = cKDTree(points[index][:, [0, 2]])
    _, label = connected_components(tree.sparse_distance_matrix(tree, cluster_radius), directed=False)
    groups = []
    for g in np.unique(label):
        members = np.zeros(len(points), dtype=bool)
        members[index[label == g]] = True
        evidence = float(shares[np.unique(classes[members])].sum())
        if evidence >= needed - 1e-9:
            groups.append(LandmarkGroup(members, evidence))
    return groups
