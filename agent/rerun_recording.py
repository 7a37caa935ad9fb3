"""A rollout as a Rerun recording (``.rrd``, rerun-sdk: the ``rerun`` extra), for inspecting an
episode in the Rerun viewer on a ``step`` timeline.

Entities (world frame Y up, metres; the camera looks down its -Z, as habitat's):

- ``world/camera``: the camera pose (``Transform3D``) and its pinhole (``Pinhole``, RUB axes), with
  ``world/camera/rgb``, ``world/camera/depth`` (metres) and ``world/camera/semantic`` (instance ids);
- ``world/map``: a sample of the agent's 3D map points (``world_map``), coloured by the relevance
  of their features to the current step's target (blue = unrelated .. red = the target), every
  ``map_every`` steps;
- ``world/path``: the camera path so far; ``world/waypoints``: the current plan's waypoints, labelled
  with their step numbers;
- ``plan``: the current plan's text, with the step being driven to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.loop import Agent
from perception.maps import cosine_relevance
from perception.multiview_features import ImageTokenMap


def world_map(feature_map):
    """The map whose points are world points (metres): the 3D map inside an ``ImageTokenMap`` (the
    2D baseline's planner reads image tokens, which are not world points), else ``feature_map``."""
    return feature_map.map if isinstance(feature_map, ImageTokenMap) else feature_map


class RerunRecorder:
    """Logs an episode to ``path`` (``.rrd``) as it runs: pass :meth:`on_step` to ``run_episode``
    (alone or beside a ``RolloutRecorder``). ``map_points``: how many map points are logged, every
    ``map_every`` steps. Raises ImportError naming the extra when rerun-sdk is missing."""

    def __init__(self, path: str | Path, map_points: int = 4096, map_every: int = 10, application: str = "nav3d") -> None:
        try:
            import rerun as rr
        except ImportError as exc:
            raise ImportError("recording to Rerun needs rerun-sdk: pip install 'nav3d[rerun]' (or pip install rerun-sdk)") from exc
        from envs.files import writable_folder

        self.path = Path(path)
        writable_folder(self.path.parent, "--rerun's folder")
        self._rr = rr
        self.recording = rr.RecordingStream(application)
        self._partial = self.path.with_name(self.path.name + ".part")  # renamed into place by close()
        self.recording.save(str(self._partial))
        self.map_points = int(map_points)
        self.map_every = int(map_every)
        self._path: list[np.ndarray] = []
        self._step = 0

    def on_step(self, observation: dict, frame, agent: Agent) -> None:
        rr, rec = self._rr, self.recording
        rec.set_time("step", sequence=self._step)
        camera = frame.camera_pose
        k = frame.intrinsics
        rec.log("world/camera", rr.Transform3D(translation=camera.position, quaternion=rr.Quaternion(xyzw=camera.rotation)))
        rec.log("world/camera", rr.Pinhole(focal_length=[k.fx, k.fy], principal_point=[k.cx, k.cy], width=k.width, height=k.height, camera_xyz=rr.ViewCoordinates.RUB))
        rec.log("world/camera/rgb", rr.Image(frame.rgb))
        rec.log("world/camera/depth", rr.DepthImage(frame.depth[..., 0], meter=1.0))
        if frame.semantic is not None:
            rec.log("world/camera/semantic", rr.SegmentationImage(frame.semantic))
        self._path.append(np.asarray(camera.position, dtype=np.float64))
        if len(self._path) > 1:
            rec.log("world/path", rr.LineStrips3D([np.stack(self._path)], colors=[(40, 90, 220)]))
        step = agent.current_step
        if self._step % self.map_every == 0:
            self._log_map(agent, step.target if step is not None else None)
        plan = agent.plan or (agent.plans[-1] if agent.plans else None)
        if plan is not None:
            steps = [s for s in plan.steps if s.waypoint is not None]
            if steps:
                points = np.stack([np.asarray(s.waypoint, dtype=np.float64) for s in steps])
                colours = [(220, 30, 30) if s is step else (240, 150, 30) for s in steps]
                rec.log("world/waypoints", rr.Points3D(points, colors=colours, radii=0.12, labels=[str(s.index) for s in steps]))
            current = f"\n\ndriving to step {step.index}: {step.text}" if step is not None else ""
            rec.log("plan", rr.TextDocument(f"{agent.instruction}\n\n{plan.raw_text}{current}"))
        self._step += 1

    def _log_map(self, agent: Agent, target: str | None) -> None:
        points, features = world_map(agent.map).points_and_features(self.map_points)
        if len(points) == 0:
            return
        if target is None:
            colours = np.full((len(points), 3), 180, dtype=np.uint8)
        else:
            relevance = cosine_relevance(features, agent.extractor.embed_text(target))  # (N,) in [-1, 1]
            t = np.clip((relevance - relevance.min()) / max(float(np.ptp(relevance)), 1e-6), 0.0, 1.0)[:, None]
            colours = ((1 - t) * np.array([40, 80, 220]) + t * np.array([230, 40, 30])).astype(np.uint8)
        self.recording.log("world/map", self._rr.Points3D(points, colors=colours, radii=0.03))

    def close(self) -> Path:
        """Finish the recording and move it to ``path`` (until then it is ``<path>.part``, so a
        crash never leaves a truncated file under the final name); returns ``path``."""
        import os

        self.recording.flush()
        self.recording.disconnect()
        os.replace(self._partial, self.path)
        return self.path
