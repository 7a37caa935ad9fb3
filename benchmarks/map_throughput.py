"""Map integration throughput on a rollout in a generated house: frames/s per construction at
128 and 256 px (ground-truth semantic-text features, 384-d), beside open3d's ``VoxelBlockGrid`` TSDF
integrating the same frames (geometry and colour only), and the maps' point counts.

    python benchmarks/map_throughput.py [--frames 100] [--house 0]

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
from perception.fusion_map import FusionConfig, new_tsdf_grid
from perception.text_encoder import default_encoder_path


def rollout(scene, size: int, n: int, seed: int) -> list:
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=size, height=size))
    nav = sim.navigation
    rng = np.random.default_rng(seed)
    frames = [sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, nav.largest_island()), 0.0))]
    for i in range(n - 1):
        action = Action.TURN_LEFT if i < 12 else [Action.MOVE_FORWARD, Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT][rng.integers(4)]
        frames.append(sim.step(action)[0])
    return frames


def time_tsdf_only(frames, voxel_size: float) -> float:
    """Seconds per frame for open3d's VoxelBlockGrid TSDF (depth + colour) alone."""
    import open3d as o3d

    from perception.fusion_map import GL_TO_CV

    grid = new_tsdf_grid(voxel_size, FusionConfig())
    t = time.perf_counter()
    for f in frames:
        depth = o3d.t.geometry.Image(o3d.core.Tensor(f.depth))
        color = o3d.t.geometry.Image(o3d.core.Tensor(f.rgb.astype(np.float32) / 255.0))
        k = o3d.core.Tensor(f.intrinsics.matrix(), o3d.core.float64)
        ext = o3d.core.Tensor(GL_TO_CV @ np.linalg.inv(f.camera_pose.matrix()), o3d.core.float64)
        blocks = grid.compute_unique_block_coordinates(depth, k, ext, 1.0, 8.0)
        grid.integrate(blocks, depth, color, k, ext, 1.0, 8.0)
    return (time.perf_counter() - t) / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--house", type=int, default=0)
    args = parser.parse_args()
    scene = generate_house(args.house)
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path(default_encoder_path()))
    print(f"house:{args.house}, {args.frames} frames, {extractor.dim}-d features, voxel 0.05 m, pixel stride 2")
    print(f"{'size':>5} {'construction':>12} {'frames/s':>9} {'ms/frame':>9} {'points':>8} {'vs TSDF':>8}")
    for size in (128, 256):
        frames = rollout(scene, size, args.frames, args.house)
        tsdf_s = time_tsdf_only(frames, 0.05)
        print(f"{size:>5} {'o3d TSDF':>12} {1 / tsdf_s:>9.1f} {tsdf_s * 1e3:>9.1f} {'':>8} {1.0:>8.2f}")
        for cls in (PointCloudMap, FusionMap):
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
            print(f"{size:>5} {cls.__name__:>12} {1 / s:>9.1f} {s * 1e3:>9.1f} {len(m.points()):>8} {s / tsdf_s:>8.2f}")
        print(f"{size:>5} {'(features)':>12} {len(frames) / extract_s:>9.1f} {extract_s / len(frames) * 1e3:>9.1f}")

if __name__ == "__main__":
    main()
