"""3D-language records for the 3D-LLM from a scene with semantics: captions, QA, grounding and task
decomposition, deterministic given a seed.

Every record is a dict::

    {"id": "house:3:qa:5", "scene_id": "house:3", "split": "train", "task": "qa",
     "prompt": "how many chairs are in the dining room?", "answer": "6",
     "map": "maps/house_3.npz", "codec": {"lower": [..], "upper": [..], "bins": 64},
     "meta": {...ground truth...}}

``map`` is the scene's features file (``agent.scene_maps.SceneFeatures``, relative to the dataset
folder) and ``codec`` the location codec over that map's bounds; every ``<locK>`` token in a prompt
or answer is relative to it (x y z for a point, xmin ymin zmin xmax ymax zmax for a box; world frame
Y up, metres).

Tasks (``meta["kind"]`` / ``meta["qa_type"]`` say which intent made a record; the template counts
are ``TEMPLATE_COUNTS``):

- **caption**: the house (its rooms), a room (its objects with counts), an object given by its box
  tokens ("a red mug on the table in the dining room.").
- **qa**: existence in the house or a room (present categories and absent ones from
  ``vocabulary``; "yes"/"no"), counting (digits), an object's colour, an object's room, and the
  relations of ``agent.scene_facts`` (what is on X, what X is on, what is next to X, left or right
  of X seen from a point). Objects are named by ``SceneFacts.name`` so every question has one answer.
- **grounding**: "where is the red mug?" -> the object's box as 6 tokens; rooms likewise.
- **decomposition**: an instruction episode of ``envs.episode_generator`` (its subgoal sampling,
  start and paraphrase templates) framed with the agent's start as 3 tokens -> the numbered steps of
  ``agent.decomposition`` ("1. go to the kitchen <loc..><loc..><loc..> 2. find the red mug ...").
  Waypoints, chained from the start: a room's is its anchor (``agent.scene_maps.room_anchor``: the
  navigable point nearest the room's centre, on the start's island; with several rooms of that
  name, the one nearest by walking from the previous waypoint); an object's is the view point
  (navigable, within 1 m, object visible: ``EpisodeGenerator.view_points``) nearest by walking from
  the previous waypoint among the instances the step names. Both are places a navigation policy
  can stop at: the room step is reached inside the room, the object step at a view point, as the
  instruction measures define them (``envs.measures.SubgoalProgress``). Each step's ``meta`` also
  holds the ``extent`` of what it refers to (the room's box, or the object's), which training uses
  to tell the location pointer which map points a step means (``agent.pointer_targets``). ``decomposition_prompt``
  and ``step_truths`` are these two rules on their own, shared with ``agent.planner``. A scene in which the
  generator finds no valid instruction gets no decompositions (fewer records, not an error).

Candidates of each task are enumerated in a fixed order, then drawn round-robin over their intents
(so yes/no and the question types stay balanced) with a random generator seeded by ``(seed,
scene id, task)``: the same scene, codec, config and seed give identical records.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from agent.decomposition import StepTruth, format_decomposition
from agent.location_codec import LocationCodec
from agent.scene_facts import RelationConfig, SceneFacts, article, contents_phrase, count_phrase, join_phrases, plural
from agent.scene_maps import largest_island, room_anchor
from envs.episode_generator import STRUCTURAL_CATEGORIES, EpisodeGenerator, InstructionConfig, ViewPointConfig
from envs.episodes import InstructionEpisode, Subgoal
from envs.house.vocabulary import OBJECT_CATEGORIES
from envs.scene import Scene, SceneObject
from envs.simulator import Navigation, Simulator

TASKS: tuple[str, ...] = ("caption", "qa", "grounding", "decomposition")

# --------------------------------------------------------------------------------------------------
# templates ({box}/{p}: location tokens; {name}: a referring expression; {a_cat}: "a mug")

HOUSE_CAPTION_PROMPTS = (
    "describe the house.",
    "what rooms does this house have?",
    "give an overview of the scene.",
    "summarise the layout of the house.",
)
HOUSE_CAPTION_ANSWERS = ("a house with {n} rooms: {rooms}.", "the house has {n} rooms: {rooms}.")
ROOM_CAPTION_PROMPTS = (
    "describe the {room}.",
    "what is in the {room}?",
    "what does the {room} contain?",
    "give a short description of the {room}.",
    "tell me what you see in the {room}.",
)
ROOM_CAPTION_ANSWERS = ("the {room} has {contents}.", "the {room} contains {contents}.")
OBJECT_CAPTION_PROMPTS = (
    "describe the object at {box}.",
    "what is at {box}?",
    "what object is in the box {box}?",
    "caption the object at {box}.",
    "tell me about the object inside {box}.",
)
OBJECT_CAPTION_ANSWERS = ("{phrase}.", "it is {phrase}.")

EXIST_HOUSE = ("is there {a_cat} in the house?", "does the house have {a_cat}?", "can i find {a_cat} here?", "is there any {cat} in this scene?")
EXIST_ROOM = ("is there {a_cat} in the {room}?", "does the {room} have {a_cat}?", "can i find {a_cat} in the {room}?")
COUNT_HOUSE = ("how many {cats} are there?", "how many {cats} are in the house?", "count the {cats} in the scene.", "what is the number of {cats} here?")
COUNT_ROOM = ("how many {cats} are in the {room}?", "how many {cats} does the {room} have?", "count the {cats} in the {room}.")
COLOR_QUESTIONS = ("what colour is the {name}?", "what color is the {name}?", "which colour does the {name} have?", "tell me the colour of the {name}.")
ROOM_QUESTIONS = ("which room is the {name} in?", "in which room is the {name}?", "where is the {name}: which room?", "what room can i find the {name} in?")
ON_QUESTIONS = ("what is on the {name}?", "what is standing on the {name}?", "what lies on top of the {name}?")
SUPPORT_QUESTIONS = ("what is the {name} on?", "what is the {name} standing on?", "on which object is the {name}?")
NEXT_TO_QUESTIONS = ("what is next to the {name}?", "what is beside the {name}?", "which objects are next to the {name}?")
SIDE_QUESTIONS = (
    "standing at {p} and facing the {ref}, is the {tgt} to its left or to its right?",
    "from {p}, looking at the {ref}: is the {tgt} on the left or on the right of it?",
    "you are at {p} facing the {ref}. is the {tgt} left or right of it?",
)

OBJECT_GROUNDING = ("where is the {name}?", "locate the {name}.", "give the bounding box of the {name}.", "find the {name} and output its box.", "show me where the {name} is.")
ROOM_GROUNDING = ("where is the {room}?", "locate the {room}.", "give the extent of the {room}.", "show me the {room}.")

DECOMPOSITION_PROMPTS = (
    "you are at {p}. break this instruction into steps: {instruction}",
    "the agent stands at {p}. decompose the task into navigation steps with waypoints: {instruction}",
    "starting from {p}, plan the steps for: {instruction}",
    "current position {p}. instruction: {instruction}. list the steps.",
    "from {p}, how do i do this step by step? {instruction}",
)
"""Framings of the instruction; the instruction itself comes from ``envs.episode_generator``'s
templates (5 room phrases x 5 object phrases per clause, 4 ways of joining clauses)."""

TEMPLATE_COUNTS: dict[str, int] = {
    "caption/house": len(HOUSE_CAPTION_PROMPTS),
    "caption/room": len(ROOM_CAPTION_PROMPTS),
    "caption/object": len(OBJECT_CAPTION_PROMPTS),
    "qa/existence": len(EXIST_HOUSE) + len(EXIST_ROOM),
    "qa/counting": len(COUNT_HOUSE) + len(COUNT_ROOM),
    "qa/color": len(COLOR_QUESTIONS),
    "qa/room": len(ROOM_QUESTIONS),
    "qa/on": len(ON_QUESTIONS),
    "qa/support": len(SUPPORT_QUESTIONS),
    "qa/next_to": len(NEXT_TO_QUESTIONS),
    "qa/side": len(SIDE_QUESTIONS),
    "grounding/object": len(OBJECT_GROUNDING),
    "grounding/room": len(ROOM_GROUNDING),
    "decomposition": len(DECOMPOSITION_PROMPTS),
}
"""Prompt templates per intent (the decomposition's instruction text adds its own paraphrases)."""


@dataclass(frozen=True)
class LanguageDataConfig:
    """How many records of each task one scene gets, and how they are made.

    - ``captions``, ``qa``, ``grounding``, ``decompositions``: records per scene (fewer when the scene
      has fewer distinct candidates).
    - ``min_subgoals``/``max_subgoals``: steps per decomposition.
    - ``view_points``: the object view points (decomposition waypoints) are searched with it.
    - ``relations``: thresholds of the spatial relations (metres).
    - ``vocabulary``: categories existence questions may ask about when absent.
    """

    captions: int = 8
    qa: int = 24
    grounding: int = 8
    decompositions: int = 8
    min_subgoals: int = 1
    max_subgoals: int = 4
    view_points: ViewPointConfig = field(default_factory=lambda: ViewPointConfig(spacing=0.2))
    relations: RelationConfig = field(default_factory=RelationConfig)
    vocabulary: tuple[str, ...] = OBJECT_CATEGORIES

    def __post_init__(self) -> None:
        if isinstance(self.view_points, dict):
            object.__setattr__(self, "view_points", ViewPointConfig(**self.view_points))
        if isinstance(self.relations, dict):
            object.__setattr__(self, "relations", RelationConfig(**self.relations))
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        for name in ("captions", "qa", "grounding", "decompositions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"LanguageDataConfig.{name} must be an integer >= 0 (records per scene), got {value!r}")
        if not 1 <= self.min_subgoals <= self.max_subgoals:
            raise ValueError(f"LanguageDataConfig needs 1 <= min_subgoals <= max_subgoals, got {self.min_subgoals}, {self.max_subgoals}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vocabulary"] = list(self.vocabulary)
        return d


# --------------------------------------------------------------------------------------------------
# entry point


def scene_records(
    scene: Scene,
    simulator: Simulator,
    codec: LocationCodec,
    seed: int = 0,
    config: LanguageDataConfig = LanguageDataConfig(),
    scene_id: str | None = None,
    split: str | None = None,
    map_path: str | None = None,
) -> list[dict]:
    """All records of one scene (module doc), captions, QA, grounding, decompositions in that order.

    ``simulator`` gives the navigation (waypoints, view points) and must hold ``scene``; ``codec``
    turns world metres into location tokens (the codec of the scene's map); ``map_path`` and
    ``split`` are copied into every record.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    scene_id = scene_id or scene.name
    maker = _SceneLanguage(scene, simulator, codec, config, scene_id)
    builders = (
        ("caption", maker.captions, config.captions),
        ("qa", maker.questions, config.qa),
        ("grounding", maker.grounding, config.grounding),
        ("decomposition", maker.decompositions, config.decompositions),
    )
    records = []
    for task, build, n in builders:
        if n == 0:
            continue
        rng = task_rng(seed, scene_id, task)
        for i, (prompt, answer, meta) in enumerate(build(n, rng)):
            records.append({
                "id": f"{scene_id}:{task}:{i}",
                "scene_id": scene_id,
                "split": split,
                "task": task,
                "prompt": prompt,
                "answer": answer,
                "map": map_path,
                "codec": codec.to_dict(),
                "meta": meta,
            })
    return records


def task_rng(seed: int, scene_id: str, task: str) -> np.random.Generator:
    """The random generator of one task in one scene: independent of the other tasks and scenes."""
    words = [int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[:4], "big") for t in (scene_id, task)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def round_robin(groups: Sequence[Sequence[Any]], n: int, rng: np.random.Generator) -> list[Any]:
    """Up to ``n`` items: each group shuffled, then one item from each non-empty group in turn."""
    queues = [[g[i] for i in rng.permutation(len(g))] for g in groups]
    out: list[Any] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def _pick(templates: Sequence[str], rng: np.random.Generator) -> tuple[str, int]:
    i = int(rng.integers(len(templates)))
    return templates[i], i


Record = tuple[str, str, dict]


class _SceneLanguage:
    """Builds one scene's candidates per task (see the module doc)."""

    def __init__(self, scene: Scene, simulator: Simulator, codec: LocationCodec, config: LanguageDataConfig, scene_id: str) -> None:
        self.scene = scene
        self.simulator = simulator
        self.navigation = simulator.navigation
        self.codec = codec
        self.config = config
        self.scene_id = scene_id
        self.facts = SceneFacts(scene, config.relations)
        self._anchors: dict[tuple[int, int | None], np.ndarray | None] = {}

    # ------------------------------------------------------------------------------------ helpers

    def tokens(self, point: np.ndarray) -> str:
        return "".join(self.codec.encode_point(np.asarray(point, dtype=np.float64)))

    def box_tokens(self, lo: np.ndarray, hi: np.ndarray) -> str:
        return "".join(self.codec.encode_box(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)))

    def anchor(self, region_index: int, island: int | None) -> np.ndarray | None:
        key = (region_index, island)
        if key not in self._anchors:
            self._anchors[key] = room_anchor(self.navigation, self.scene.regions[region_index], island)
        return self._anchors[key]

    def object_meta(self, obj: SceneObject, **extra: Any) -> dict:
        return {
            "instance_ids": [int(obj.instance_id)],
            "category": obj.category,
            "color": obj.color,
            "room": obj.region,
            "box": [float(v) for v in np.concatenate([obj.bbox_min, obj.bbox_max])],
            **extra,
        }

    def object_phrase(self, obj: SceneObject) -> str:
        noun = f"{obj.color} {obj.category}" if obj.color else obj.category
        phrase = f"{article(noun)} {noun}"
        support = self.facts.supports.get(obj.instance_id)
        if support is not None:
            phrase += f" on the {self.scene.objects[support].category}"
        if obj.region:
            phrase += f" in the {obj.region}"
        return phrase

    # ------------------------------------------------------------------------------------ captions

    def captions(self, n: int, rng: np.random.Generator) -> list[Record]:
        facts = self.facts
        house: list[Record] = []
        if facts.room_names:
            counts = {name: sum(r.name == name for r in self.scene.regions) for name in facts.room_names}
            rooms = join_phrases([count_phrase(name, counts[name]) for name in facts.room_names])
            total = len(self.scene.regions)
            prompt, k = _pick(HOUSE_CAPTION_PROMPTS, rng)
            answer, _ = _pick(HOUSE_CAPTION_ANSWERS, rng)
            house.append((prompt, answer.format(n=total, rooms=rooms), {"kind": "house", "template": k, "rooms": list(facts.room_names)}))
        rooms_: list[Record] = []
        for name in facts.room_names:
            objs = facts.in_room(name)
            prompt, k = _pick(ROOM_CAPTION_PROMPTS, rng)
            if objs:
                answer, _ = _pick(ROOM_CAPTION_ANSWERS, rng)
                answer = answer.format(room=name, contents=contents_phrase([o.category for o in objs]))
            else:
                answer = f"the {name} is empty."
            meta = {"kind": "room", "template": k, "room": name, "instance_ids": [int(o.instance_id) for o in objs], "categories": sorted({o.category for o in objs})}
            rooms_.append((prompt.format(room=name), answer, meta))
        objects: list[Record] = []
        for obj in facts.targets:
            prompt, k = _pick(OBJECT_CAPTION_PROMPTS, rng)
            answer, _ = _pick(OBJECT_CAPTION_ANSWERS, rng)
            support = facts.supports.get(obj.instance_id)
            meta = self.object_meta(obj, kind="object", template=k, support=None if support is None else int(support))
            objects.append((prompt.format(box=self.box_tokens(obj.bbox_min, obj.bbox_max)), answer.format(phrase=self.object_phrase(obj)), meta))
        return round_robin([house, rooms_, objects], n, rng)

    # ------------------------------------------------------------------------------------ QA

    def questions(self, n: int, rng: np.random.Generator) -> list[Record]:
        facts = self.facts
        present, absent, in_room, counting, colors, rooms, on, support, next_to, side = ([] for _ in range(10))
        for cat in facts.categories:
            q, k = _pick(EXIST_HOUSE, rng)
            present.append((q.format(a_cat=f"{article(cat)} {cat}", cat=cat), "yes", {"qa_type": "existence", "scope": "house", "template": k, "category": cat, "present": True, "count": facts.count(cat)}))
        for cat in sorted(set(self.config.vocabulary) - set(facts.categories) - set(STRUCTURAL_CATEGORIES)):
            q, k = _pick(EXIST_HOUSE, rng)
            absent.append((q.format(a_cat=f"{article(cat)} {cat}", cat=cat), "no", {"qa_type": "existence", "scope": "house", "template": k, "category": cat, "present": False, "count": 0}))
        for room in facts.room_names:
            here = {o.category for o in facts.in_room(room)}
            for cat in facts.categories:  # categories of the house, present in this room or not
                q, k = _pick(EXIST_ROOM, rng)
                yes = cat in here
                in_room.append((q.format(a_cat=f"{article(cat)} {cat}", room=room), "yes" if yes else "no",
                                {"qa_type": "existence", "scope": "room", "template": k, "category": cat, "room": room, "present": yes, "count": facts.count(cat, room)}))
        for cat in facts.categories:
            q, k = _pick(COUNT_HOUSE, rng)
            c = facts.count(cat)
            counting.append((q.format(cats=plural(cat)), str(c), {"qa_type": "counting", "scope": "house", "template": k, "category": cat, "count": c,
                                                                  "instance_ids": [int(o.instance_id) for o in facts.targets if o.category == cat]}))
        for room in facts.room_names:
            for cat in sorted({o.category for o in facts.in_room(room)}):
                q, k = _pick(COUNT_ROOM, rng)
                c = facts.count(cat, room)
                counting.append((q.format(cats=plural(cat), room=room), str(c), {"qa_type": "counting", "scope": "room", "template": k, "category": cat, "room": room, "count": c,
                                                                                 "instance_ids": [int(o.instance_id) for o in facts.in_room(room) if o.category == cat]}))
        viewer_island = largest_island(self.navigation)
        for obj in facts.targets:
            plain = facts.name(obj, with_color=False)
            if obj.color and plain is not None:
                q, k = _pick(COLOR_QUESTIONS, rng)
                colors.append((q.format(name=plain), obj.color, self.object_meta(obj, qa_type="color", template=k, name=plain)))
            name = facts.name(obj)
            if name is None:
                continue
            if obj.region and " in the " not in name:
                q, k = _pick(ROOM_QUESTIONS, rng)
                rooms.append((q.format(name=name), obj.region, self.object_meta(obj, qa_type="room", template=k, name=name)))
            above = facts.on_top_of(obj)
            if above:
                q, k = _pick(ON_QUESTIONS, rng)
                on.append((q.format(name=name), contents_phrase([o.category for o in above]),
                           self.object_meta(obj, qa_type="on", template=k, name=name, answer_ids=[int(o.instance_id) for o in above])))
            below = facts.supports.get(obj.instance_id)
            if below is not None:
                q, k = _pick(SUPPORT_QUESTIONS, rng)
                support.append((q.format(name=name), self.scene.objects[below].category, self.object_meta(obj, qa_type="support", template=k, name=name, answer_ids=[int(below)])))
            near = facts.next_to(obj)
            if near:
                q, k = _pick(NEXT_TO_QUESTIONS, rng)
                next_to.append((q.format(name=name), contents_phrase([o.category for o in near]),
                                self.object_meta(obj, qa_type="next_to", template=k, name=name, answer_ids=[int(o.instance_id) for o in near])))
            side.extend(self._side_questions(obj, name, viewer_island, rng))
        groups = [present, absent, in_room, counting, colors, rooms, on, support, next_to, side]
        return round_robin(groups, n, rng)

    def _side_questions(self, ref: SceneObject, ref_name: str, island: int | None, rng: np.random.Generator) -> list[Record]:
        """Left/right questions about the targets in ``ref``'s room, seen from the room's anchor."""
        regions = [i for i, r in enumerate(self.scene.regions) if r.name == ref.region and r.contains(ref.center)[0]]
        if not regions:
            return []
        viewer = self.anchor(regions[0], island)
        if viewer is None:
            return []
        out = []
        for tgt in self.facts.in_room(ref.region):
            if tgt.instance_id == ref.instance_id or tgt.category == ref.category:
                continue
            tgt_name = self.facts.name(tgt)
            where = self.facts.side(viewer, ref, tgt)
            if tgt_name is None or where is None:
                continue
            q, k = _pick(SIDE_QUESTIONS, rng)
            meta = self.object_meta(ref, qa_type="side", template=k, name=ref_name, target_id=int(tgt.instance_id), target_name=tgt_name,
                                    viewer=[float(v) for v in viewer])
            out.append((q.format(p=self.tokens(viewer), ref=ref_name, tgt=tgt_name), where, meta))
        return out

    # ------------------------------------------------------------------------------------ grounding

    def grounding(self, n: int, rng: np.random.Generator) -> list[Record]:
        objects: list[Record] = []
        for obj in self.facts.targets:
            name = self.facts.name(obj)
            if name is None:
                continue
            q, k = _pick(OBJECT_GROUNDING, rng)
            objects.append((q.format(name=name), self.box_tokens(obj.bbox_min, obj.bbox_max), self.object_meta(obj, kind="object", template=k, name=name)))
        rooms: list[Record] = []
        for name in self.facts.room_names:
            regions = [r for r in self.scene.regions if r.name == name]
            if len(regions) != 1:
                continue
            r = regions[0]
            q, k = _pick(ROOM_GROUNDING, rng)
            meta = {"kind": "room", "template": k, "room": name, "box": [float(v) for v in np.concatenate([r.bbox_min, r.bbox_max])]}
            rooms.append((q.format(room=name), self.box_tokens(r.bbox_min, r.bbox_max), meta))
        return round_robin([objects, rooms], n, rng)

    # ------------------------------------------------------------------------------------ decompositions

    def decompositions(self, n: int, rng: np.random.Generator) -> list[Record]:
        cfg = self.config
        generator = EpisodeGenerator(self.simulator, scene=self.scene, scene_id=self.scene_id, view_config=cfg.view_points)
        icfg = InstructionConfig(min_subgoals=cfg.min_subgoals, max_subgoals=cfg.max_subgoals)
        out: list[Record] = []
        for i in range(n):
            try:
                episode = generator.instruction_episode(rng, icfg, episode_id=f"{self.scene_id}:{i}")
            except (ValueError, RuntimeError):  # no rooms/objects to instruct with, or none reachable: none from this scene
                break
            steps = self.step_truths(episode)
            answer = format_decomposition([(s.action, s.target, np.asarray(s.waypoint)) for s in steps], self.codec)
            _, k = _pick(DECOMPOSITION_PROMPTS, rng)
            start = np.asarray(episode.start_position, dtype=np.float64)
            meta = {
                "template": k,
                "instruction": episode.instruction,
                "episode_id": episode.episode_id,
                "start": [float(v) for v in start],
                "start_rotation": [float(v) for v in episode.start_rotation],
                "route_length": episode.geodesic_distance,
                "steps": [s.to_dict() for s in steps],
            }
            out.append((decomposition_prompt(episode.instruction, start, self.codec, k), answer, meta))
        return out

    def step_truths(self, episode: InstructionEpisode) -> list[StepTruth]:
        """The ground-truth steps of an episode: one per subgoal, waypoints chained from the start."""
        return step_truths(self.scene, self.navigation, episode, anchors=self._anchors, scene_id=self.scene_id)


# --------------------------------------------------------------------------------------------------
# what the planner shares with the generator: the decomposition prompt and the ground-truth steps


def decomposition_prompt(instruction: str, start: np.ndarray, codec: LocationCodec, template: int = 0) -> str:
    """The decomposition prompt of ``instruction`` for an agent at ``start`` ((3,) world metres, Y up),
    framed by ``DECOMPOSITION_PROMPTS[template]`` with the start as 3 location tokens of ``codec``."""
    if isinstance(template, bool) or not isinstance(template, (int, np.integer)) or not 0 <= template < len(DECOMPOSITION_PROMPTS):
        raise ValueError(f"decomposition template must be an integer in [0, {len(DECOMPOSITION_PROMPTS)}), got {template!r}")
    point = np.asarray(start, dtype=np.float64)
    if point.shape != (3,) or not np.isfinite(point).all():
        raise ValueError(f"start must be a finite (3,) point in world metres, got {np.asarray(start).tolist()!r}")
    return DECOMPOSITION_PROMPTS[int(template)].format(p="".join(codec.encode_point(point)), instruction=instruction)


def step_truths(
    scene: Scene,
    navigation: Navigation,
    episode: InstructionEpisode,
    start: np.ndarray | None = None,
    anchors: dict[tuple[int, int | None], np.ndarray | None] | None = None,
    scene_id: str | None = None,
) -> list[StepTruth]:
    """The ground-truth steps of ``episode`` (module doc): one per subgoal, waypoints (world metres)
    chained from ``start`` (default the episode's start). ``anchors`` caches room anchors by
    (region index, island) across calls."""
    return _StepTruths(scene, navigation, scene_id or scene.name, {} if anchors is None else anchors).steps(episode, start)


class _StepTruths:
    """The waypoint rule of the decomposition steps (module doc)."""

    def __init__(self, scene: Scene, navigation: Navigation, scene_id: str, anchors: dict) -> None:
        self.scene = scene
        self.navigation = navigation
        self.scene_id = scene_id
        self._anchors = anchors

    def anchor(self, region_index: int, island: int | None) -> np.ndarray | None:
        key = (region_index, island)
        if key not in self._anchors:
            self._anchors[key] = room_anchor(self.navigation, self.scene.regions[region_index], island)
        return self._anchors[key]

    def steps(self, episode: InstructionEpisode, start: np.ndarray | None = None) -> list[StepTruth]:
        nav = self.navigation
        current = np.asarray(episode.start_position if start is None else start, dtype=np.float64)
        island = nav.island_of(current)
        steps = []
        for sg in episode.subgoals:
            step = self._room_step(sg, current, island) if sg.kind == "room" else self._object_step(sg, current)
            steps.append(step)
            current = np.asarray(step.waypoint, dtype=np.float64)
        return steps

    def _room_step(self, sg: Subgoal, current: np.ndarray, island: int) -> StepTruth:
        nav = self.navigation
        best: tuple[float, np.ndarray, int] | None = None
        for i, region in enumerate(self.scene.regions):
            if region.name != sg.target:
                continue
            p = self.anchor(i, island)
            if p is None:
                continue
            d = float(nav.geodesic_distance(current, p))
            if math.isfinite(d) and (best is None or d < best[0]):
                best = (d, p, i)
        if best is None:  # no anchor on the start's island: the subgoal's goal point nearest a room centre
            goals = sg.goal_positions
            centre = self.scene.region(sg.target).center
            p = goals[int(np.argmin(np.hypot(goals[:, 0] - centre[0], goals[:, 2] - centre[2])))]
            best = (float(nav.geodesic_distance(current, p)), p, -1)
        d, p, i = best
        region = self.scene.regions[i] if i >= 0 else next((r for r in self.scene.regions if r.name == sg.target and r.contains(p)[0]), None)
        extra = {"distance": d} if region is None else {"distance": d, "extent": _extent(region.bbox_min, region.bbox_max)}
        return StepTruth("room", sg.target, tuple(float(v) for v in p), room=sg.target, extra=extra)

    def _object_step(self, sg: Subgoal, current: np.ndarray) -> StepTruth:
        nav = self.navigation
        targets = sg.goal_positions
        path = nav.shortest_path(current, targets)
        if len(path) == 0:
            raise RuntimeError(f"scene {self.scene_id!r}: no view point of {sg.describe()!r} is reachable; the instruction generator should have rejected it")
        p = np.asarray(path[-1], dtype=np.float64)
        owner = None
        best = math.inf
        for g in sg.goals:
            vps = g.view_point_positions
            if len(vps):
                d = float(np.min(np.linalg.norm(vps - p, axis=1)))
                if d < best:
                    best, owner = d, g
        distance = float(np.sum(np.linalg.norm(np.diff(path, axis=0)[:, [0, 2]], axis=1)))
        target = f"{sg.color} {sg.target}" if sg.color else sg.target
        obj = self.scene.objects[int(owner.object_id)]
        extra = {
            "distance": distance,
            "object_center": [float(v) for v in obj.center],
            "instance_ids": [int(g.object_id) for g in sg.goals],
            "extent": _extent(obj.bbox_min, obj.bbox_max),
        }
        return StepTruth("object", target, tuple(float(v) for v in p), room=obj.region, instance_id=int(owner.object_id), color=sg.color, category=sg.target, extra=extra)


def _extent(lower: np.ndarray, upper: np.ndarray) -> list[list[float]]:
    """A box (world metres) as the records store it: [[xmin, ymin, zmin], [xmax, ymax, zmax]]."""
    return [[float(v) for v in lower], [float(v) for v in upper]]
