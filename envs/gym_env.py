"""gymnasium environments: ``nav3d/PointNav-v0``, ``nav3d/ObjectNav-v0``, ``nav3d/Instruction-v0``.

Each env runs episodes on a ``Simulator`` (the embedded backend by default) and reports habitat-lab's
measures in ``info`` (``docs/measures.md`` defines every one).

``reset(seed=..., options=...)`` returns ``(observation, info)``; ``step(action)`` returns
``(observation, reward, terminated, truncated, info)``:

- ``observation``: a dict (see ``observation_space``): ``rgb`` (H, W, 3) uint8, ``depth`` (H, W, 1)
  float32 metres (0 = no return), ``semantic`` (H, W) int32 instance ids (when the sensor is on),
  ``position`` (3,) float64 agent feet in the world frame, ``rotation`` (4,) float64 [x, y, z, w],
  ``camera_pose`` (4, 4) float64 world-from-camera, plus the task's goal: PointNav
  ``pointgoal_with_gps_compass`` (2,) = (distance m, angle rad, positive to the left) to the goal in
  the agent's frame, as habitat's sensor; ObjectNav ``objectgoal`` (1,) int64 index into
  ``categories``; Instruction ``instruction`` (text).
- ``reward``: habitat's PointNav reward shaping: the decrease of ``distance_to_goal`` (metres)
  minus 0.01 per step, plus 2.5 on success. For instruction episodes the distance is the one to the
  current subgoal, and each reached subgoal adds 2.5.
- ``terminated``: STOP was called and the episode is over (for instruction episodes a STOP that
  reaches the current subgoal continues to the next one; the episode ends with the last subgoal or
  a STOP that reaches nothing).
- ``truncated``: ``max_episode_steps`` actions (500 by default) were taken without termination.
- ``info``: the measures (``distance_to_goal``, ``success``, ``spl``, ``soft_spl``, ``collisions``,
  ``num_steps`` ...) plus ``episode_id`` and ``scene_id``.

Episodes come from a habitat-lab dataset (``dataset=`` a ``.json``/``.json.gz`` path, or
``episodes=`` a list), taken in order and cycled, or, when neither is given, are generated on the
fly in ``scenes`` (default ``("house:0",)``) from the ``reset`` seed.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.episode_generator import EpisodeGenerator
from envs.episodes import AnyEpisode, InstructionEpisode, ObjectNavEpisode, PointNavEpisode
from envs.measures import Measures, measures_for_episode
from envs.scene_io import resolve_scene
from envs.simulator import AgentConfig, SensorConfig, Simulator
from envs.types import Action, Frame, Pose

SUCCESS_REWARD = 2.5
SLACK_REWARD = -0.01


class NavEnv(gym.Env):
    """A navigation task on a simulator. Subclasses choose the episode type and the goal observation."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    episode_type: type = PointNavEpisode
    task: str = "pointnav"

    def __init__(
        self,
        dataset: str | Path | None = None,
        episodes: Sequence[AnyEpisode] | None = None,
        scenes: Sequence[str] = ("house:0",),
        sensor: SensorConfig = SensorConfig(),
        agent: AgentConfig = AgentConfig(),
        max_episode_steps: int = 500,
        backend: str = "embedded",
        success_distance: float | None = None,
        render_mode: str | None = None,
    ) -> None:
        from envs.backends import SimulatorCache

        if dataset is not None and episodes is not None:
            raise ValueError("give either dataset= (a file) or episodes= (a list), not both")
        if dataset is not None:
            from envs.dataset import load_dataset

            episodes = load_dataset(dataset)
        if episodes is not None:
            episodes = list(episodes)
            if not episodes:
                raise ValueError("the episode list is empty")
            wrong = [e.episode_id for e in episodes if not isinstance(e, self.episode_type)]
            if wrong:
                raise ValueError(f"{type(self).__name__} runs {self.episode_type.__name__}s; episodes {wrong[:5]} are not")
        if not scenes and episodes is None:
            raise ValueError("give scenes to generate episodes in, or a dataset")
        if max_episode_steps <= 0:
            raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self._episodes = episodes
        self._next_episode = 0
        self.scenes = tuple(scenes)
        self.sensor_config = sensor
        self.agent_config = agent
        self.max_episode_steps = int(max_episode_steps)
        self.success_distance = success_distance
        self.render_mode = render_mode
        self._sims = SimulatorCache(backend, agent, sensor)
        self.categories = self._category_list()
        self.action_space = spaces.Discrete(len(Action))
        self.observation_space = spaces.Dict(self._observation_spaces())
        self.current_episode: AnyEpisode | None = None
        self.measures: Measures | None = None
        self._frame: Frame | None = None
        self._steps = 0
        self._done = True
        self._last_info: dict = {}
        self._generator: EpisodeGenerator | None = None

    # ----------------------------------------------------------------------------------- gymnasium

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start the next episode (``options={"episode": e}`` runs ``e``); returns (observation, info)."""
        super().reset(seed=seed)
        episode = (options or {}).get("episode") or self._pick_episode()
        sim = self._sims.get(episode.scene_id)
        self._frame = sim.reset(episode.start_pose)
        self.current_episode = episode
        self.measures = measures_for_episode(episode, self.success_distance)
        info = self.measures.reset(sim.navigation, episode, sim.agent_pose.position)
        self._steps = 0
        self._done = False
        self._last_info = info
        return self._observation(), self._info(info)

    def step(self, action: int | Action) -> tuple[dict, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action {action!r} is outside Discrete({self.action_space.n}); see envs.types.Action")
        action = Action(int(action))
        sim = self._sims.get(self.current_episode.scene_id)
        self._frame, collided = sim.step(action)
        self._steps += 1
        info = self.measures.update(sim.agent_pose.position, action, collided)
        terminated = self._terminated(action, info, self._last_info)
        truncated = not terminated and self._steps >= self.max_episode_steps
        reward = self._reward(info, self._last_info)
        self._last_info = info
        self._done = terminated or truncated
        return self._observation(), reward, terminated, truncated, self._info(info)

    def render(self) -> np.ndarray | None:
        """The current RGB frame (``render_mode="rgb_array"``)."""
        if self.render_mode == "rgb_array" and self._frame is not None:
            return self._frame.rgb.copy()
        return None

    def close(self) -> None:
        self._sims.close()

    # ----------------------------------------------------------------------------------- access

    @property
    def simulator(self) -> Simulator:
        """The simulator of the running episode's scene."""
        if self.current_episode is None:
            raise RuntimeError("no episode is running; call reset() first")
        return self._sims.get(self.current_episode.scene_id)

    @property
    def frame(self) -> Frame | None:
        """The latest frame (intrinsics and poses included)."""
        return self._frame

    # ----------------------------------------------------------------------------------- internals

    def _pick_episode(self) -> AnyEpisode:
        if self._episodes is not None:
            episode = self._episodes[self._next_episode % len(self._episodes)]
            self._next_episode += 1
            return episode
        scene_id = self.scenes[int(self.np_random.integers(len(self.scenes)))]
        sim = self._sims.get(scene_id)
        if self._generator is None or self._generator.simulator is not sim:
            scene = getattr(sim, "scene", None) or resolve_scene(scene_id)  # habitat-sim keeps no Scene
            self._generator = EpisodeGenerator(sim, scene, scene_id)  # view points cached per scene
        return self._generate(self._generator, self.np_random)

    def _generate(self, generator: EpisodeGenerator, rng: np.random.Generator) -> AnyEpisode:
        """A new episode of this task in the generator's scene."""
        raise NotImplementedError

    def _terminated(self, action: Action, info: dict, before: dict) -> bool:
        return action == Action.STOP

    def _progress_distance(self, info: dict) -> float:
        return info["distance_to_goal"]

    def _goals_achieved(self, info: dict) -> float:
        return info["success"]

    def _reward(self, info: dict, before: dict) -> float:
        """-0.01 per step, + the decrease of the distance (metres), + 2.5 per goal newly achieved."""
        reward = SLACK_REWARD
        now, then = self._progress_distance(info), self._progress_distance(before)
        if math.isfinite(now) and math.isfinite(then):
            reward += then - now
        reward += SUCCESS_REWARD * (self._goals_achieved(info) - self._goals_achieved(before))
        return float(reward)

    def _observation_spaces(self) -> dict[str, spaces.Space]:
        s = self.sensor_config
        h, w = s.height, s.width
        obs = {
            "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "depth": spaces.Box(0.0, float(s.max_depth), (h, w, 1), np.float32),
            "position": spaces.Box(-np.inf, np.inf, (3,), np.float64),
            "rotation": spaces.Box(-1.0, 1.0, (4,), np.float64),
            "camera_pose": spaces.Box(-np.inf, np.inf, (4, 4), np.float64),
        }
        if s.semantic:
            obs["semantic"] = spaces.Box(0, np.iinfo(np.int32).max, (h, w), np.int32)
        obs.update(self._goal_spaces())
        return obs

    def _goal_spaces(self) -> dict[str, spaces.Space]:
        return {}

    def _category_list(self) -> list[str]:
        return []

    def _observation(self) -> dict[str, Any]:
        f = self._frame
        agent = f.agent_pose
        obs = {
            "rgb": f.rgb,
            "depth": f.depth,
            "position": agent.position.copy(),
            "rotation": agent.rotation.copy(),
            "camera_pose": f.camera_pose.matrix(),
        }
        if self.sensor_config.semantic:
            obs["semantic"] = f.semantic
        obs.update(self._goal_observation(agent))
        return obs

    def _goal_observation(self, agent: Pose) -> dict[str, Any]:
        return {}

    def _info(self, measures: dict) -> dict:
        info = dict(measures)
        info["episode_id"] = self.current_episode.episode_id
        info["scene_id"] = self.current_episode.scene_id
        return info


class PointNavEnv(NavEnv):
    """PointNav: reach a goal point given relative to the agent (habitat's ``pointgoal_with_gps_compass``)."""

    episode_type = PointNavEpisode
    task = "pointnav"

    def _goal_spaces(self) -> dict[str, spaces.Space]:
        return {"pointgoal_with_gps_compass": spaces.Box(-np.inf, np.inf, (2,), np.float32)}

    def _goal_observation(self, agent: Pose) -> dict[str, Any]:
        goal = np.asarray(self.current_episode.goals[0].position, dtype=np.float64)
        local = agent.inverse().transform_points(goal[None])[0]  # body frame: -Z forward, +X right
        rho = float(np.hypot(local[0], local[2]))
        phi = float(math.atan2(-local[0], -local[2]))  # positive to the left, as habitat's compass
        return {"pointgoal_with_gps_compass": np.array([rho, phi], dtype=np.float32)}

    def _generate(self, generator: EpisodeGenerator, rng: np.random.Generator) -> AnyEpisode:
        return generator.pointnav_episode(rng)


class ObjectNavEnv(NavEnv):
    """ObjectNav: find an instance of a category (habitat's ``objectgoal``; success within 0.1 m of a view point)."""

    episode_type = ObjectNavEpisode
    task = "objectnav"

    def _category_list(self) -> list[str]:
        from envs.house import OBJECT_CATEGORIES

        extra = sorted({e.object_category for e in self._episodes or []} - set(OBJECT_CATEGORIES))
        return list(OBJECT_CATEGORIES) + extra

    def _goal_spaces(self) -> dict[str, spaces.Space]:
        return {"objectgoal": spaces.Box(0, len(self.categories) - 1, (1,), np.int64)}

    def _goal_observation(self, agent: Pose) -> dict[str, Any]:
        return {"objectgoal": np.array([self.categories.index(self.current_episode.object_category)], dtype=np.int64)}

    def _info(self, measures: dict) -> dict:
        info = super()._info(measures)
        info["object_category"] = self.current_episode.object_category
        return info

    def _generate(self, generator: EpisodeGenerator, rng: np.random.Generator) -> AnyEpisode:
        return generator.objectnav_episode(rng)


class InstructionEnv(NavEnv):
    """Multi-step instructions ("go to the kitchen, then find the red mug"): STOP at each subgoal in order."""

    episode_type = InstructionEpisode
    task = "instruction"

    def _goal_spaces(self) -> dict[str, spaces.Space]:
        return {"instruction": spaces.Text(max_length=1024, charset=string.printable)}

    def _goal_observation(self, agent: Pose) -> dict[str, Any]:
        return {"instruction": self.current_episode.instruction}

    def _terminated(self, action: Action, info: dict, before: dict) -> bool:
        if action != Action.STOP:
            return False
        reached_now = info["subgoals_reached"] > before["subgoals_reached"]
        return info["success"] >= 1.0 or not reached_now

    def _progress_distance(self, info: dict) -> float:
        return info["distance_to_subgoal"]

    def _goals_achieved(self, info: dict) -> float:
        return info["subgoals_reached"]

    def _generate(self, generator: EpisodeGenerator, rng: np.random.Generator) -> AnyEpisode:
        return generator.instruction_episode(rng)


def register_envs() -> None:
    """Register the ``nav3d/*-v0`` ids with gymnasium (idempotent; done on ``import envs``)."""
    for name, cls in (("PointNav", PointNavEnv), ("ObjectNav", ObjectNavEnv), ("Instruction", InstructionEnv)):
        env_id = f"nav3d/{name}-v0"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"{cls.__module__}:{cls.__name__}")
