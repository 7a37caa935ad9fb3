"""Closed-loop throughput: whole instruction episodes (map + planning + policy + recording) in steps/s,
where each step's time goes, and the env-only step rate on the same episode's actions.

    python benchmarks/loop_throughput.py [--size 256] [--planner llm|oracle] [--policy map|oracle]
                                         [--construction neural] [--episodes 1] [--scene house:100000]

For each episode it prints the loop's steps/s and the seconds per step of each part (env: render and
measures; features; map: the surface update and the waits for the mapping thread, where the neural
field's gradient steps run while the other parts do; explore; plan; policy; record: the video
panels), then replays the same actions on a fresh env alone for the env-only steps/s. Prints
figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import time

from agent.episode_runner import MAPPINGS, build_agent, run_episode
from agent.loop_config import LoopConfig
from agent.recording import RolloutRecorder
from agent.threads import cpu_threads
from envs.gym_env import InstructionEnv
from envs.simulator import SensorConfig
from envs.types import Action

PARTS = ("env", "features", "map", "explore", "plan", "policy", "record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--scene", default="house:900000")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--planner", default="llm", choices=("llm", "oracle"))
    parser.add_argument("--policy", default="map", choices=("map", "oracle"))
    parser.add_argument("--construction", default=None)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--explore-steps", type=int, default=LoopConfig.explore_steps)
    parser.add_argument("--no-video", action="store_true", help="skip the recording's video panels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mapping", default="thread", choices=MAPPINGS, help="where the neural field trains")
    args = parser.parse_args()

    print(f"{args.size}x{args.size}, planner {args.planner}, policy {args.policy}, {args.threads} torch thread(s), mapping {args.mapping}")
    print(f"{'episode':>8} {'steps':>6} {'loop steps/s':>13} {'env-only steps/s':>17}  " + " ".join(f"{p:>8}" for p in PARTS) + "   (ms per step)")
    with cpu_threads(args.threads):
        for seed in range(args.episodes):
            sensor = SensorConfig(width=args.size, height=args.size)
            env = InstructionEnv(scenes=(args.scene,), sensor=sensor)
            observation, _ = env.reset(seed=seed)
            sim = env.simulator
            loop = LoopConfig(explore_steps=args.explore_steps)
            agent = build_agent(env.current_episode, sim.scene, sim, args.planner, args.policy, args.checkpoint, args.construction, loop, mapping=args.mapping)
            recorder = RolloutRecorder(sensor.max_depth, video=not args.no_video)
            result = run_episode(env, agent, observation, on_step=recorder.on_step)
            env.close()
            n = len(result.steps)
            per_step = {p: 1e3 * result.metrics.get(f"time_{p}_s", 0.0) / max(n, 1) for p in PARTS}

            # the same actions on the env alone
            env = InstructionEnv(scenes=(args.scene,), sensor=sensor)
            env.reset(seed=seed)
            t = time.perf_counter()
            for record in result.steps:
                env.step(Action[record.action.upper()])
            env_only = n / max(time.perf_counter() - t, 1e-9)
            env.close()
            print(f"{seed:>8} {n:>6} {result.metrics['steps_per_s']:>13.1f} {env_only:>17.1f}  " + " ".join(f"{per_step[p]:>8.1f}" for p in PARTS)
                  + f"   success {result.metrics['success']:.0f}")


if __name__ == "__main__":
    main()
