"""Planner metrics on hand-made cases with known answers, and ``evaluate_planner`` / ``nav3d eval-planner``
end to end on a tiny hand-written dataset (scripted answers and an untrained tiny 3D-LLM)."""

import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agent.cli import main
from agent.decomposition import Step, format_decomposition, parse_decomposition
from agent.language_data import DECOMPOSITION_PROMPTS
from agent.llm3d import SmallLlama, ThreeDLLM, ThreeDLLMConfig
from agent.location_codec import LocationCodec
from agent.planner_eval import EVAL_TASKS, PREDICTIONS_FILE, SUMMARY_FILE, EvalConfig, evaluate_planner
from agent.planner_metrics import (
    box_iou,
    decomposition_metrics,
    exact_match,
    grounding_metrics,
    lcs_length,
    normalize_answer,
    score_decomposition,
    strip_location_tokens,
    text_metrics,
    words,
)
from agent.scene_encoder import SceneEncoderConfig
from agent.tokenizer import train_tokenizer
from tests.agent.two_rooms import ROOM_B, WALL, two_rooms

pytestmark = pytest.mark.usefixtures("one_torch_thread")

C, BINS = 8, 64
CODEC = LocationCodec((0.0, 0.0, 0.0), (8.0, 3.0, 8.0), bins=BINS)  # bins of 0.125 / 0.047 / 0.125 m


def _step(i, action, target, xyz=None):
    return Step(i, action, target, None if xyz is None else np.asarray(xyz, dtype=np.float64))


REF = [_step(1, "go to", "kitchen", (1, 0, 1)), _step(2, "find", "red mug", (2, 0, 2)), _step(3, "go to", "bedroom", (5, 0, 5))]


# ------------------------------------------------------------------------------------ decomposition


def test_perfect_decomposition_scores_one():
    s = score_decomposition(REF, REF)
    m = decomposition_metrics([s])
    assert (s.right, s.slots, s.lcs, s.plan_exact) == (3, 3, 3, True)
    assert m["step_accuracy"] == m["step_key_accuracy"] == m["plan_exact"] == m["ordered_f1"] == 1.0
    assert m["waypoint_error_median"] == 0.0 and m["waypoint_within_tol"] == 1.0 and m["waypoint_pairs"] == 3


def test_swapped_steps_lower_exact_match_and_lcs_f1_as_expected():
    pred = [REF[1], REF[0], REF[2]]
    s = score_decomposition(pred, REF)
    # only step 3 sits at its position; the LCS of (b a c) and (a b c) has length 2
    assert (s.right, s.key_right, s.slots, s.lcs) == (1, 1, 3, 2)
    assert s.precision == s.recall == pytest.approx(2 / 3) and s.f1 == pytest.approx(2 / 3)
    assert not s.plan_exact
    assert lcs_length("abcbdab", "bdcaba") == 4


def test_waypoint_errors_are_exact_metres_and_the_tolerance_decides():
    pred = [_step(1, "go to", "kitchen", (1.3, 0, 1.4)), _step(2, "find", "red mug", (2, 0, 2.6)), _step(3, "go to", "bedroom")]
    s = score_decomposition(pred, REF, tolerance=0.5)
    assert s.errors == pytest.approx((0.5, 0.6))  # 3-4-5 triangle scaled; no waypoint -> no error, wrong step
    assert (s.right, s.key_right) == (1, 3)
    m = decomposition_metrics([s], tolerance=0.5)
    assert m["waypoint_error_median"] == pytest.approx(0.55) and m["waypoint_within_tol"] == 0.5
    assert m["step_accuracy"] == pytest.approx(1 / 3) and m["step_key_accuracy"] == 1.0


def test_extra_and_missing_steps_count_as_wrong():
    longer = score_decomposition(REF + [_step(4, "find", "lamp", (0, 0, 0))], REF)
    assert (longer.right, longer.slots, longer.precision, longer.recall, longer.plan_exact) == (3, 4, 0.75, 1.0, False)
    empty = score_decomposition([], REF)
    assert (empty.right, empty.slots, empty.f1) == (0, 3, 0.0)
    m = decomposition_metrics([longer, empty])
    assert m["step_accuracy"] == pytest.approx(3 / 7) and m["waypoint_error_median"] == 0.0
    assert decomposition_metrics([])["waypoint_error_median"] is None


def test_parsed_text_round_trip_scores_one_and_garbage_scores_zero():
    steps = [("go to", "kitchen", (1.0, 0.0, 1.0)), ("find", "red mug", (2.0, 0.5, 2.0))]
    text = format_decomposition(steps, CODEC)
    ref = parse_decomposition(text, CODEC)
    assert score_decomposition(parse_decomposition(text, CODEC), ref).plan_exact
    junk = parse_decomposition("mug <loc3> kitchen 7) <locx", CODEC)
    assert junk.problems and score_decomposition(list(junk), ref).right == 0


# ------------------------------------------------------------------------------------ grounding


def test_box_iou_of_known_boxes():
    unit = [0, 0, 0, 1, 1, 1]
    assert box_iou(unit, unit) == 1.0
    assert box_iou(unit, [0.5, 0, 0, 1.5, 1, 1]) == pytest.approx(0.5 / 1.5)  # half overlaps: 0.5 / (1 + 1 - 0.5)
    assert box_iou(unit, [2, 2, 2, 3, 3, 3]) == 0.0
    assert box_iou(unit, [0, 0, 0, 2, 2, 2]) == pytest.approx(1 / 8)
    assert box_iou([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]) == 0.0
    m = grounding_metrics([1.0, 0.3, 0.1, 0.5])
    assert m["acc@0.25"] == 0.75 and m["acc@0.5"] == 0.5 and m["mean_iou"] == pytest.approx(0.475)


# ------------------------------------------------------------------------------------ QA and text


def test_qa_normalisation_and_exact_match():
    assert normalize_answer("The Kitchen.") == "kitchen"
    assert normalize_answer("  a  RED mug <loc3><loc4> ") == "red mug"
    assert normalize_answer("Yes!") == "yes"
    assert exact_match(["The kitchen.", "no", "3"], ["kitchen", "yes", "3"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="references"):
        exact_match(["a"], [])


def test_location_tokens_are_stripped_before_text_metrics():
    assert strip_location_tokens("1. go to the kitchen <loc1><loc2><loc3> 2. find") == "1. go to the kitchen 2. find"
    assert words("Find the red mug <loc10><loc2><loc07") == ["find", "the", "red", "mug"]
    text = "1. go to the kitchen <loc1><loc2><loc3> 2. find the red mug <loc4><loc5><loc6>"
    other_tokens = "1. go to the kitchen <loc9><loc9><loc9> 2. find the red mug <loc8><loc8><loc8>"
    same = text_metrics([other_tokens], [text])
    assert same["bleu1"] == pytest.approx(1.0) and same["bleu4"] == pytest.approx(1.0) and same["rougeL"] == pytest.approx(1.0)


def test_text_metrics_of_identical_and_different_text():
    refs = ["a red mug on the table in the kitchen.", "the bedroom has a bed and two lamps.", "there are three chairs in the dining room."]
    same = text_metrics(refs, refs)
    assert all(same[f"bleu{n}"] == pytest.approx(1.0) for n in range(1, 5))
    assert same["rougeL"] == pytest.approx(1.0) and same["cider"] > 5.0
    worse = text_metrics(["a blue cup on the shelf.", "the bedroom is empty.", "no"], refs)
    assert 0.0 < worse["bleu1"] < 1.0 and worse["bleu4"] < worse["bleu1"] and worse["rougeL"] < 1.0 and worse["cider"] < same["cider"]
    assert text_metrics([], [])["bleu1"] == 0.0


# ------------------------------------------------------------------------------------ evaluate_planner


def _records(codec: LocationCodec) -> list[dict]:
    base = {"scene_id": "s0", "split": "test", "map": "maps/s0.npz", "codec": codec.to_dict()}
    rows = []
    plans = [
        [("go to", "kitchen", (1.03, 0.0, 1.02)), ("find", "red mug", (2.0, 0.4, 2.06))],
        [("find", "lamp", (6.0, 0.0, 6.0)), ("go to", "bedroom", (5.0, 0.0, 4.0)), ("find", "bed", (4.5, 0.0, 4.5))],
    ]
    for i, steps in enumerate(plans):
        meta = {"steps": [{"action": a, "target": t, "waypoint": list(w)} for a, t, w in steps]}
        for step in meta["steps"]:  # rooms' boxes, as the generator records them (x/z around the waypoint)
            if step["action"] == "go to":
                x, _, z = step["waypoint"]
                step.update(kind="room", extent=[[x - 1.0, 0.0, z - 1.0], [x + 1.0, 2.5, z + 1.0]])
        rows.append({**base, "id": f"s0:decomposition:{i}", "task": "decomposition", "prompt": DECOMPOSITION_PROMPTS[0].format(p="<loc1><loc2><loc3>", instruction=f"task {i}"),
                     "answer": format_decomposition([(a, t, np.asarray(w)) for a, t, w in steps], codec), "meta": meta})
    for i, (lo, hi) in enumerate([((1, 0, 1), (2, 1, 2)), ((4, 0, 4), (8, 3, 8))]):
        rows.append({**base, "id": f"s0:grounding:{i}", "task": "grounding", "prompt": f"where is thing {i}?", "answer": "".join(codec.encode_box(lo, hi)), "meta": {}})
    for i, (q, a) in enumerate([("is there a mug?", "yes"), ("how many chairs are in the kitchen?", "3")]):
        rows.append({**base, "id": f"s0:qa:{i}", "task": "qa", "prompt": q, "answer": a, "meta": {}})
    for i, a in enumerate(["a red mug on the table in the kitchen.", "the bedroom has a bed and a lamp."]):
        rows.append({**base, "id": f"s0:caption:{i}", "task": "caption", "prompt": f"describe room {i}.", "answer": a, "meta": {}})
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaldata")
    (out / "maps").mkdir()
    rng = np.random.default_rng(0)
    points = rng.uniform([0, 0, 0], [8, 3, 8], size=(64, 3)).astype(np.float32)
    np.savez(out / "maps" / "s0.npz", points=points, features=rng.normal(size=(64, C)).astype(np.float32))
    records = _records(CODEC)
    (out / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return out, records


@pytest.fixture(scope="module")
def model(data):
    _, records = data
    rng = random.Random(0)
    corpus = [r["prompt"] for r in records] + [r["answer"] for r in records]
    corpus += [" ".join(rng.choice(["go", "to", "find", "the", "kitchen", "mug"]) for _ in range(5)) + f" <loc{rng.randrange(BINS)}>" for _ in range(20)]
    tokenizer = train_tokenizer(corpus, vocab_size=300, location_bins=BINS)
    encoder = SceneEncoderConfig(feature_dim=C, dim=32, queries=4, layers=1, heads=2, frequencies=4)
    lm = SmallLlama(hidden=32, layers=1, heads=2, intermediate=64, max_positions=256)
    return ThreeDLLM(ThreeDLLMConfig(encoder, CODEC, lm), tokenizer, seed=0).eval()


class Scripted:
    """Answers chosen by the test: ``answers`` maps a prompt to its text (missing prompts: ``default``)."""

    def __init__(self, answers: dict, default: str = "") -> None:
        self.answers, self.default, self.calls = answers, default, []

    def generate(self, points, features, point_mask, prompts, **kwargs):
        self.calls.append({"n": len(prompts), "bounds": kwargs.get("bounds"), "constrain": kwargs.get("constrain_locations"), "grammar": kwargs.get("grammar")})
        return [self.answers.get(p, self.default) for p in prompts]


def test_perfect_answers_score_one_and_files_are_written(data, tmp_path):
    folder, records = data
    scripted = Scripted({r["prompt"]: r["answer"] for r in records})
    summary = evaluate_planner(scripted, folder, batch_size=3, progress=False, out_dir=tmp_path)
    t = summary["tasks"]
    d = t["decomposition"]
    assert d["step_accuracy"] == d["plan_exact"] == d["ordered_f1"] == 1.0
    # predictions are bin centres, references the exact waypoints: the error is the quantisation's
    assert 0 < d["waypoint_error_median"] == d["reference_quantisation_median"] < 0.1
    assert d["room_steps_scored"] == 2 and d["room_waypoint_inside"] == 1.0
    assert t["grounding"]["acc@0.5"] == t["grounding"]["acc@0.25"] == 1.0
    assert t["qa"]["exact_match"] == 1.0 and t["caption"]["text"]["bleu4"] == pytest.approx(1.0)
    assert d["text"]["bleu1"] == pytest.approx(1.0)
    # batches per task, each record's bounds passed; decomposition/grounding constrained (3 / 6 token groups)
    assert [c["n"] for c in scripted.calls] == [2, 2, 2, 2]
    assert all(c["bounds"].shape == (c["n"], 2, 3) for c in scripted.calls)
    assert [c["constrain"] for c in scripted.calls] == [True, True, False, False]
    assert [c["grammar"].group_size for c in scripted.calls[:2]] == [3, 6]
    rows = [json.loads(line) for line in (tmp_path / PREDICTIONS_FILE).read_text().splitlines()]
    assert len(rows) == len(records) == summary["records"]
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["tasks"]["qa"]["exact_match"] == 1.0


@pytest.mark.parametrize("answer", ["", "<loc3><loc4>", "1. find the <locx> 3) go to <loc999>", "no no no <loc1><loc2><loc3><loc4><loc5><loc6>"])
def test_malformed_generations_count_as_wrong_without_crashing(data, answer):
    folder, _ = data
    summary = evaluate_planner(Scripted({}, default=answer), folder, progress=False)
    d, g = summary["tasks"]["decomposition"], summary["tasks"]["grounding"]
    assert d["step_accuracy"] == 0.0 and d["plan_exact"] == 0.0
    assert 0.0 <= g["acc@0.25"] <= 1.0 and summary["tasks"]["qa"]["exact_match"] == 0.0


def _check_ranges(summary):
    assert set(summary["tasks"]) == set(EVAL_TASKS)
    d = summary["tasks"]["decomposition"]
    for key in ("step_accuracy", "step_key_accuracy", "plan_exact", "ordered_precision", "ordered_recall", "ordered_f1", "waypoint_within_tol"):
        assert 0.0 <= d[key] <= 1.0, key
    assert d["waypoint_error_median"] is None or d["waypoint_error_median"] >= 0
    assert {"acc@0.25", "acc@0.5", "mean_iou"} <= set(summary["tasks"]["grounding"])
    assert 0.0 <= summary["tasks"]["qa"]["exact_match"] <= 1.0
    for task in ("decomposition", "qa", "caption"):
        text = summary["tasks"][task]["text"]
        assert all(0.0 <= text[k] <= 1.0 for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rougeL")) and text["cider"] >= 0


def test_untrained_model_end_to_end(data, model, tmp_path):
    folder, _ = data
    summary = evaluate_planner(model, folder, max_records=1, batch_size=2, progress=False, out_dir=tmp_path)
    _check_ranges(summary)
    assert summary["records"] == 4
    assert len((tmp_path / PREDICTIONS_FILE).read_text().splitlines()) == 4


def test_cli_eval_planner(data, model, tmp_path, capsys):
    folder, _ = data
    checkpoint = model.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "eval"
    assert main(["eval-planner", str(checkpoint), "--data", str(folder), "--out", str(out), "--max-records", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "step_accuracy" in printed and "acc@0.25" in printed and "text bleu1" in printed
    summary = json.loads((out / SUMMARY_FILE).read_text())
    _check_ranges(summary)
    assert summary["config"]["point_dtype"] == "auto" and summary["config"]["point_dtype_used"] in ("float32", "bfloat16")
    assert main(["eval-planner", str(checkpoint), "--data", str(folder), "--out", str(out), "--max-records", "1", "--no-progress",
                 "--tasks", "qa", "--point-dtype", "float32"]) == 0
    assert json.loads((out / SUMMARY_FILE).read_text())["config"]["point_dtype_used"] == "float32"
    assert main(["eval-planner", str(checkpoint), "--data", str(tmp_path / "nowhere")]) == 2
    assert main(["eval-planner", str(checkpoint), "--data", str(folder), "--tasks", "navigation"]) == 2


class ScriptedPointer(Scripted):
    """``Scripted`` with a location pointer: every location triple's weights are ``weights`` (N,),
    and the phrase encoder embeds every phrase as ``wall`` (so the map's walls are the points whose
    feature is ``wall``)."""

    def __init__(self, answers: dict, weights: np.ndarray, wall: np.ndarray) -> None:
        super().__init__(answers)
        self.weights, self.wall = weights, wall

    def embed_phrases(self, phrases):
        return torch.as_tensor(np.stack([self.wall] * len(phrases)))

    def generate_with_weights(self, points, features, point_mask, prompts, **kwargs):
        texts = self.generate(points, features, point_mask, prompts, **kwargs)
        return [SimpleNamespace(text=t, point_weights=[self.weights] * (len(CODEC.parse_location_tokens(t)) // 3)) for t in texts]


def test_a_grounding_answers_room_box_is_read_off_the_map_where_the_pointer_points(tmp_path):
    points, features, _ = two_rooms()
    (tmp_path / "maps").mkdir()
    np.savez(tmp_path / "maps" / "s0.npz", points=points.astype(np.float32), features=features.astype(np.float32))
    (lx, lz), (ux, uz) = ROOM_B
    answer = "".join(CODEC.encode_box((lx, 0.0, lz), (ux, 2.5, uz)))
    record = {"scene_id": "s0", "split": "test", "map": "maps/s0.npz", "codec": CODEC.to_dict(), "id": "s0:grounding:0", "task": "grounding",
              "prompt": "where is the office?", "answer": answer, "meta": {"kind": "room", "box": [lx, 0.0, lz, ux, 2.5, uz]}}
    (tmp_path / "test.jsonl").write_text(json.dumps(record) + "\n")
    in_b = (points[:, 0] > 4.2) & (points[:, 0] < 6.8) & (points[:, 1] < 0.01)  # room B's floor
    written = "".join(CODEC.encode_box((0.0, 0.0, 0.0), (4.0, 2.5, 3.0)))  # room A's box: the wrong room
    model = ScriptedPointer({record["prompt"]: written}, in_b / in_b.sum(), WALL)
    as_written = evaluate_planner(model, tmp_path, tasks=["grounding"], progress=False, config=EvalConfig(waypoints="tokens"))
    assert as_written["tasks"]["grounding"]["mean_iou"] == 0.0
    read = evaluate_planner(model, tmp_path, tasks=["grounding"], progress=False, out_dir=tmp_path / "out")
    assert read["tasks"]["grounding"]["acc@0.5"] == 1.0
    row = json.loads((tmp_path / "out" / PREDICTIONS_FILE).read_text())
    assert row["read_from_map"] and np.allclose(np.array(row["box"])[[0, 2, 3, 5]], [lx, lz, ux, uz], atol=0.15)
