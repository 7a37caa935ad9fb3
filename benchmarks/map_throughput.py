"""Map integration throughput on a rollout in a generated house: frames/s per construction at
128 and 256 px (ground-truth semantic-text features, 384-d), beside open3d's ``VoxelBlockGrid`` TSDF
integrating the same frames (geometry and colour only); the maps' point counts and their quality
against the true mesh (``perception.evaluation``: accuracy and completeness in cm, and the
precision of the top-100 points for each object category seen, by text query); and with
``--memory-frames N`` the resident memory each map adds after integrating N frames at 128 px.

    python benchmarks/map_throughput.py [--frames 100] [--house 0] [--memory-frames 1000]

Prints figures; it is not a timed test. Feature extraction is timed apart from integration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception import FusionMap, MapConfig, PointCloudMap, SemanticTextExtractor, SentenceEncoder
from perception.evaluation import object_categories_in, query_precision, surface_quality
from perception.fusion_map import FusionConfig, integrate_tsdf, new_tsdf_grid
from perception.neural_field_map import NeuralFieldMap
from perception.text_encoder import default_encoder_path


CONSTRUCTIONS = {"pointcloud": PointCloudMap, "fusion": FusionMap, "neural": NeuralFieldMap}


def rollout_frames(scene, size: int, n: int, seed: int):
    """``n`` frames of a walk (a turn in place, then random moves and turns), one at a time."""
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=size, height=size))
    nav = sim.navigation
    rng = np.random.default_rng(seed)
    yield sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, nav.largest_island()), 0.0))
    for i in range(n - 1):
        action = Action.TURN_LEFT if i < 12 else [Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT][rng.integers(4)]
        yield sim.step(action)[0]


def time_tsdf_only(frames, voxel_size: float, max_depth: float) -> float:
    """Seconds per frame for open3d's VoxelBlockGrid TSDF (depth + colour) alone."""
    grid = new_tsdf_grid(voxel_size, FusionConfig())
    t = time.perf_counter()
    for f in frames:
        integrate_tsdf(grid, f, max_depth)
    return (time.perf_counter() - t) / len(frames)


def resident_mib() -> float:
    """The process's resident memory now (Linux ``/proc``), else its peak so far, MiB."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_after(scene, extractor, constructions, n: int) -> None:
    """Integrate ``n`` frames at 128 px per construction; print the resident memory the map adds
    (measured with the map alive, after integration) and the process's peak so far."""
    import gc
    import resource

    for cls in constructions:
        gc.collect()
        before = resident_mib()
        m = cls(extractor, MapConfig())
        for f in rollout_frames(scene, 128, n, 1):  # frames are not kept
            m.integrate(f, extractor(f))
        points = len(m.points())
        added = resident_mib() - before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{cls.__name__}: {n} frames at 128 px -> {points} points; resident +{added:.0f} MiB with the map alive; process peak {peak:.0f} MiB")
        del m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--house", type=int, default=0)
    parser.add_argument("--memory-frames", type=int, default=0, help="also integrate this many frames per construction and print the memory it takes")
    parser.add_argument("--constructions", nargs="+", choices=tuple(CONSTRUCTIONS), default=tuple(CONSTRUCTIONS))
    parser.add_argument("--sizes", nargs="+", type=int, default=(128, 256))
    args = parser.parse_args()
    scene = generate_house(args.house)
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path(default_encoder_path()))
    print(f"house:{args.house}, {args.frames} frames, {extractor.dim}-d features, voxel 0.05 m, pixel stride 2")
    print(f"{'size':>5} {'construction':>12} {'frames/s':>9} {'ms/frame':>9} {'points':>8} {'vs TSDF':>8}")
    constructions = [CONSTRUCTIONS[c] for c in args.constructions]
    for size in args.sizes:
        frames = list(rollout_frames(scene, size, args.frames, args.house))
        tsdf_s = time_tsdf_only(frames, MapConfig().voxel_size, MapConfig().max_depth)
        print(f"{size:>5} {'o3d TSDF':>12} {1 / tsdf_s:>9.1f} {tsdf_s * 1e3:>9.1f} {'':>8} {1.0:>8.2f}")
        for cls in constructions:
            m = cls(extractor, MapConfig())
            extract_s = integrate_s = 0.0
            for f in frames:  # features made per frame: a 256 x 256 x 384 frame is 96 MiB
                t = time.perf_counter()
                feats = extractor(f)
                extract_s += time.perf_counter() - t
                t = time.perf_counter()
                m.integrate(f, feats)
                integrate_s += time.perf_counter() - t
            s = integrate_s / len(frames)
            accuracy, completeness = surface_quality(m, frames, scene)
            precision = [query_precision(m, scene, c) for c in object_categories_in(m, scene)]
            print(f"{size:>5} {cls.__name__:>12} {1 / s:>9.1f} {s * 1e3:>9.1f} {len(m.points()):>8} {s / tsdf_s:>8.2f}"
                  f"   accuracy {accuracy * 100:.2f} cm, completeness {completeness * 100:.2f} cm,"
                  f" query precision mean {np.mean(precision):.2f} min {np.min(precision):.2f} ({len(precision)} categories)")
        print(f"{size:>5} {'(features)':>12} {len(frames) / extract_s:>9.1f} {extract_s / len(frames) * 1e3:>9.1f}")
    if args.memory_frames:
        memory_after(scene, extractor, constructions, args.memory_frames)

if __name__ == "__main__":
    main()
