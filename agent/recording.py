"""Rollout recording: the video panels of an agent episode and the rollout folder.

A rollout folder (``shared/DESIGN.md``): ``video.mp4`` (RGB | depth | semantic | top-down map, over a
caption naming the step being driven to),
``steps.jsonl`` (one line per env step: action, pose, plan index, measures), ``plan.json`` (every
plan the agent made, with its text, steps, problems and latency), ``events.jsonl`` (the loop's
calls with their latencies) and ``metrics.json``. Every file is written atomically.

The top-down panel draws the agent's own occupancy grid (free light, occupied dark, unknown grey),
the path walked so far (blue), the current plan's waypoints (numbered; the one being driven to in
red, others orange) and the agent (a green dot with its heading), x to the right, z down.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from agent.loop import Agent
from agent.video import observation_panel, write_video
from perception.occupancy import OCCUPIED, UNKNOWN, OccupancyGrid

FREE_RGB, OCCUPIED_RGB, UNKNOWN_RGB = (235, 235, 235), (60, 60, 60), (150, 150, 150)


def topdown_panel(grid: OccupancyGrid, path: np.ndarray, waypoints: np.ndarray, current: int | None, yaw: float, size: int) -> np.ndarray:
    """(size, size, 3) uint8 top-down image of ``grid`` with the walked ``path`` (K, 3) world metres,
    the plan's ``waypoints`` (M, 3) (``current`` indexes the one driven to) and the agent at the
    path's last point facing ``yaw`` radians (0 = -z, counter-clockwise seen from above)."""
    from PIL import Image, ImageDraw

    cells = grid.cells
    image = np.empty(cells.shape + (3,), np.uint8)
    image[:] = FREE_RGB
    image[cells == OCCUPIED] = OCCUPIED_RGB
    image[cells == UNKNOWN] = UNKNOWN_RGB
    points = [p for p in (path, waypoints) if len(p)]
    rows, cols = cells.shape
    # fit the grid and everything drawn on it into a square canvas
    corner_lo, corner_hi = np.array([0.0, 0.0]), np.array([float(cols), float(rows)])
    if points:
        rc = np.concatenate([grid.world_to_cell(p) for p in points])[:, ::-1].astype(np.float64)  # (N, 2) col, row
        corner_lo, corner_hi = np.minimum(corner_lo, rc.min(0) - 2), np.maximum(corner_hi, rc.max(0) + 3)
    span = float(max(corner_hi - corner_lo))
    scale = size / span
    canvas = Image.new("RGB", (size, size), UNKNOWN_RGB)
    tile = Image.fromarray(image).resize((max(1, round(cols * scale)), max(1, round(rows * scale))), Image.NEAREST)
    canvas.paste(tile, (round(-corner_lo[0] * scale), round(-corner_lo[1] * scale)))
    draw = ImageDraw.Draw(canvas)

    def pixel(world: np.ndarray) -> tuple[float, float]:
        col = (world[0] - grid.origin[0]) / grid.resolution
        row = (world[2] - grid.origin[1]) / grid.resolution
        return ((col - corner_lo[0]) * scale, (row - corner_lo[1]) * scale)

    if len(path) > 1:
        draw.line([pixel(p) for p in path], fill=(40, 90, 220), width=max(1, size // 128))
    r = max(2, size // 64)
    for i, w in enumerate(waypoints):
        x, y = pixel(w)
        colour = (220, 30, 30) if i == current else (240, 150, 30)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        draw.text((x + r + 1, y - r - 1), str(i + 1), fill=colour)
    if len(path):
        x, y = pixel(path[-1])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(30, 170, 60))
        # forward is -z at yaw 0; yaw turns counter-clockwise seen from above (x right, z down)
        hx, hy = -math.sin(yaw), -math.cos(yaw)
        draw.line([(x, y), (x + 3 * r * hx, y + 3 * r * hy)], fill=(30, 170, 60), width=max(1, r // 2))
    return np.asarray(canvas)


def episode_panel(
    observation: dict, max_depth: float, grid: OccupancyGrid, path: np.ndarray, waypoints: np.ndarray, current: int | None, yaw: float, caption: str = ""
) -> np.ndarray:
    """One video frame of a rollout: RGB | depth | semantic | top-down (``topdown_panel``), all as
    tall as the images, over a strip with ``caption`` (e.g. the step being driven to)."""
    left = observation_panel(observation, max_depth)
    row = np.concatenate([left, topdown_panel(grid, path, waypoints, current, yaw, left.shape[0])], axis=1)
    return np.concatenate([row, caption_strip(caption, row.shape[1])], axis=0)


def caption_strip(text: str, width: int, height: int = 16) -> np.ndarray:
    """(height, width, 3) uint8: ``text`` in white on black, cut to fit (PIL's default font)."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(strip)
    while text and draw.textlength(text) > width - 4:
        text = text[:-2] + "…" if len(text) > 2 else ""
    draw.text((2, 2), text, fill=(255, 255, 255))
    return np.asarray(strip)


class RolloutRecorder:
    """Collects video panels while an episode runs (pass :meth:`on_step` to ``run_episode``) and writes
    the rollout folder with :meth:`write`. ``video=False`` keeps only the logs."""

    def __init__(self, max_depth: float, video: bool = True) -> None:
        self.max_depth = max_depth
        self.video = video
        self.panels: list[np.ndarray] = []
        self.path: list[np.ndarray] = []

    def on_step(self, observation: dict, frame, agent: Agent) -> None:
        self.path.append(np.asarray(observation["position"], dtype=np.float64))
        if not self.video:
            return
        plan = agent.plan or (agent.plans[-1] if agent.plans else None)
        waypoints = plan.waypoints() if plan is not None else np.zeros((0, 3))
        current = None
        if plan is not None and agent.current_step is not None and agent.current_step.waypoint is not None:
            with_waypoint = [s for s in plan.steps if s.waypoint is not None]
            current = next((i for i, s in enumerate(with_waypoint) if s is agent.current_step), None)
        yaw = frame.agent_pose.yaw if frame.agent_pose is not None else 0.0
        step = agent.current_step
        caption = f"step {step.index}: {step.text}" if step is not None else ("exploring" if plan is None else "")
        grid = agent.map.occupancy_grid()
        self.panels.append(episode_panel(observation, self.max_depth, grid, np.stack(self.path), waypoints, current, yaw, caption))

    def write(self, folder: str | Path, result, fps: int = 10) -> Path:
        """Write the rollout folder (module doc) for ``result`` (an ``EpisodeResult``); returns it."""
        from envs.files import atomic_write_text, writable_folder

        out = writable_folder(folder)
        atomic_write_text(out / "steps.jsonl", "".join(json.dumps(s.to_dict()) + "\n" for s in result.steps))
        atomic_write_text(out / "events.jsonl", "".join(json.dumps(e) + "\n" for e in result.events))
        episode = {"episode_id": result.episode_id, "scene_id": result.scene_id, "instruction": result.instruction,
                   "start": result.start, "sensor": result.sensor}
        atomic_write_text(out / "plan.json", json.dumps({**episode, "plans": result.plans}, indent=2) + "\n")
        atomic_write_text(out / "metrics.json", json.dumps({**episode, **result.metrics}, indent=2) + "\n")
        if self.video and self.panels:
            write_video(self.panels, out / "video.mp4", fps=fps)
        return out
