"""Compute per construction (issue 4's third ablation): for each map construction (neural, fusion,
pointcloud) and for the 2D baseline's image tokens (multiview), the time and peak memory to build a
3D-LLM dataset of a few generated houses (``nav3d language-data``'s ``write_dataset``), and the
3D-LLM's training step time and peak memory on that dataset (``nav3d train``'s ``train``, the
``cpu-small`` preset with the LM location head, which every construction can train).

    python benchmarks/construction_compute.py [--houses 3] [--steps 30] [--constructions neural fusion pointcloud multiview]

Each phase runs in a fresh process (this script with ``--phase``), so that the peak resident memory it
reports (``ru_maxrss``) is that phase's own. Torch uses one CPU thread throughout. Prints figures; it
is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHOICES = ("neural", "fusion", "pointcloud", "multiview")


def build_data(out: Path, construction: str, houses: int) -> dict:
    """Write a ``houses``-house dataset of ``construction`` to ``out``; its seconds and per-house map seconds."""
    import numpy as np

    from agent.language_dataset import write_dataset
    from agent.scene_maps import read_features_header

    began = time.perf_counter()
    write_dataset(out, houses, construction, seed=0, progress=False, threads=1)
    seconds = time.perf_counter() - began
    maps = [read_features_header(p)["info"]["seconds"] for p in sorted((out / "maps").glob("*.npz"))]
    return {
        "seconds": seconds,
        "map_seconds_per_house": float(np.mean([m["integrate"] + m["readout"] for m in maps])),
        "setup_seconds_per_house": float(np.mean([m["setup"] for m in maps])),
    }


def train_steps(data: Path, out: Path, steps: int) -> dict:
    """Train the ``cpu-small`` LM-head 3D-LLM ``steps`` steps on ``data``: the median step's seconds
    (each step's own, from the training log) and tokens per second."""
    import numpy as np

    from agent.training import LOG_FILE, TrainConfig, train

    train(TrainConfig(data, out, steps=steps, location_head="lm", eval_every=0, checkpoint_every=0, log_every=1, progress=False, threads=1))
    log = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines() if line.strip()]
    timed = [r for r in log if "seconds" in r][1:]  # the first step also warms up
    return {"seconds_per_step": float(np.median([r["seconds"] for r in timed])), "tokens_per_s": float(np.median([r["tokens_per_s"] for r in timed]))}


def run_phase(args: argparse.Namespace) -> None:
    """One phase in this process; prints its figures and peak memory as one JSON line."""
    import torch

    torch.set_num_threads(1)
    work = Path(args.work)
    if args.phase == "data":
        figures = build_data(work / args.construction, args.construction, args.houses)
    else:
        figures = train_steps(work / args.construction, work / f"{args.construction}-run", args.steps)
    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(figures))


def child(phase: str, construction: str, work: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--construction", construction, "--work", str(work),
               "--houses", str(args.houses), "--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} for {construction} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, default=3, help="houses of each dataset (default 3)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per construction (default 30)")
    parser.add_argument("--constructions", nargs="+", choices=CHOICES, default=CHOICES)
    parser.add_argument("--phase", choices=("data", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--construction", choices=CHOICES, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args)
        return
    print(f"{args.houses} houses per dataset (128 px frames, 1024 points of 384-d features kept per house); "
          f"{args.steps} training steps of 8 records, cpu-small preset, LM head, 1 thread")
    print(f"{'construction':>12} {'map s/house':>12} {'dataset s':>10} {'data peak MiB':>14} {'train s/step':>13} {'tokens/s':>9} {'train peak MiB':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for construction in args.constructions:
            data = child("data", construction, Path(tmp), args)
            fit = child("train", construction, Path(tmp), args)
            print(f"{construction:>12} {data['map_seconds_per_house']:>12.2f} {data['seconds']:>10.1f} {data['peak_mib']:>14.0f} "
                  f"{fit['seconds_per_step']:>13.3f} {fit['tokens_per_s']:>9.0f} {fit['peak_mib']:>15.0f}", flush=True)


if __name__ == "__main__":
    main()
