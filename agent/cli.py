"""The ``nav3d`` command line.

- ``nav3d demo``: one episode in a generated house on the embedded backend, driven by the oracle
  follower (the simulator's shortest path); prints the measures and writes ``video.mp4``,
  ``steps.jsonl`` and ``metrics.json`` to ``--out``.
- ``nav3d episodes``: generate a habitat-lab episode dataset over generated houses, split by house
  into train/val/test ``.json.gz`` files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TASKS = ("pointnav", "objectnav", "instruction")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, PermissionError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nav3d {args.command}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nav3d", description="nav3d: perception -> 3D map -> 3D-LLM -> policy, on a Habitat-style simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run one episode with the oracle follower and record it")
    demo.add_argument("--task", choices=TASKS, default="objectnav")
    demo.add_argument("--scene", default="house:0", help="house:<seed> or a mesh file (default house:0)")
    demo.add_argument("--seed", type=int, default=0, help="episode seed")
    demo.add_argument("--size", type=int, default=256, help="sensor width and height in pixels")
    demo.add_argument("--max-steps", type=int, default=500)
    demo.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for video.mp4, steps.jsonl, metrics.json")
    demo.add_argument("--no-video", action="store_true", help="skip the MP4")
    demo.set_defaults(func=_demo)

    episodes = sub.add_parser("episodes", help="generate a habitat-lab episode dataset over generated houses")
    episodes.add_argument("--task", choices=TASKS, default="objectnav")
    episodes.add_argument("--houses", type=int, default=10, help="number of houses (seeds 0..N-1)")
    episodes.add_argument("--per-house", type=int, default=10, help="episodes per house")
    episodes.add_argument("--seed", type=int, default=0)
    episodes.add_argument("--out", type=Path, required=True, help="folder for train/val/test .json.gz")
    episodes.set_defaults(func=_episodes)
    return parser


def _make_env(task: str, **kwargs):
    from envs.gym_env import InstructionEnv, ObjectNavEnv, PointNavEnv

    return {"pointnav": PointNavEnv, "objectnav": ObjectNavEnv, "instruction": InstructionEnv}[task](**kwargs)


def _current_goal(env, info: dict) -> np.ndarray:
    """The world points the oracle heads for now: the goal(s), view points, or the current subgoal's."""
    from envs.measures import goal_targets

    episode = env.current_episode
    if env.task == "instruction":
        current = min(int(info["subgoals_reached"]), len(episode.subgoals) - 1)
        return episode.subgoals[current].goal_positions
    return goal_targets(episode)


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from agent.video import observation_panel, write_video
    from envs.measures import OBJECTNAV_SUCCESS_DISTANCE, POINTNAV_SUCCESS_DISTANCE
    from envs.simulator import SensorConfig
    from policies.oracle import OracleFollower

    out = _writable_folder(args.out)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    env = _make_env(args.task, scenes=(args.scene,), sensor=SensorConfig(width=args.size, height=args.size), max_episode_steps=args.max_steps)
    obs, info = env.reset(seed=args.seed)
    episode = env.current_episode
    console.print(f"[bold]{args.task}[/bold] in {episode.scene_id} (loaded in {time.perf_counter() - t0:.1f} s): {_describe(episode)}")
    radius = POINTNAV_SUCCESS_DISTANCE if args.task == "pointnav" else OBJECTNAV_SUCCESS_DISTANCE
    follower = OracleFollower(env.simulator.navigation, env.agent_config, goal_radius=radius)
    panels = [] if args.no_video else [observation_panel(obs, env.sensor_config.max_depth)]
    steps = []
    done = False
    with tqdm(total=args.max_steps, desc="steps", unit="step", file=sys.stderr) as bar:
        while not done:
            action = follower.act(obs, _current_goal(env, info))
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            steps.append({"step": int(info["num_steps"]), "action": action.name.lower(), "reward": reward,
                          "position": obs["position"].tolist(), "rotation": obs["rotation"].tolist(),
                          "measures": {k: v for k, v in info.items() if isinstance(v, (int, float))}})
            if not args.no_video:
                panels.append(observation_panel(obs, env.sensor_config.max_depth))
            bar.update(1)
    elapsed = time.perf_counter() - t0
    metrics = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
    metrics["wall_time_s"] = elapsed
    _write_json_lines(out / "steps.jsonl", steps)
    _write_json(out / "metrics.json", metrics)
    if panels:
        write_video(panels, out / "video.mp4", fps=10)
    table = Table(title=f"episode {episode.episode_id}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    console.print(f"wrote {out}/ ({'video.mp4, ' if panels else ''}steps.jsonl, metrics.json)")
    env.close()
    return 0


def _episodes(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from envs.backends import make_simulator
    from envs.dataset import save_dataset
    from envs.episode_generator import EpisodeGenerator, split_scene_ids

    out = _writable_folder(args.out)
    splits = split_scene_ids([f"house:{i}" for i in range(args.houses)])
    rng = np.random.default_rng(args.seed)
    by_split: dict[str, list] = {name: [] for name in splits}
    for name, ids in splits.items():
        for scene_id in tqdm(ids, desc=f"{name} houses", unit="house", file=sys.stderr):
            sim = make_simulator(scene_id)
            sample = getattr(EpisodeGenerator(sim, scene_id=scene_id), f"{args.task}_episodes")
            by_split[name].extend(sample(args.per_house, rng))
            sim.close()
    for name, episodes in by_split.items():
        path = save_dataset(episodes, out / f"{name}.json.gz")
        print(f"{name}: {len(episodes)} episodes in {len(splits[name])} houses -> {path}")
    return 0


def _describe(episode) -> str:
    for attr in ("instruction", "object_category"):
        if hasattr(episode, attr):
            return f"{attr.replace('_', ' ')}: {getattr(episode, attr)!r}"
    return f"goal at {np.round(episode.goals[0].position, 2).tolist()}"


def _writable_folder(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"output folder {str(path)!r} cannot be created ({exc.strerror}); choose another --out") from exc
    probe = path / ".nav3d-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"output folder {str(path)!r} is not writable ({exc.strerror}); choose another --out") from exc
    return path


def _write_json(path: Path, data: dict) -> None:
    from envs.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _write_json_lines(path: Path, rows: list[dict]) -> None:
    from envs.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    raise SystemExit(main())
