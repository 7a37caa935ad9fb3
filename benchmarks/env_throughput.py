"""Env throughput on a generated house: steps/s (RGB + depth + semantic) at 128 and 256 px, the ratio
of a step's time to a bare ``RaycastingScene.cast_rays`` of the same rays (the floor of this design),
and the time of navigation queries.

    python benchmarks/env_throughput.py [--house 0] [--steps 300]

Prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import open3d as o3d

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.raycast import SceneRaycaster, raycasting_scene
from envs.simulator import SensorConfig
from envs.types import Action, Pose


def _random_walk_actions(n: int, rng: np.random.Generator) -> list[Action]:
    """Mostly forward moves with turns, as a navigating agent takes them."""
    choices = [Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT]
    return [choices[i] for i in rng.integers(len(choices), size=n)]


def bench_resolution(scene, size: int, steps: int, seed: int) -> dict:
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=size, height=size))
    nav = sim.navigation
    rng = np.random.default_rng(seed)
    sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, nav.largest_island()), 0.0))
    actions = _random_walk_actions(steps, rng)
    for a in actions[:20]:  # warm-up
        sim.step(a)
    t = time.perf_counter()
    poses = []
    for a in actions:
        poses.append(sim.step(a)[0].camera_pose)
    step_s = (time.perf_counter() - t) / steps

    # the same rays through open3d alone: the floor this design can reach
    camera_rays = SceneRaycaster.camera_rays(sim.intrinsics)  # (H*W, 3)
    ray_sets = []
    for pose in poses:
        rays = np.empty((len(camera_rays), 6), dtype=np.float32)
        rays[:, :3] = pose.position
        rays[:, 3:] = camera_rays @ pose.rotation_matrix.T.astype(np.float32)
        ray_sets.append(o3d.core.Tensor.from_numpy(rays))
    raycaster = raycasting_scene(scene)
    raycaster.cast_rays(ray_sets[0])
    t = time.perf_counter()
    for rays in ray_sets:
        raycaster.cast_rays(rays)
    cast_s = (time.perf_counter() - t) / steps
    return {"size": size, "steps_per_s": 1.0 / step_s, "step_ms": step_s * 1e3, "cast_ms": cast_s * 1e3, "ratio": step_s / cast_s}


def bench_navigation(scene, queries: int, seed: int) -> dict:
    t = time.perf_counter()
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=8, height=8))
    build_s = time.perf_counter() - t
    nav = sim.navigation
    rng = np.random.default_rng(seed)
    island = nav.largest_island()
    pairs = [(nav.sample_navigable_point(rng, island), nav.sample_navigable_point(rng, island)) for _ in range(queries)]
    t = time.perf_counter()
    distances = [nav.geodesic_distance(a, b) for a, b in pairs]
    query_s = (time.perf_counter() - t) / queries
    t = time.perf_counter()
    again = [nav.geodesic_distance(b, a) for a, b in pairs]  # goal fields are cached per goal
    reverse_s = (time.perf_counter() - t) / queries
    finite = [d for d in distances if math.isfinite(d)]
    asym = max(abs(d - e) for d, e in zip(distances, again))
    return {"grid": nav.shape, "build_s": build_s, "query_ms": query_s * 1e3, "reverse_query_ms": reverse_s * 1e3,
            "mean_distance_m": float(np.mean(finite)), "max_asymmetry_m": asym}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--house", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    t = time.perf_counter()
    scene = generate_house(args.house)
    print(f"house:{args.house}: {len(scene.faces)} triangles, {len(scene.objects)} objects, generated in {time.perf_counter() - t:.2f} s")
    print(f"{'size':>6} {'steps/s':>9} {'step ms':>9} {'cast ms':>9} {'step/cast':>10}")
    for size in (128, 256):
        r = bench_resolution(scene, size, args.steps, args.house)
        print(f"{r['size']:>6} {r['steps_per_s']:>9.1f} {r['step_ms']:>9.2f} {r['cast_ms']:>9.2f} {r['ratio']:>10.2f}")
    n = bench_navigation(scene, args.queries, args.house)
    print(f"navigation: grid {n['grid']} built in {n['build_s']:.2f} s (with the ray-casting scene); "
          f"geodesic query {n['query_ms']:.1f} ms (new goal), {n['reverse_query_ms']:.1f} ms (new goal, reversed pairs); "
          f"mean distance {n['mean_distance_m']:.2f} m; max |d(a,b) - d(b,a)| {n['max_asymmetry_m']:.3f} m")


if __name__ == "__main__":
    main()
