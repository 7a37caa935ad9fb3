"""Episodes/s of ``nav3d eval`` (``agent.episode_eval.evaluate_episodes``) with 1 and 2 local workers,
on the process-pool path and on a local Ray instance, with the ratio and a cost model.

    python benchmarks/eval_scaling.py [--episodes 4] [--house 1] [--size 48] [--core-hour 0.05]

The episodes are generated in one house (``EpisodeGenerator.instruction_episodes``) and run with the
oracle planner and policy on a point-cloud map, so the figure is the loop's (env, map, policy), not
the 3D-LLM's. Each run writes a fresh output folder. ``--workers 1`` runs in this process; 2 spawns
a pool (each worker loads torch, the encoder and its scene for every episode); Ray starts one actor
per worker that keeps its scene loaded (``agent.scale``).

Cost model. A run of E episodes on N workers takes about ``T(N) = S(N) + E * p / N`` seconds, where
``p`` is the seconds of one episode on one worker (measured: the 1-worker local run / E) and ``S(N)``
the fixed cost of the run (starting workers, loading torch, the encoder and the scenes; measured as
``T(N) - E * p / N``, so on a machine with fewer free cores than N it also holds the contention). The
cost of 10,000 episodes is ``N * T(N) / 3600`` core-hours (each worker holds one core for the whole
run) times the price of a core-hour. Scaling pays while ``S(N)`` stays small against ``E * p / N``.
Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.episode_eval import EpisodeEvalConfig, evaluate_episodes


def make_dataset(folder: Path, episodes: int, house: int) -> Path:
    """``episodes`` one-subgoal instruction episodes in ``house:<house>``, saved as JSON.gz."""
    from envs.dataset import save_dataset
    from envs.embedded import EmbeddedSimulator
    from envs.episode_generator import EpisodeGenerator, InstructionConfig
    from envs.house import generate_house

    sim = EmbeddedSimulator(generate_house(house))
    config = InstructionConfig(min_subgoals=1, max_subgoals=1)
    made = EpisodeGenerator(sim, scene_id=f"house:{house}").instruction_episodes(episodes, np.random.default_rng(0), config)
    sim.close()
    return save_dataset(made, folder / "episodes.json.gz")


def timed_run(dataset: Path, out: Path, config: EpisodeEvalConfig, ray: bool) -> tuple[float, int]:
    """Seconds of one ``evaluate_episodes`` into a fresh ``out`` and the episodes it ran."""
    t = time.perf_counter()
    summary = evaluate_episodes(dataset, out, config, progress=False, ray=True if ray else None)
    return time.perf_counter() - t, summary["episodes"]


def cost_table(per_episode: float, overhead: dict[int, float], core_hour: float, episodes: int = 10_000) -> list[str]:
    """Lines of the cost model (module doc) for ``episodes`` at several worker counts; the overhead
    of a count not measured is the largest one measured."""
    lines = [f"cost model for {episodes:,} episodes: p = {per_episode:.2f} s/episode/worker, price {core_hour:.3f} per core-hour"]
    for n in (1, 2, 8, 32, 128):
        startup = overhead.get(n, max(overhead.values()))
        wall = startup + episodes * per_episode / n
        core_hours = n * wall / 3600
        lines.append(f"  N={n:>3}: startup {startup:6.1f} s, wall {wall / 3600:7.2f} h, {core_hours:7.2f} core-h, cost {core_hours * core_hour:8.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--house", type=int, default=1)
    parser.add_argument("--size", type=int, default=48, help="sensor pixels (default 48)")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--core-hour", type=float, default=0.05, help="price of one CPU core for an hour (default 0.05)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = EpisodeEvalConfig(planner="oracle", policy="oracle", construction="pointcloud", size=args.size, max_steps=args.max_steps, explore_steps=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = make_dataset(folder, args.episodes, args.house)
        results: dict[tuple[str, int], float] = {}
        for path in ("local", "ray"):
            if path == "ray":
                import ray

                t = time.perf_counter()
                ray.init(include_dashboard=False, log_to_driver=False)
                print(f"ray.init: {time.perf_counter() - t:.1f} s (once, not in the runs below)")
            for workers in (1, 2):
                config = EpisodeEvalConfig(**{**base.to_dict(), "workers": workers})
                seconds, ran = timed_run(dataset, folder / f"{path}-{workers}", config, path == "ray")
                results[path, workers] = seconds
                print(f"{path:>5} workers={workers}: {ran} episodes in {seconds:6.1f} s = {ran / seconds:.3f} episodes/s")
        for path in ("local", "ray"):
            print(f"{path:>5}: 2 workers / 1 worker throughput = {results[path, 1] / results[path, 2]:.2f}x")
        per_episode = results["local", 1] / args.episodes
        for path in ("local", "ray"):
            overhead = {n: max(results[path, n] - args.episodes * per_episode / n, 0.0) for n in (1, 2)}
            print(f"\n[{path}] " + "\n".join(cost_table(per_episode, overhead, args.core_hour)))


if __name__ == "__main__":
    main()
