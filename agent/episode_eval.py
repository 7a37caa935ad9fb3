"""``nav3d eval``: the agent loop over a dataset of instruction or ObjectNav episodes, resumable and
in parallel.

An ObjectNav dataset (``nav3d episodes --task objectnav``) runs each episode as the instruction
"find the <category>" in the ObjectNav env (``agent.episode_runner.task_episode``), which scores it
with its own measures; a dataset holds one task, and an output folder's results must all be of it.

Output folder (``shared/DESIGN.md``):

- ``results.jsonl``: one line per finished episode, appended and flushed as each one ends: its ids,
  ``task`` ("instruction" or "objectnav"), instruction and number of subgoals, the env's measures
  and the loop's (``run_episode``), the first plan scored against the episode's ground-truth
  decomposition (``decomposition``: step keys right, steps right within 0.5 m, whole plan right;
  for ObjectNav against its one "find" step), and ``stamp``: the evaluation config, the
  dataset file, the code version (nav3d version, git commit) and the type the 3D-LLM's scene
  encoder ran in on this CPU (``point_dtype``, ``agent.precision``) that produced the line, so a
  table can be reproduced. On restart, episodes with a line are skipped; a half-written last line (a
  crash mid-write) is dropped, never the finished ones before it.
- ``summary.json`` and ``summary.md``: means over the finished episodes (success, SPL, soft SPL,
  distance to goal, decomposition success, plan latency) and success by number of subgoals; for
  ObjectNav: success, SPL, soft SPL, distance to goal, steps and plan latency only;
- ``success_by_subgoals.png``: that breakdown as a bar chart (instruction episodes only);
- ``trajectories/<episode id>.png``: each episode's top-down view at its end (the agent's own map,
  the path walked, the last plan's waypoints; ``agent.recording.topdown_panel``);
- with ``record``: ``<record>/<episode id>/``, each episode's rollout folder (``agent.recording``:
  video, steps, plans, events, metrics), which ``nav3d replay`` renders again.

Episodes run in ``workers`` processes (spawned, one torch thread each), each its own simulator, or
with ``ray`` as Ray actors (``agent.scale``: one per worker, each keeping its scene loaded), the rows
streamed back into the same ``results.jsonl``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.episodes import TASK_INSTRUCTION, TASK_OBJECTNAV

RESULTS_FILE = "results.jsonl"
EVAL_TASKS = (TASK_INSTRUCTION, TASK_OBJECTNAV)


@dataclass(frozen=True)
class EpisodeEvalConfig:
    """How each episode runs: the agent's parts (``agent.episode_runner``: planner
    "llm"|"llm-grounded"|"oracle"|"frontier", policy "map"|"oracle", checkpoint folder, map
    construction, where the 3D-LLM's ``waypoints`` come from), the sensor ``size`` in pixels, the
    env's ``max_steps``, the exploration budget (actions per target not yet in the map;
    ``first_explore_steps`` those before the first plan, None = ``build_agent``'s default per task),
    and the parallelism (``workers`` processes with ``threads`` torch threads each)."""

    planner: str = "llm"
    policy: str = "map"
    checkpoint: str | None = None
    construction: str | None = None
    size: int = 128
    max_steps: int = 500
    explore_steps: int = 250
    first_explore_steps: int | None = None
    workers: int = 1
    threads: int = 1
    waypoints: str = "map"

    def __post_init__(self) -> None:
        from agent.episode_runner import check_parts
        from agent.waypoint_format import WAYPOINT_SOURCES

        if self.waypoints not in WAYPOINT_SOURCES:
            raise ValueError(f"EpisodeEvalConfig.waypoints must be one of {WAYPOINT_SOURCES}, got {self.waypoints!r}")

        for name in ("size", "max_steps", "workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EpisodeEvalConfig.{name} must be an integer >= 1, got {value!r}")
        check_parts(self.planner, self.policy, self.explore_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_results(path: str | Path) -> tuple[list[dict], bool]:
    """The finished episodes' lines of a ``results.jsonl`` and whether a broken last line (a write
    cut short) was found; a broken line before the last is a ValueError naming it."""
    path = Path(path)
    if not path.exists():
        return [], False
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "episode_id" not in row:
                raise ValueError("no episode_id")
            rows.append(row)
        except ValueError as exc:
            if i == len(lines) - 1:
                return rows, True
            raise ValueError(f"{path}: line {i + 1} is not a result ({exc}); fix or delete that line to resume") from exc
    return rows, False


def evaluate_episodes(
    dataset: str | Path,
    out_dir: str | Path,
    config: EpisodeEvalConfig = EpisodeEvalConfig(),
    limit: int | None = None,
    progress: bool = True,
    record: str | Path | None = None,
    ray: str | bool | None = None,
) -> dict[str, Any]:
    """Run every episode of ``dataset`` (habitat-lab JSON/JSON.gz, instruction or ObjectNav) not yet in
    ``out_dir/results.jsonl`` (at most ``limit`` new ones), then write the summary; returns it.
    ``record``: a folder for each episode's rollout (module doc); None records none. ``ray``: None
    runs here; True on this machine's Ray instance, a string on the Ray cluster at that address
    (``agent.scale``)."""
    from tqdm import tqdm

    from agent.language_dataset import code_version
    from agent.precision import resolve_point_dtype
    from envs.dataset import load_dataset
    from envs.files import atomic_write_text, writable_folder

    episodes = load_dataset(dataset)
    task = dataset_task(episodes, dataset)
    out = writable_folder(out_dir, "--out")
    writable_folder(out / "trajectories")
    if record is not None:
        writable_folder(record, "--record")
    results = out / RESULTS_FILE
    rows, broken = read_results(results)
    other = sorted({row_task(r) for r in rows} - {task})
    if other:
        raise ValueError(f"{results} holds {other[0]} results but {dataset} holds {task} episodes; give another --out")
    if broken:  # drop the half-written line, keep every finished one
        atomic_write_text(results, "".join(json.dumps(r) + "\n" for r in rows))
    done = {r["episode_id"] for r in rows}
    todo = [e for e in episodes if e.episode_id not in done]
    if limit is not None:
        todo = todo[:limit]
    # the 3D-LLM's scene encoder runs in bfloat16 on CPUs that have it natively (agent.precision)
    point_dtype = str(resolve_point_dtype("auto", "cpu")).removeprefix("torch.")
    stamp = {"config": config.to_dict(), "dataset": str(Path(dataset).resolve()), "code": code_version(), "point_dtype": point_dtype}
    with open(results, "a", encoding="utf-8") as sink, tqdm(total=len(todo), desc="episodes", unit="episode", file=sys.stderr, disable=not progress) as bar:
        for row in _run_all(todo, config, out / "trajectories", None if record is None else Path(record), ray):
            row["stamp"] = stamp
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
            bar.update(1)
    rows, _ = read_results(results)
    summary = summarize(rows)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "summary.md", summary_table(summary) + "\n")
    if task == TASK_INSTRUCTION:
        plot_success_by_subgoals(summary, out / "success_by_subgoals.png")
    return summary


def dataset_task(episodes: list, dataset: str | Path) -> str:
    """The one task ("instruction" or "objectnav") of a dataset's episodes; a ValueError naming the
    problem when they mix tasks or are of a task ``nav3d eval`` does not run."""
    tasks = sorted({e.task for e in episodes})
    if len(tasks) > 1:
        raise ValueError(f"{dataset} mixes episode tasks {tasks}; nav3d eval runs one task per dataset")
    if tasks and tasks[0] not in EVAL_TASKS:
        raise ValueError(
            f"{dataset} holds {tasks[0]} episodes; nav3d eval runs instruction or ObjectNav episodes "
            "(make them with nav3d episodes --task instruction|objectnav)"
        )
    return tasks[0] if tasks else TASK_INSTRUCTION


def row_task(row: dict) -> str:
    """A result row's task (rows written before ObjectNav eval have none: instruction)."""
    return row.get("task", TASK_INSTRUCTION)


def _run_all(episodes: list, config: EpisodeEvalConfig, trajectories: Path, record: Path | None, ray: str | bool | None = None):
    """Yield one result row per episode, as they finish (in order with one local worker)."""
    if ray and episodes:
        from agent.scale import run_episodes

        yield from run_episodes(episodes, config, trajectories, record, ray)
        return
    run = functools.partial(evaluate_episode, config=config, trajectories=trajectories, record=record)
    if config.workers == 1 or len(episodes) <= 1:
        from agent.threads import cpu_threads

        with cpu_threads(config.threads):
            for episode in episodes:
                yield run(episode)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(min(config.workers, len(episodes)), initializer=_init_worker, initargs=(config.threads,)) as pool:
        yield from pool.imap_unordered(run, episodes)


def _init_worker(threads: int) -> None:
    from agent.threads import set_cpu_threads

    set_cpu_threads(threads)


class EpisodeWorker:
    """Runs episodes in one process (a Ray actor) with ``config.threads`` CPU threads (``agent.threads``), keeping one
    env: its simulator stays loaded while the episodes stay in the same scene."""

    def __init__(self, config: EpisodeEvalConfig, trajectories: Path | None = None, record: Path | None = None) -> None:
        _init_worker(config.threads)
        self.config = config
        self.trajectories = trajectories
        self.record = record
        self.env = None

    def run(self, episode) -> dict[str, Any]:
        """``evaluate_episode`` of ``episode`` in the kept env."""
        if self.env is None:
            self.env = _episode_env(episode, self.config)
        return evaluate_episode(episode, self.config, self.trajectories, self.record, env=self.env)


def _episode_env(episode, config: EpisodeEvalConfig):
    """An env of ``episode``'s task (``InstructionEnv`` or ``ObjectNavEnv``) that can run it (and any
    other of that task, passed to ``reset``)."""
    from envs.gym_env import InstructionEnv, ObjectNavEnv
    from envs.simulator import SensorConfig

    env_class = ObjectNavEnv if episode.task == TASK_OBJECTNAV else InstructionEnv
    return env_class(episodes=[episode], sensor=SensorConfig(width=config.size, height=config.size), max_episode_steps=config.max_steps)


def evaluate_episode(episode, config: EpisodeEvalConfig, trajectories: Path | None = None, record: Path | None = None, env=None) -> dict[str, Any]:
    """One episode with the agent of ``config``: its result row (module doc), without the stamp; its
    top-down image goes to ``trajectories/<id>.png`` and its rollout folder under ``record``.
    ``env``: an env of the episode's task to run it in, kept open (default: a new one, closed after)."""
    from agent.episode_runner import build_agent, run_episode, task_episode
    from agent.recording import RolloutRecorder, topdown_panel
    from envs.files import atomic_write_bytes
    from envs.types import yaw_from_quat
    from agent.loop_config import LoopConfig
    from agent.planner import OraclePlanner
    from agent.planner_metrics import score_decomposition
    from perception.text_encoder import shared_encoder

    own_env = env is None
    env = _episode_env(episode, config) if own_env else env
    try:
        observation, _ = env.reset(seed=0, options={"episode": episode})
        sim = env.simulator
        loop = LoopConfig(explore_steps=config.explore_steps, first_explore_steps=config.first_explore_steps)
        agent = build_agent(episode, sim.scene, sim, config.planner, config.policy, config.checkpoint, config.construction, loop, encoder=shared_encoder(), waypoints=config.waypoints)
        recorder = RolloutRecorder(env.sensor_config.max_depth, video=record is not None)
        result = run_episode(env, agent, observation, on_step=recorder.on_step)
    finally:
        if own_env:
            env.close()
    name = _file_name(episode.episode_id)
    if record is not None:
        recorder.write(record / name, result)
    if trajectories is not None:
        waypoints = agent.plans[-1].waypoints() if agent.plans else np.zeros((0, 3))
        yaw = yaw_from_quat(np.asarray(result.steps[-1].rotation)) if result.steps else 0.0
        image = topdown_panel(agent.map.occupancy_grid(), np.stack(recorder.path), waypoints, None, yaw, 256)
        atomic_write_bytes(trajectories / f"{name}.png", _png(image))
    followed = task_episode(episode)  # an ObjectNav episode as its one "find" step
    decomposition = None
    if agent.plans:
        truth = OraclePlanner(followed, sim.scene, sim.navigation, quantize=False).plan(None, start=np.asarray(episode.start_position))
        score = score_decomposition(agent.plans[0].steps, truth.steps)
        decomposition = {"key_right": score.key_right, "right": score.right, "slots": score.slots,
                         "keys_exact": score.key_right == score.slots, "plan_exact": score.plan_exact, "errors": list(score.errors)}
    return {
        "episode_id": episode.episode_id,
        "scene_id": episode.scene_id,
        "task": episode.task,
        "instruction": result.instruction,
        "subgoals": len(followed.subgoals),
        "metrics": result.metrics,
        "decomposition": decomposition,
        "first_plan": result.plans[0]["text"] if result.plans else None,
    }


def _file_name(episode_id: str) -> str:
    """A file-name-safe form of an episode id ("house:3:instruction:ab12" -> "house_3_instruction_ab12")."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in episode_id)


def _png(image: np.ndarray) -> bytes:
    import io

    import imageio.v3 as iio

    buffer = io.BytesIO()
    iio.imwrite(buffer, image, extension=".png")
    return buffer.getvalue()


SUMMARY_MEASURES = {
    TASK_INSTRUCTION: ("success", "spl", "soft_spl", "distance_to_goal", "subgoal_fraction", "num_steps", "plan_latency_s", "steps_per_s"),
    TASK_OBJECTNAV: ("success", "spl", "soft_spl", "distance_to_goal", "num_steps", "plan_latency_s", "steps_per_s"),
}
"""The measures a summary averages, by task."""
DECOMPOSITION_MEASURES = ("decomposition_keys_exact", "decomposition_exact")


def summarize(rows: list[dict]) -> dict[str, Any]:
    """The ``task`` of ``rows`` (one; mixed tasks are a ValueError) and the means of its
    ``SUMMARY_MEASURES`` over them; for instruction episodes also decomposition success (share of
    episodes whose first plan names every step right, and with every waypoint within 0.5 m) and
    success by the number of subgoals."""
    tasks = sorted({row_task(r) for r in rows})
    if len(tasks) > 1:
        raise ValueError(f"the results mix episode tasks {tasks}; summarize each task's results on their own")
    task = tasks[0] if tasks else TASK_INSTRUCTION
    out: dict[str, Any] = {"task": task, "episodes": len(rows)}
    for key in SUMMARY_MEASURES[task]:
        values = [float(r["metrics"][key]) for r in rows if isinstance(r["metrics"].get(key), (int, float)) and math.isfinite(float(r["metrics"][key]))]
        out[key] = float(np.mean(values)) if values else None
    if task == TASK_INSTRUCTION:
        scored = [r["decomposition"] for r in rows if r.get("decomposition")]
        out["decomposition_keys_exact"] = float(np.mean([d["keys_exact"] for d in scored])) if scored else None
        out["decomposition_exact"] = float(np.mean([d["plan_exact"] for d in scored])) if scored else None
        by = defaultdict(list)
        for r in rows:
            by[int(r["subgoals"])].append(float(r["metrics"].get("success", 0.0)))
        out["success_by_subgoals"] = {str(k): {"episodes": len(v), "success": float(np.mean(v))} for k, v in sorted(by.items())}
    configs = {json.dumps(r.get("stamp", {}).get("config"), sort_keys=True) for r in rows}
    out["configs"] = [json.loads(c) for c in sorted(configs)]
    return out


def summary_table(summary: dict[str, Any]) -> str:
    """A Markdown table of a summary (one row per measure of its task, then success by subgoals)."""
    task = summary.get("task", TASK_INSTRUCTION)
    lines = ["| measure | value |", "| --- | --- |", f"| task | {task} |", f"| episodes | {summary['episodes']} |"]
    for key in (*SUMMARY_MEASURES[task], *(DECOMPOSITION_MEASURES if task == TASK_INSTRUCTION else ())):
        value = summary.get(key)
        lines.append(f"| {key} | {'n/a' if value is None else f'{value:.3f}'} |")
    for k, v in summary.get("success_by_subgoals", {}).items():
        lines.append(f"| success with {k} subgoal{'s' if k != '1' else ''} ({v['episodes']} episodes) | {v['success']:.3f} |")
    return "\n".join(lines)


def plot_success_by_subgoals(summary: dict[str, Any], path: str | Path) -> Path:
    """A bar chart of success by number of subgoals, written atomically as PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from envs.files import atomic_write_bytes

    by = summary["success_by_subgoals"]
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    keys = list(by)
    ax.bar(keys, [by[k]["success"] for k in keys], color="#3b6fd4")
    for i, k in enumerate(keys):
        ax.text(i, by[k]["success"] + 0.02, f"n={by[k]['episodes']}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("subgoals in the instruction")
    ax.set_ylabel("success")
    ax.set_title("success by number of subgoals")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buffer.getvalue())
