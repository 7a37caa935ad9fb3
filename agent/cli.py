"""The ``nav3d`` command line.

- ``nav3d demo``: one episode in a generated house on the embedded backend, driven by the oracle
  follower (the simulator's shortest path); prints the measures and writes ``video.mp4``,
  ``steps.jsonl`` and ``metrics.json`` to ``--out``.
- ``nav3d episodes``: generate a habitat-lab episode dataset over generated houses, split by house
  into train/val/test ``.json.gz`` files.
- ``nav3d map``: build a 3D feature map from a recorded RGB-D sequence in the TUM RGB-D layout
  (``perception.tum``) with colour features (``perception.color_features``; recordings have no
  semantic images) and save it as one ``.npz``.
- ``nav3d export-tum``: record a simulator rollout (a scripted walk: a turn in place, then the
  oracle follower towards random navigable goals) as a TUM RGB-D sequence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TASKS = ("pointnav", "objectnav", "instruction")
MAP_CONSTRUCTIONS = {
    "pointcloud": ("perception.pointcloud_map", "PointCloudMap"),
    "fusion": ("perception.fusion_map", "FusionMap"),
    "neural": ("perception.neural_field_map", "NeuralFieldMap"),
}
"""``nav3d map --construction`` name -> (module, class) of a ``FeatureMap`` taking (extractor, MapConfig)."""


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

    mapping = sub.add_parser("map", help="build a 3D feature map from a recorded RGB-D sequence (TUM RGB-D layout) and save it")
    mapping.add_argument("sequence", type=Path, metavar="SEQUENCE_FOLDER", help="folder with rgb.txt, depth.txt, groundtruth.txt, rgb/, depth/")
    mapping.add_argument("--out", type=Path, required=True, help="the map file to write (.npz)")
    mapping.add_argument("--construction", choices=tuple(MAP_CONSTRUCTIONS), default="pointcloud", help="map construction (default pointcloud)")
    mapping.add_argument("--intrinsics", type=Path, default=None, help="camera intrinsics JSON (default: SEQUENCE_FOLDER/intrinsics.json)")
    mapping.add_argument("--world-up", choices=("y", "z"), default="y", help="up axis of the groundtruth's world frame (default y)")
    mapping.add_argument("--stride", type=int, default=1, help="use every n-th frame (default 1)")
    mapping.add_argument("--max-frames", type=int, default=None, help="use at most this many frames (after --stride)")
    mapping.add_argument("--voxel-size", type=float, default=0.05, help="map resolution in metres (default 0.05)")
    mapping.add_argument("--max-pose-difference", type=float, default=0.02, help="seconds between a frame and its groundtruth pose (default 0.02)")
    mapping.set_defaults(func=_map)

    export = sub.add_parser("export-tum", help="record a simulator rollout as a TUM RGB-D sequence")
    export.add_argument("--scene", default="house:0", help="house:<seed> or a mesh file (default house:0)")
    export.add_argument("--seed", type=int, default=0, help="seed of the start pose and goals")
    export.add_argument("--frames", type=int, default=60, help="frames to record (default 60)")
    export.add_argument("--size", type=int, default=256, help="sensor width and height in pixels")
    export.add_argument("--world-up", choices=("y", "z"), default="y", help="up axis of the written world frame (default y)")
    export.add_argument("--out", type=Path, required=True, help="the sequence folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace a sequence already in --out")
    export.set_defaults(func=_export_tum)
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


def _map(args: argparse.Namespace) -> int:
    import importlib

    from tqdm import tqdm

    from perception.color_features import ColorFeatureExtractor
    from perception.maps import MapConfig
    from perception.tum import open_tum_sequence

    sequence = open_tum_sequence(
        args.sequence, intrinsics=args.intrinsics, world_up=args.world_up, max_frames=args.max_frames,
        stride=args.stride, max_pose_difference=args.max_pose_difference,
    )
    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give the map file to write, e.g. {str(args.out / 'map.npz')!r}")
    _writable_folder(args.out.parent)
    module, name = MAP_CONSTRUCTIONS[args.construction]
    extractor = ColorFeatureExtractor()  # recordings have no semantic images
    feature_map = getattr(importlib.import_module(module), name)(extractor, MapConfig(voxel_size=args.voxel_size))
    t0 = time.perf_counter()
    for frame in tqdm(sequence, total=len(sequence), desc="frames", unit="frame", file=sys.stderr):
        feature_map.integrate(frame, extractor(frame))
    path = feature_map.save(args.out)
    elapsed = time.perf_counter() - t0
    points = feature_map.points()
    skipped = f" (skipped: {sequence.unpaired_rgb} rgb images without depth, {sequence.unposed} pairs without a pose)"
    print(f"frames: {len(sequence)} from {sequence.folder}{skipped if sequence.unpaired_rgb or sequence.unposed else ''}")
    print(f"points: {len(points)} ({args.construction}, voxel {args.voxel_size} m, colour features)")
    if len(points):
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = " x ".join(f"{v:.2f}" for v in hi - lo)
        lo_s, hi_s = (", ".join(f"{v:.2f}" for v in corner) for corner in (lo, hi))
        print(f"extent: min ({lo_s}) max ({hi_s}) m, {span} m (x, y, z)")
    print(f"time: {elapsed:.1f} s ({len(sequence) / max(elapsed, 1e-9):.1f} frames/s)")
    print(f"wrote {path}")
    return 0


def _export_tum(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from envs.embedded import EmbeddedSimulator
    from envs.scene_io import resolve_scene
    from envs.simulator import SensorConfig
    from perception.tum import write_tum_sequence

    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if args.size < 1:
        raise ValueError(f"--size must be >= 1 pixel, got {args.size}")
    out = _writable_folder(args.out)
    sim = EmbeddedSimulator(resolve_scene(args.scene), sensor_config=SensorConfig(width=args.size, height=args.size, semantic=False))
    rollout = _scripted_rollout(sim, args.frames, np.random.default_rng(args.seed))
    frames = tqdm(rollout, total=args.frames, desc="frames", unit="frame", file=sys.stderr)
    count = write_tum_sequence(frames, out, world_up=args.world_up, overwrite=args.overwrite)
    sim.close()
    print(f"wrote {count} frames of {args.scene} ({args.size}x{args.size}, world up {args.world_up}) to {out}/")
    return 0


def _scripted_rollout(sim, n_frames: int, rng: np.random.Generator):
    """``n_frames`` frames of a simple walk: a random start on the largest island, one full turn in
    place, then the oracle follower towards random navigable goals (a new one whenever it stops)."""
    import math

    from envs.types import Action, Pose
    from policies.oracle import OracleFollower

    nav = sim.navigation
    island = nav.largest_island()
    frame = sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, island), float(rng.uniform(-math.pi, math.pi))))
    yield frame
    follower = OracleFollower(nav, sim.agent_config)
    turns = max(1, round(360.0 / sim.agent_config.turn_angle_deg))
    goal = None
    for i in range(1, n_frames):
        action = Action.TURN_LEFT
        if i > turns:
            pose = sim.agent_pose
            for _ in range(3):  # a fresh goal when the last one is reached (or unreachable)
                if goal is None:
                    goal = nav.sample_navigable_point(rng, island)
                    follower.reset()
                action = follower.act({"position": pose.position, "rotation": pose.rotation}, goal)
                if action != Action.STOP:
                    break
                goal = None
            if action == Action.STOP:
                action = Action.TURN_LEFT
        frame, _ = sim.step(action)
        yield frame


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
