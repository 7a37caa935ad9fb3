"""Metrics of the 3D-LLM's answers: decompositions, grounding boxes, QA and free text.

Pure functions, no model. Definitions (each function's doc repeats its own):

Decomposition (predicted steps vs reference steps, both ``agent.decomposition.Step``):

- a predicted step ``i`` is **right** when the reference has a step ``i`` with the same ``key``
  (action, target) and the predicted waypoint lies within ``tolerance`` metres (default 0.5,
  Euclidean in 3D) of the reference waypoint; a missing waypoint is wrong. ``key_match`` is the same
  without the waypoint condition.
- **step accuracy** = right steps / ``max(len(pred), len(ref))`` summed over records (micro average):
  missing and extra steps both count as wrong.
- **ordered F1**: ``L`` = length of the longest common subsequence of the two key sequences;
  precision ``L / len(pred)``, recall ``L / len(ref)``, F1 their harmonic mean (0 when ``L == 0``;
  1 when both are empty), averaged over records.
- **waypoint error**: metres between the waypoints of position-matched steps (same index) whose keys
  agree and which both have a waypoint; reported as the median and the share ``<= tolerance``.
- **plan exact**: the share of records whose every step is right and whose lengths agree.

Grounding: 3D IoU of axis-aligned boxes ``(xmin ymin zmin xmax ymax zmax)``; Acc@t = share of records
with IoU >= t (t = 0.25, 0.5); an unreadable predicted box has IoU 0.

QA: exact match after ``normalize_answer`` (lower case, location tokens, punctuation and the articles
a/an/the removed, whitespace collapsed).

Text (BLEU-1..4, ROUGE-L, CIDEr-D): location tokens (and locations written as numbers, ``(x, y, z)``)
are removed first (``strip_location_tokens``:
they are scored by the waypoint / box metrics, and as words they would inflate n-gram matches), then
text is lower-cased and split into words ``[a-z0-9']+`` (punctuation dropped, as the COCO caption
tokenizer does). BLEU: ``nltk`` ``corpus_bleu`` (corpus-level, one reference per record, no
smoothing), ROUGE-L: ``rouge-score`` F-measure averaged over records, CIDEr-D: ``pycocoevalcap``'s
``Cider`` scorer (IDF over the evaluated references; scale 0..10). All in [0, 1] except CIDEr; the
3D-LLM paper reports BLEU x 100. These packages are the optional extra ``eval``
(``pip install -e '.[eval]'``).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.decomposition import Step
from agent.waypoint_format import LOCATION_NUMBERS

DEFAULT_TOLERANCE = 0.5
"""Metres within which a predicted waypoint counts as right (the issue's goal: median error <= 0.5 m)."""

_LOCATION_TOKEN = re.compile(r"<\s*loc\s*[^<>\s]*>?", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation})


# -------------------------------------------------------------------------------- decompositions


@dataclass(frozen=True)
class DecompositionScore:
    """One record's decomposition scores (module doc): ``right`` / ``key_right`` steps out of
    ``slots = max(len(pred), len(ref))``, ordered-F1 parts, ``errors`` (metres, one per position-matched
    step with equal keys and both waypoints) and whether the whole plan is right."""

    right: int
    key_right: int
    slots: int
    lcs: int
    predicted: int
    reference: int
    errors: tuple[float, ...]
    plan_exact: bool

    @property
    def precision(self) -> float:
        return 1.0 if self.predicted == 0 and self.reference == 0 else (self.lcs / self.predicted if self.predicted else 0.0)

    @property
    def recall(self) -> float:
        return 1.0 if self.predicted == 0 and self.reference == 0 else (self.lcs / self.reference if self.reference else 0.0)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (items compared with ``==``)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def waypoint_error(predicted: Step, reference: Step) -> float | None:
    """Metres between the two steps' waypoints, or None when either has none."""
    if predicted.waypoint is None or reference.waypoint is None:
        return None
    return float(np.linalg.norm(np.asarray(predicted.waypoint, dtype=np.float64) - np.asarray(reference.waypoint, dtype=np.float64)))


def score_decomposition(predicted: Sequence[Step], reference: Sequence[Step], tolerance: float = DEFAULT_TOLERANCE) -> DecompositionScore:
    """Score one predicted decomposition against its reference (module doc for the definitions).

    Step ``i`` of ``predicted`` is compared with step ``i`` of ``reference`` (list positions, not the
    written numbers): right when the keys agree and the waypoint error is ``<= tolerance`` metres."""
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be finite metres >= 0, got {tolerance!r}")
    right = key_right = 0
    errors: list[float] = []
    for p, r in zip(predicted, reference):
        if p.key != r.key:
            continue
        key_right += 1
        error = waypoint_error(p, r)
        if error is not None:
            errors.append(error)
            right += error <= tolerance
    slots = max(len(predicted), len(reference))
    lcs = lcs_length([s.key for s in predicted], [s.key for s in reference])
    return DecompositionScore(right, key_right, slots, lcs, len(predicted), len(reference), tuple(errors), right == slots)


def decomposition_metrics(scores: Sequence[DecompositionScore], tolerance: float = DEFAULT_TOLERANCE) -> dict[str, float | int | None]:
    """Aggregate per-record scores: ``step_accuracy`` (right / slots, micro), ``step_key_accuracy``
    (same without the waypoint condition), ``plan_exact``, ``ordered_precision``/``recall``/``f1``
    (means over records), ``waypoint_error_median`` (metres, None without matched steps),
    ``waypoint_within_tol`` (share of errors <= ``tolerance``), ``waypoint_pairs`` and ``records``."""
    slots = sum(s.slots for s in scores)
    errors = np.asarray([e for s in scores for e in s.errors], dtype=np.float64)
    n = len(scores)
    return {
        "records": n,
        "steps": slots,
        "step_accuracy": sum(s.right for s in scores) / slots if slots else 0.0,
        "step_key_accuracy": sum(s.key_right for s in scores) / slots if slots else 0.0,
        "plan_exact": sum(s.plan_exact for s in scores) / n if n else 0.0,
        "ordered_precision": float(np.mean([s.precision for s in scores])) if n else 0.0,
        "ordered_recall": float(np.mean([s.recall for s in scores])) if n else 0.0,
        "ordered_f1": float(np.mean([s.f1 for s in scores])) if n else 0.0,
        "waypoint_pairs": int(errors.size),
        "waypoint_error_median": float(np.median(errors)) if errors.size else None,
        "waypoint_within_tol": float(np.mean(errors <= tolerance)) if errors.size else 0.0,
        "tolerance_m": float(tolerance),
    }


# -------------------------------------------------------------------------------- grounding


def box_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """3D IoU of two axis-aligned boxes ``(xmin ymin zmin xmax ymax zmax)``: intersection volume over
    union volume; 0 when they do not overlap or the union has no volume."""
    a, b = np.asarray(a, dtype=np.float64).reshape(6), np.asarray(b, dtype=np.float64).reshape(6)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    overlap = np.clip(np.minimum(a[3:], b[3:]) - np.maximum(a[:3], b[:3]), 0.0, None)
    inter = float(np.prod(overlap))
    union = float(np.prod(np.clip(a[3:] - a[:3], 0, None)) + np.prod(np.clip(b[3:] - b[:3], 0, None))) - inter
    return inter / union if union > 0 else 0.0


def grounding_metrics(ious: Sequence[float], thresholds: Sequence[float] = (0.25, 0.5)) -> dict[str, float | int]:
    """``acc@t`` = share of records with IoU >= t for each threshold, ``mean_iou`` and ``records``."""
    values = np.asarray(ious, dtype=np.float64)
    out: dict[str, float | int] = {"records": int(values.size), "mean_iou": float(values.mean()) if values.size else 0.0}
    for t in thresholds:
        out[f"acc@{t:g}"] = float(np.mean(values >= t)) if values.size else 0.0
    return out


# -------------------------------------------------------------------------------- text


def strip_location_tokens(text: str) -> str:
    """``text`` without location tokens (``<locK>`` and malformed look-alikes) and locations written as
    numbers (``(x, y, z)`` and 6-number boxes, ``agent.waypoint_format``), whitespace collapsed."""
    return re.sub(r"\s+", " ", LOCATION_NUMBERS.sub(" ", _LOCATION_TOKEN.sub(" ", text))).strip()


def normalize_answer(text: str) -> str:
    """QA normal form: lower case, location tokens and punctuation removed, articles a/an/the
    removed, whitespace collapsed (``"The Kitchen."`` -> ``"kitchen"``)."""
    text = strip_location_tokens(text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of pairs whose ``normalize_answer`` forms are equal (0 for no pairs)."""
    _same_length(predictions, references)
    if not predictions:
        return 0.0
    return sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references)) / len(predictions)


def words(text: str) -> list[str]:
    """The words text metrics score: location tokens removed, lower case, ``[a-z0-9']+`` runs."""
    return _WORD.findall(strip_location_tokens(text).lower())


def text_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float | int]:
    """``bleu1``..``bleu4`` (corpus BLEU, nltk), ``rougeL`` (mean F, rouge-score), ``cider`` (CIDEr-D,
    pycocoevalcap) of predictions against one reference each, on ``words`` (module doc). Needs the
    ``eval`` extra; empty inputs give zeros."""
    _same_length(predictions, references)
    try:
        from nltk.translate.bleu_score import corpus_bleu
        from pycocoevalcap.cider.cider import Cider
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise ImportError(
            f"text metrics need nltk, rouge-score and pycocoevalcap ({exc.name} is missing); install the extra: pip install -e '.[eval]'"
        ) from exc
    out: dict[str, float | int] = {"records": len(predictions)}
    if not predictions:
        return {**out, "bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0, "rougeL": 0.0, "cider": 0.0}
    hyp = [words(p) for p in predictions]
    refs = [[words(r)] for r in references]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns when some n-gram order has no match (BLEU 0 is the answer)
        for n in range(1, 5):
            out[f"bleu{n}"] = float(corpus_bleu(refs, hyp, weights=tuple([1.0 / n] * n)))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    out["rougeL"] = float(np.mean([scorer.score(" ".join(r[0]), " ".join(h))["rougeL"].fmeasure for h, r in zip(hyp, refs)]))
    gts = {i: [" ".join(r[0])] for i, r in enumerate(refs)}
    res = {i: [" ".join(h)] for i, h in enumerate(hyp)}
    out["cider"] = float(Cider().compute_score(gts, res)[0])
    return out


def _same_length(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; give one reference per prediction")
