"""``nav3d replay``: render a recorded rollout folder (``agent.recording``) again.

The scene is rebuilt from the rollout's ``scene_id``, the agent is put at the recorded start and at
each recorded pose (``steps.jsonl``) in turn, and each frame is rendered at the recorded sensor
size. The top-down panel is drawn from a point-cloud map of the replayed frames (colour features,
so no semantic model is needed), with the path so far and the waypoints of the plan that was active
at that step (``plan.json``), whose text is the caption. Nothing of the rollout is changed; the
video goes where asked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agent.recording import episode_panel
from agent.video import write_video


def read_rollout(folder: str | Path) -> tuple[dict, list[dict]]:
    """(``plan.json``'s content, the ``steps.jsonl`` lines) of a rollout folder; FileNotFoundError or
    ValueError naming the file when one is missing or unreadable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no rollout folder at {folder}; give a folder written by nav3d run/eval --record (plan.json, steps.jsonl)")
    for name in ("plan.json", "steps.jsonl"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name}; it is not a complete rollout folder")
    try:
        header = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
        steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        for key in ("scene_id", "start", "sensor", "plans"):
            if key not in header:
                raise KeyError(key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{folder}: plan.json or steps.jsonl is not a nav3d rollout ({type(exc).__name__}: {exc})") from exc
    return header, steps


def replay_rollout(folder: str | Path, video: str | Path, fps: int = 10) -> Path:
    """Render the rollout in ``folder`` again and write it to the MP4 ``video``; returns its path."""
    from envs.embedded import EmbeddedSimulator
    from envs.scene_io import resolve_scene
    from envs.simulator import SensorConfig, camera_pose
    from envs.types import Pose
    from perception.color_features import ColorFeatureExtractor
    from perception.maps import MapConfig
    from perception.pointcloud_map import PointCloudMap

    header, steps = read_rollout(folder)
    sensor = SensorConfig(width=int(header["sensor"]["width"]), height=int(header["sensor"]["height"]))
    sim = EmbeddedSimulator(resolve_scene(header["scene_id"]), sensor_config=sensor)
    extractor = ColorFeatureExtractor()
    feature_map = PointCloudMap(extractor, MapConfig())
    plans = [_waypoints(p) for p in header["plans"]]
    poses = [(header["start"]["position"], header["start"]["rotation"], -1)] + [(s["position"], s["rotation"], s["plan"]) for s in steps]
    panels, path = [], []
    for position, rotation, plan_index in poses:
        agent = Pose(np.asarray(position, dtype=np.float64), np.asarray(rotation, dtype=np.float64))
        frame = sim.render(camera_pose(agent, sim.agent_config.sensor_height, 0.0))
        feature_map.integrate(frame, extractor(frame))
        path.append(agent.position)
        observation = {"rgb": frame.rgb, "depth": frame.depth}
        if frame.semantic is not None:
            observation["semantic"] = frame.semantic
        active = header["plans"][plan_index] if 0 <= plan_index < len(plans) else None
        waypoints = plans[plan_index] if active is not None else np.zeros((0, 3))
        caption = active["text"] if active is not None else "exploring"
        panels.append(episode_panel(observation, sensor.max_depth, feature_map.occupancy_grid(), np.stack(path), waypoints, None, agent.yaw, caption))
    sim.close()
    return write_video(panels, video, fps=fps)


def _waypoints(plan: dict) -> np.ndarray:
    points = [s["waypoint"] for s in plan.get("steps", []) if s.get("waypoint") is not None]
    return np.asarray(points, dtype=np.float64).reshape(-1, 3)
