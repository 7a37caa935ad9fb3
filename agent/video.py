"""Episode videos: per-step panels (RGB | depth | semantic) written as MP4 with imageio-ffmpeg."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def colorize_depth(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """(H, W, 1) metres -> (H, W, 3) uint8, near bright, no return black."""
    d = depth[..., 0]
    v = np.where(d > 0, 1.0 - np.clip(d / max_depth, 0.0, 1.0), 0.0)
    return np.repeat((v * 255).astype(np.uint8)[..., None], 3, axis=2)


def colorize_semantic(semantic: np.ndarray) -> np.ndarray:
    """(H, W) instance ids -> (H, W, 3) uint8, a stable pseudo-random colour per id, 0 black."""
    ids = semantic.astype(np.uint32)
    hashed = (ids * np.uint32(2654435761)) & np.uint32(0xFFFFFF)  # Knuth's multiplicative hash
    rgb = np.stack([(hashed >> 16) & 255, (hashed >> 8) & 255, hashed & 255], axis=-1).astype(np.uint8)
    rgb[ids == 0] = 0
    return rgb


def observation_panel(obs: dict, max_depth: float) -> np.ndarray:
    """One video frame: the observation's RGB, depth and (when present) semantic images side by side."""
    parts = [obs["rgb"], colorize_depth(obs["depth"], max_depth)]
    if "semantic" in obs:
        parts.append(colorize_semantic(obs["semantic"]))
    return np.concatenate(parts, axis=1)


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """Write (H, W, 3) uint8 frames to an MP4 at ``path`` atomically (a temp file, then rename)."""
    import imageio.v2 as imageio

    from envs.files import atomic_destination

    with atomic_destination(path) as tmp:
        with imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=16, format="FFMPEG") as writer:
            for frame in frames:
                writer.append_data(_pad_to_block(frame))
    return Path(path)


def _pad_to_block(frame: np.ndarray, block: int = 16) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, -h % block), (0, -w % block), (0, 0)))
