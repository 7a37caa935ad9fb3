"""The ``nav3d`` command line.

- ``nav3d demo``: one episode in a generated house on the embedded backend, driven by the oracle
  follower (the simulator's shortest path); prints the measures and writes ``video.mp4``,
  ``steps.jsonl`` and ``metrics.json`` to ``--out``.
- ``nav3d episodes``: generate a habitat-lab episode dataset over generated houses, split by house
  into train/val/test ``.json.gz`` files.
- ``nav3d room-landmarks``: count which object categories tell each room type over generated
  houses (``agent.room_landmarks``).
- ``nav3d map``: build a 3D feature map from a recorded RGB-D sequence in the TUM RGB-D layout
  (``perception.tum``) with colour features (``perception.color_features``; recordings have no
  semantic images) and save it as one ``.npz``.
- ``nav3d export-tum``: record a simulator rollout (a scripted walk: a turn in place, then the
  oracle follower towards random navigable goals) as a TUM RGB-D sequence.
- ``nav3d train-features``: train the learned RGB feature CNN (``perception.learned_rgb``) on
  generated houses, report its per-pixel top-1 category accuracy on held-out houses, save it.
- ``nav3d eval-features``: that accuracy for a saved checkpoint (default: the shipped one).
- ``nav3d language-data``: 3D-language records (captions, QA, grounding, task decompositions with
  location tokens) over generated houses, with the map points and features they refer to
  (``agent.language_dataset``).
- ``nav3d train``: train the 3D-LLM on such a dataset, with atomic checkpoints and resume
  (``agent.training``).
- ``nav3d eval-planner``: a trained 3D-LLM's decomposition, grounding, QA and caption metrics on a
  dataset split of held-out houses (``agent.planner_eval``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TASKS = ("pointnav", "objectnav", "instruction")
MAP_CONSTRUCTIONS = {
    "pointcloud": ("perception.pointcloud_map", "PointCloudMap"),
    "fusion": ("perception.fusion_map", "FusionMap"),
    "neural": ("perception.neural_field_map", "NeuralFieldMap"),
}
"""``nav3d map --construction`` name -> (module, class) of a ``FeatureMap`` taking (extractor, MapConfig)."""


PLANNER_CHOICES = ("llm", "llm-grounded", "oracle", "frontier")
"""``--planner`` names (``agent.episode_runner.PLANNERS``, without importing torch to parse arguments)."""
MAPPING_CHOICES = ("thread", "process", "inline")
"""``--mapping`` names (``agent.episode_runner.MAPPINGS``, likewise)."""
WAYPOINTS_HELP = ("where the 3D-LLM's room and object steps take their waypoints from: the map around the points its pointer chose "
                  "(map, the default: a room's middle between its walls, the first place within reach of the object on the way), "
                  "the pointer's weighted mean for room steps (pointer), or the location tokens as written")
FIRST_EXPLORE_HELP = (
    "frontier-exploration actions before the first plan alone (default: 100 for instruction episodes, at most --explore-steps; "
    "0 for ObjectNav); 0 = a turn in place, then plan and explore only for targets not yet in the map"
)
PLANNER_HELP = (
    "llm: the 3D-LLM (default); llm-grounded: its steps, object waypoints looked up in the agent's map; oracle: the episode's "
    "ground-truth plan; frontier: no language model, the subgoals' target phrases searched for in the agent's map by frontier exploration"
)

RUN_SCENE = "house:900000"
"""``nav3d run``'s default scene: a generated house outside the seeds the shipped models were trained on (the held-out range 900000+)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, PermissionError, ImportError, ConnectionError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nav3d {args.command}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    from agent.loop_config import LoopConfig
    from agent.waypoint_format import WAYPOINT_FORMATS, WAYPOINT_SOURCES

    parser = argparse.ArgumentParser(prog="nav3d", description="nav3d: perception -> 3D map -> 3D-LLM -> policy, on a Habitat-style simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run one episode with the oracle follower and record it")
    demo.add_argument("--task", choices=TASKS, default="objectnav")
    demo.add_argument("--scene", default="house:0", help="house:<seed> or a mesh file (default house:0)")
    demo.add_argument("--seed", type=int, default=0, help="episode seed")
    demo.add_argument("--size", type=int, default=256, help="sensor width and height in pixels")
    demo.add_argument("--max-steps", type=int, default=500)
    demo.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for video.mp4, steps.jsonl, metrics.json")
    demo.add_argument("--no-video", action="store_true", help="skip the MP4")
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="run one instruction episode with the whole loop (map, 3D-LLM plan, policy), print the plan and the metrics, record it")
    run.add_argument("--scene", default=RUN_SCENE, help=f"house:<seed> or a mesh file (default {RUN_SCENE}, a house no shipped model was trained on)")
    run.add_argument("--seed", type=int, default=0, help="seed of the generated instruction episode (default 0)")
    run.add_argument("--dataset", type=Path, default=None, help="take the episode from a habitat-lab instruction dataset (.json/.json.gz) instead")
    run.add_argument("--episode-index", type=int, default=0, help="which episode of --dataset (default 0)")
    run.add_argument("--planner", choices=PLANNER_CHOICES, default="llm", help=PLANNER_HELP)
    run.add_argument("--policy", choices=("map", "oracle"), default="map", help="map: planner on the agent's own map (default); oracle: the simulator's shortest path")
    run.add_argument("--checkpoint", type=Path, default=None, help="3D-LLM folder (default: the one shipped with nav3d)")
    run.add_argument("--construction", choices=tuple(MAP_CONSTRUCTIONS), default=None, help="map construction (default: the checkpoint's training data's)")
    run.add_argument("--waypoints", choices=WAYPOINT_SOURCES, default="map", help=WAYPOINTS_HELP)
    run.add_argument("--explore-steps", type=int, default=LoopConfig.explore_steps,
                     help=f"frontier-exploration actions for each target not yet in the map, and at most this many before the first plan; 0 = a turn in place instead (default {LoopConfig.explore_steps})")
    run.add_argument("--first-explore-steps", type=int, default=None, help=FIRST_EXPLORE_HELP)
    run.add_argument("--size", type=int, default=128, help="sensor width and height in pixels (default 128)")
    run.add_argument("--max-steps", type=int, default=500, help="episode step limit (default 500)")
    run.add_argument("--out", type=Path, default=Path("outputs/run"), help="rollout folder: video.mp4, steps.jsonl, plan.json, events.jsonl, metrics.json")
    run.add_argument("--no-video", action="store_true", help="skip the MP4 (logs only)")
    run.add_argument("--rerun", type=Path, default=None, metavar="FILE.rrd", help="also write the rollout as a Rerun recording (the rerun extra)")
    run.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1)")
    run.add_argument("--mapping", choices=MAPPING_CHOICES, default="thread",
                     help="where the neural field trains while the agent acts: a mapping thread (default), a mapping process, or inline")
    run.set_defaults(func=_run)

    replay = sub.add_parser("replay", help="render a recorded rollout folder (nav3d run --out) again as a video")
    replay.add_argument("rollout", type=Path, help="rollout folder with plan.json and steps.jsonl")
    replay.add_argument("--out", type=Path, default=None, help="MP4 to write (default ROLLOUT/replay.mp4)")
    replay.add_argument("--fps", type=int, default=10, help="frames per second (default 10)")
    replay.set_defaults(func=_replay)

    evaluate = sub.add_parser("eval", help="run the agent over a dataset of instruction or ObjectNav episodes: per-episode results.jsonl (resumable), summary table and plot")
    evaluate.add_argument("dataset", type=Path, help="habitat-lab instruction or ObjectNav episode dataset (.json/.json.gz; nav3d episodes --task instruction|objectnav)")
    evaluate.add_argument("--out", type=Path, required=True, help="folder for results.jsonl, summary.json, summary.md, success_by_subgoals.png (instruction episodes)")
    evaluate.add_argument("--planner", choices=PLANNER_CHOICES, default="llm", help=PLANNER_HELP)
    evaluate.add_argument("--policy", choices=("map", "oracle"), default="map", help="map: planner on the agent's own map (default); oracle: the simulator's shortest path")
    evaluate.add_argument("--checkpoint", type=Path, default=None, help="3D-LLM folder (default: the one shipped with nav3d)")
    evaluate.add_argument("--construction", choices=tuple(MAP_CONSTRUCTIONS), default=None, help="map construction (default: the checkpoint's training data's)")
    evaluate.add_argument("--waypoints", choices=WAYPOINT_SOURCES, default="map", help=WAYPOINTS_HELP)
    evaluate.add_argument("--explore-steps", type=int, default=LoopConfig.explore_steps, help=f"frontier-exploration actions for each target not yet in the map, and at most this many before the first plan (default {LoopConfig.explore_steps})")
    evaluate.add_argument("--first-explore-steps", type=int, default=None, help=FIRST_EXPLORE_HELP)
    evaluate.add_argument("--size", type=int, default=128, help="sensor width and height in pixels (default 128)")
    evaluate.add_argument("--max-steps", type=int, default=500, help="episode step limit (default 500)")
    evaluate.add_argument("--record", type=Path, default=None, help="folder for each episode's rollout (video.mp4, steps.jsonl, plan.json, ...; nav3d replay renders them)")
    evaluate.add_argument("--limit", type=int, default=None, help="run at most this many episodes not yet in results.jsonl")
    evaluate.add_argument("--workers", type=int, default=1, help="episodes in parallel, one process each (default 1)")
    evaluate.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS per worker (default 1)")
    _add_ray_argument(evaluate, "episodes run on --workers Ray actors, each keeping its scene loaded")
    evaluate.set_defaults(func=_evaluate)

    episodes = sub.add_parser("episodes", help="generate a habitat-lab episode dataset over generated houses")
    episodes.add_argument("--task", choices=TASKS, default="objectnav")
    episodes.add_argument("--houses", type=int, default=10, help="number of houses (seeds --first-house ..; default 10)")
    episodes.add_argument("--first-house", type=int, default=0, help="seed of the first house (default 0; the shipped models never saw seeds >= 900000)")
    episodes.add_argument("--per-house", type=int, default=10, help="episodes per house")
    episodes.add_argument("--seed", type=int, default=0)
    episodes.add_argument("--out", type=Path, required=True, help="folder for train/val/test .json.gz")
    episodes.set_defaults(func=_episodes)

    landmarks = sub.add_parser("room-landmarks", help="count which object categories tell each room type over the training split of generated houses (agent.room_landmarks)")
    landmarks.add_argument("--houses", type=int, default=100, help="houses whose training split is counted (seeds --first-house ..; default 100, the 3D-LLM's)")
    landmarks.add_argument("--first-house", type=int, default=0, help="seed of the first house (default 0)")
    landmarks.add_argument("--min-share", type=float, default=0.7, help="share of a category's instances that must lie in one room type (default 0.7)")
    landmarks.add_argument("--out", type=Path, required=True, help="JSON file to write (the shipped one: agent/room_landmarks.json)")
    landmarks.set_defaults(func=_room_landmarks)

    mapping = sub.add_parser("map", help="build a 3D feature map from a recorded RGB-D sequence (TUM RGB-D layout) and save it")
    mapping.add_argument("sequence", type=Path, metavar="SEQUENCE_FOLDER", help="folder with rgb.txt, depth.txt, groundtruth.txt, rgb/, depth/")
    mapping.add_argument("--out", type=Path, required=True, help="the map file to write (.npz)")
    mapping.add_argument("--construction", choices=tuple(MAP_CONSTRUCTIONS), default="pointcloud", help="map construction (default pointcloud)")
    mapping.add_argument("--intrinsics", type=Path, default=None, help="camera intrinsics JSON (default: SEQUENCE_FOLDER/intrinsics.json)")
    mapping.add_argument("--world-up", choices=("y", "z"), default="y", help="up axis of the groundtruth's world frame (default y)")
    mapping.add_argument("--stride", type=int, default=1, help="use every n-th frame (default 1)")
    mapping.add_argument("--max-frames", type=int, default=None, help="use at most this many frames (after --stride)")
    mapping.add_argument("--voxel-size", type=float, default=0.05, help="map resolution in metres (default 0.05)")
    mapping.add_argument("--max-pose-difference", type=float, default=0.02, help="seconds between a frame and its groundtruth pose (default 0.02)")
    mapping.set_defaults(func=_map)

    export = sub.add_parser("export-tum", help="record a simulator rollout as a TUM RGB-D sequence")
    export.add_argument("--scene", default="house:0", help="house:<seed> or a mesh file (default house:0)")
    export.add_argument("--seed", type=int, default=0, help="seed of the start pose and goals")
    export.add_argument("--frames", type=int, default=60, help="frames to record (default 60)")
    export.add_argument("--size", type=int, default=256, help="sensor width and height in pixels")
    export.add_argument("--world-up", choices=("y", "z"), default="y", help="up axis of the written world frame (default y)")
    export.add_argument("--out", type=Path, required=True, help="the sequence folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace a sequence already in --out")
    export.set_defaults(func=_export_tum)

    train_features = sub.add_parser("train-features", help="train the learned RGB feature CNN on generated houses and save it")
    train_features.add_argument("--out", type=Path, required=True, help="checkpoint folder to write (model.safetensors, config.json)")
    train_features.add_argument("--train-houses", type=int, default=100, help="training houses (seeds from 100000; default 100)")
    train_features.add_argument("--heldout-houses", type=int, default=10, help="held-out houses for the accuracy (seeds from 900000; default 10)")
    train_features.add_argument("--frames-per-house", type=int, default=24, help="random views rendered per house (default 24)")
    train_features.add_argument("--size", type=int, default=128, help="frame width and height in pixels, a multiple of 16 (default 128)")
    train_features.add_argument("--epochs", type=int, default=7, help="passes over the training frames (default 7)")
    train_features.add_argument("--batch-size", type=int, default=16, help="frames per step (default 16)")
    train_features.add_argument("--pixels-per-frame", type=int, default=1024, help="pixels sampled per frame and step (default 1024)")
    train_features.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default 3e-3)")
    train_features.add_argument("--class-balance", type=float, default=0.5, help="0: sample pixels uniformly .. 1: every category equally (default 0.5)")
    train_features.add_argument("--channels", default="24,48,96,128", help="encoder widths at 1/2, 1/4, 1/8, 1/16 (default 24,48,96,128)")
    train_features.add_argument("--hidden", type=int, default=48, help="channels before the 1x1 head (default 48)")
    train_features.add_argument("--seed", type=int, default=0, help="seed of the views, the initialisation and the batches (default 0)")
    train_features.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1: on a shared CPU more threads can be far slower)")
    train_features.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    train_features.set_defaults(func=_train_features)

    eval_features = sub.add_parser("eval-features", help="per-pixel top-1 category accuracy of a learned RGB checkpoint on held-out houses")
    eval_features.add_argument("checkpoint", type=Path, nargs="?", default=None, help="checkpoint folder (default: the one shipped with nav3d)")
    eval_features.add_argument("--houses", type=int, default=10, help="houses to evaluate on (default 10)")
    eval_features.add_argument("--first-house", type=int, default=None, help="seed of the first house (default 900000, the held-out range)")
    eval_features.add_argument("--frames-per-house", type=int, default=24, help="random views per house (default 24)")
    eval_features.add_argument("--size", type=int, default=None, help="frame width and height in pixels (default: the checkpoint's input width)")
    eval_features.add_argument("--seed", type=int, default=0, help="seed of the views (default 0)")
    eval_features.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1)")
    eval_features.add_argument("--per-class", action="store_true", help="list every category's accuracy (default: the 12 most frequent)")
    eval_features.set_defaults(func=_eval_features)

    language = sub.add_parser("language-data", help="generate 3D-language training data (captions, QA, grounding, task decomposition) over generated houses")
    language.add_argument("--out", type=Path, required=True, help="dataset folder: maps/<scene>.npz, train/val/test.jsonl, dataset.json")
    language.add_argument("--houses", type=int, default=10, help="number of houses (default 10; seeds --first-house ..)")
    language.add_argument("--first-house", type=int, default=0, help="seed of the first house (default 0)")
    language.add_argument("--construction", choices=("neural", "fusion", "pointcloud", "multiview"), default="neural",
                          help="map construction of the features (default neural, the agent's); multiview: image patch features with no 3D lifting, the 2D baseline")
    language.add_argument("--seed", type=int, default=0, help="seed of the records and, without --map-seed, of the exploration (default 0)")
    language.add_argument("--map-seed", type=int, default=None,
                          help="seed of the exploration that builds the maps (default: --seed); with the maps of another dataset copied to "
                               "--out/maps and their seed here, another --seed writes new records over the same maps")
    language.add_argument("--points", type=int, default=1024, help="map points (and features) kept per scene (default 1024)")
    language.add_argument("--per-house", type=int, default=8, help="records per task per house (default 8; QA gets 3x)")
    language.add_argument("--decompositions", type=int, default=None, help="decompositions per house (default: --per-house)")
    language.add_argument("--min-subgoals", type=int, default=1, help="fewest steps of a decomposition (default 1; at most 4)")
    language.add_argument("--size", type=int, default=128, help="exploration frame width and height in pixels (default 128)")
    language.add_argument("--views-per-room", type=int, default=6, help="headings of the turn in place in each room (default 6)")
    language.add_argument("--bins", type=int, default=64, help="location bins per axis (default 64)")
    language.add_argument("--bounds", type=float, nargs=6, default=None, metavar=("XMIN", "YMIN", "ZMIN", "XMAX", "YMAX", "ZMAX"),
                          help="one location codec for all records, e.g. a 3D-LLM's fixed scene bounds in metres (default: each map's bounds)")
    language.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1: on a shared CPU more threads can be far slower)")
    language.add_argument("--no-resume", action="store_true", help="rebuild maps already in --out/maps (default: reuse them)")
    _add_ray_argument(language, "one Ray task per house (--threads CPUs each); this process writes the files")
    language.set_defaults(func=_language_data)

    from agent.precision import POINT_DTYPES
    from agent.train_config import LOCATION_HEADS, MIXED_PRECISION, PRESETS, TrainConfig

    defaults = TrainConfig(data_dir="", out_dir="")
    train = sub.add_parser("train", help="train the 3D-LLM on a dataset written by `nav3d language-data` (checkpoints in --out, --resume to continue)")
    train.add_argument("--data", type=Path, required=True, help="dataset folder with train.jsonl (and val.jsonl, maps/)")
    train.add_argument("--out", type=Path, required=True, help="output folder: tokenizer/, checkpoint-last/, training_log.jsonl")
    train.add_argument("--preset", choices=sorted(PRESETS), default=defaults.preset,
                       help=f"model size (default {defaults.preset}: ~7M parameters, ~30 min for 1,800 steps on one quiet CPU thread; gpu: ~130M, bf16 on CUDA; tiny: smoke tests)")
    train.add_argument("--steps", type=int, default=defaults.steps, help=f"optimiser steps in all (default {defaults.steps})")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"records per micro-batch (default {defaults.batch_size})")
    train.add_argument("--grad-accum", type=int, default=defaults.grad_accum,
                       help=f"micro-batches per step (default {defaults.grad_accum}); a step takes batch-size x grad-accum records however many processes share it")
    train.add_argument("--lr", type=float, default=defaults.lr, help=f"peak learning rate (default {defaults.lr})")
    train.add_argument("--warmup", type=int, default=defaults.warmup, help=f"linear warmup steps, then cosine decay (default {defaults.warmup})")
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help=f"AdamW weight decay (default {defaults.weight_decay})")
    train.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help=f"gradient norm clip, 0 = none (default {defaults.grad_clip})")
    train.add_argument("--eval-every", type=int, default=defaults.eval_every, help=f"steps between validation losses (default {defaults.eval_every}; 0 = at the end)")
    train.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, help=f"steps between checkpoints (default {defaults.checkpoint_every}; 0 = at the end)")
    train.add_argument("--log-every", type=int, default=defaults.log_every, help=f"steps between training_log.jsonl lines (default {defaults.log_every})")
    train.add_argument("--location-smoothing", type=float, default=defaults.location_smoothing,
                       help=f"width (bins, sigma) of the Gaussian target of location tokens; 0 = one-hot (default {defaults.location_smoothing})")
    train.add_argument("--location-head", choices=LOCATION_HEADS, default=None,
                       help="pointer: location tokens from a pointer over the map's points mixed with the LM's; phrase-pointer: the same "
                            "with a prior from the cosine of each point's feature to the sentence embedding of the step's phrase "
                            "(maps with sentence-embedding features); lm: the LM's logits alone "
                            "(default pointer; lm with --waypoint-format numbers)")
    train.add_argument("--pointer-condition", choices=("x", "xy"), default=defaults.pointer_condition,
                       help="axes of a location triple written earlier that the pointer's later axes condition on: x (default; "
                            "waypoints lie on the floor below their objects, so z follows x alone) or xy (the full mixture)")
    train.add_argument("--pointer-target-weight", type=float, default=defaults.pointer_target_weight,
                       help="weight of the loss that tells the pointer which map points each decomposition step means (the room's or "
                            "object's points, from the extents the data records); 0 = none (default %(default)s)")
    train.add_argument("--waypoint-format", choices=WAYPOINT_FORMATS, default=defaults.waypoint_format,
                       help="tokens: locations as location tokens <locK>; numbers: the ablation with locations as text numbers in metres, "
                            "'(x, y, z)', read through the position embeddings alone (LM head only) (default tokens)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="seed of the weights and the data order (default 0)")
    train.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu; under torchrun cuda:LOCAL_RANK)")
    train.add_argument("--mixed-precision", choices=MIXED_PRECISION, default=None,
                       help="autocast precision: no, bf16, or fp16 (with a gradient scaler; CUDA only) (default: bf16 on CUDA with the gpu preset, else no)")
    train.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1: on a shared CPU more threads can be far slower)")
    train.add_argument("--resume", action="store_true", help="continue from --out/checkpoint-last (same step count, data order and RNG)")
    train.add_argument("--init-from", default=None,
                       help="start from a saved 3D-LLM folder (fine-tuning): its weights, architecture and tokenizer; "
                            "--preset, --location-head and --pointer-condition are then not used")
    train.add_argument("--stop-at", type=int, default=None, help="end this session after this step with a checkpoint (continue later with --resume)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    eval_planner = sub.add_parser("eval-planner", help="score a trained 3D-LLM on a dataset split: decomposition steps and waypoints, grounding, QA, captions")
    eval_planner.add_argument("checkpoint", type=Path, help="a ThreeDLLM.save_pretrained folder, or a `nav3d train` --out folder (uses its checkpoint-last/)")
    eval_planner.add_argument("--data", type=Path, required=True, help="dataset folder written by `nav3d language-data`")
    eval_planner.add_argument("--split", default="test", help="which split file to score (default test: held-out houses)")
    eval_planner.add_argument("--out", type=Path, default=None, help="write predictions.jsonl and summary.json here")
    eval_planner.add_argument("--tasks", nargs="+", default=None, help="tasks to score (default: decomposition grounding qa caption)")
    eval_planner.add_argument("--max-records", type=int, default=None, help="at most this many records of each task (default all)")
    eval_planner.add_argument("--batch-size", type=int, default=8, help="records per generation batch (default 8)")
    eval_planner.add_argument("--tolerance", type=float, default=0.5, help="metres within which a waypoint is right (default 0.5)")
    eval_planner.add_argument("--waypoints", choices=WAYPOINT_SOURCES, default="map", help=WAYPOINTS_HELP + "; with map, grounding answers' room boxes are read from the walls around the pointed points too")
    eval_planner.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    eval_planner.add_argument("--point-dtype", choices=POINT_DTYPES, default="auto",
                              help="type of the scene encoder (and the pointer head's product over the map's points): auto (default) = "
                                   "bfloat16 where the device multiplies it natively (AMX CPUs, CUDA), else float32")
    eval_planner.add_argument("--threads", type=int, default=1, help="CPU threads for torch and numpy's BLAS (default 1: on a shared CPU more threads can be far slower)")
    eval_planner.add_argument("--no-progress", action="store_true", help="no progress bar")
    eval_planner.set_defaults(func=_eval_planner)
    return parser


def _add_ray_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--ray [ADDRESS]``: True with no value, the address with one (``agent.scale``)."""
    parser.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                        help=f"run on Ray: {what}. No ADDRESS: this machine's Ray instance (started if none runs); "
                             "ADDRESS: a cluster (HOST:6379 of `ray start --head`, ray://HOST:10001, or auto). Needs pip install -e '.[scale]'")


def _make_env(task: str, **kwargs):
    from envs.gym_env import InstructionEnv, ObjectNavEnv, PointNavEnv

    return {"pointnav": PointNavEnv, "objectnav": ObjectNavEnv, "instruction": InstructionEnv}[task](**kwargs)


def _current_goal(env, info: dict) -> np.ndarray:
    """The world points the oracle heads for now: the goal(s), view points, or the current subgoal's."""
    from envs.measures import goal_targets

    episode = env.current_episode
    if env.task == "instruction":
        current = min(int(info["subgoals_reached"]), len(episode.subgoals) - 1)
        return episode.subgoals[current].goal_positions
    return goal_targets(episode)


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from agent.video import observation_panel, write_video
    from envs.measures import OBJECTNAV_SUCCESS_DISTANCE, POINTNAV_SUCCESS_DISTANCE
    from envs.simulator import SensorConfig
    from policies.oracle import OracleFollower

    from envs.files import writable_folder

    out = writable_folder(args.out, "--out")
    console = Console(stderr=True)
    t0 = time.perf_counter()
    env = _make_env(args.task, scenes=(args.scene,), sensor=SensorConfig(width=args.size, height=args.size), max_episode_steps=args.max_steps)
    obs, info = env.reset(seed=args.seed)
    episode = env.current_episode
    console.print(f"[bold]{args.task}[/bold] in {episode.scene_id} (loaded in {time.perf_counter() - t0:.1f} s): {_describe(episode)}")
    radius = POINTNAV_SUCCESS_DISTANCE if args.task == "pointnav" else OBJECTNAV_SUCCESS_DISTANCE
    follower = OracleFollower(env.simulator.navigation, env.agent_config, goal_radius=radius)
    panels = [] if args.no_video else [observation_panel(obs, env.sensor_config.max_depth)]
    steps = []
    done = False
    with tqdm(total=args.max_steps, desc="steps", unit="step", file=sys.stderr) as bar:
        while not done:
            action = follower.act(obs, _current_goal(env, info))
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            steps.append({"step": int(info["num_steps"]), "action": action.name.lower(), "reward": reward,
                          "position": obs["position"].tolist(), "rotation": obs["rotation"].tolist(),
                          "measures": {k: v for k, v in info.items() if isinstance(v, (int, float))}})
            if not args.no_video:
                panels.append(observation_panel(obs, env.sensor_config.max_depth))
            bar.update(1)
    elapsed = time.perf_counter() - t0
    metrics = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
    metrics["wall_time_s"] = elapsed
    _write_json_lines(out / "steps.jsonl", steps)
    _write_json(out / "metrics.json", metrics)
    if panels:
        write_video(panels, out / "video.mp4", fps=10)
    table = Table(title=f"episode {episode.episode_id}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    console.print(f"wrote {out}/ ({'video.mp4, ' if panels else ''}steps.jsonl, metrics.json)")
    env.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from agent.episode_runner import build_agent, run_episode
    from agent.recording import RolloutRecorder
    from agent.threads import cpu_threads
    from envs.files import writable_folder
    from envs.simulator import SensorConfig

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    out = writable_folder(args.out, "--out")
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with cpu_threads(args.threads):
        source = {"episodes": [_dataset_episode(args.dataset, args.episode_index)]} if args.dataset is not None else {"scenes": (args.scene,)}
        env = _make_env("instruction", sensor=SensorConfig(width=args.size, height=args.size), max_episode_steps=args.max_steps, **source)
        obs, _ = env.reset(seed=args.seed)
        episode = env.current_episode
        console.print(f"[bold]instruction[/bold] in {episode.scene_id}: {episode.instruction!r} ({len(episode.subgoals)} subgoals)")
        from agent.loop_config import LoopConfig

        loop = LoopConfig(explore_steps=args.explore_steps, first_explore_steps=args.first_explore_steps)
        agent = build_agent(episode, env.simulator.scene, env.simulator, args.planner, args.policy, args.checkpoint, args.construction, loop, mapping=args.mapping, waypoints=args.waypoints)
        console.print(f"agent: {type(agent.map).__name__} + {type(agent.planner).__name__} + {type(agent.policy).__name__} (set up in {time.perf_counter() - t0:.1f} s)")
        recorder = RolloutRecorder(env.sensor_config.max_depth, video=not args.no_video)
        recorders = [recorder]
        if args.rerun is not None:
            from agent.rerun_recording import RerunRecorder

            recorders.append(RerunRecorder(args.rerun))

        def on_step(observation, frame, agent) -> None:
            for r in recorders:
                r.on_step(observation, frame, agent)

        result = run_episode(env, agent, obs, on_step=on_step, progress=True)
        env.close()
        if args.rerun is not None:
            console.print(f"wrote the Rerun recording {recorders[1].close()}")
    for i, plan in enumerate(result.plans):
        console.print(f"plan {i + 1} ({plan['latency_s']:.2f} s): {plan['text']}" + (f"  [red]problems: {plan['problems']}[/red]" if plan["problems"] else ""))
    recorder.write(out, result)
    table = Table(title=f"episode {result.episode_id}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    console.print(f"wrote {out}/ ({'video.mp4, ' if recorder.panels else ''}steps.jsonl, plan.json, events.jsonl, metrics.json)")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from agent.replay import replay_rollout

    video = replay_rollout(args.rollout, args.out or args.rollout / "replay.mp4", fps=args.fps)
    print(f"wrote {video}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from agent.episode_eval import EpisodeEvalConfig, evaluate_episodes, summary_table

    if not args.dataset.exists():
        raise FileNotFoundError(f"episode dataset {args.dataset} does not exist; make one with nav3d episodes --task instruction|objectnav --out DIR")
    if args.limit is not None and args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    config = EpisodeEvalConfig(
        planner=args.planner, policy=args.policy, checkpoint=None if args.checkpoint is None else str(args.checkpoint),
        construction=args.construction, size=args.size, max_steps=args.max_steps, explore_steps=args.explore_steps,
        first_explore_steps=args.first_explore_steps, workers=args.workers, threads=args.threads, waypoints=args.waypoints,
    )
    summary = evaluate_episodes(args.dataset, args.out, config, limit=args.limit, record=args.record, ray=args.ray)
    Console().print(Markdown(summary_table(summary)))
    recorded = f"; rollouts in {args.record}/" if args.record is not None else ""
    plot = ", success_by_subgoals.png" if summary["task"] == "instruction" else ""
    print(f"wrote {args.out}/ (results.jsonl, summary.json, summary.md{plot}, trajectories/){recorded}", file=sys.stderr)
    return 0


def _dataset_episode(dataset: Path, index: int):
    """Episode ``index`` of a habitat-lab instruction dataset file."""
    from envs.dataset import load_dataset
    from envs.episodes import InstructionEpisode

    episodes = load_dataset(dataset)
    if not 0 <= index < len(episodes):
        raise ValueError(f"--episode-index {index} is out of range: {dataset} holds {len(episodes)} episodes (0..{len(episodes) - 1})")
    if not isinstance(episodes[index], InstructionEpisode):
        raise ValueError(f"{dataset} holds {type(episodes[index]).__name__}s; nav3d run needs an instruction dataset (nav3d episodes --task instruction)")
    return episodes[index]


def _episodes(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from envs.backends import make_simulator
    from envs.dataset import save_dataset
    from envs.episode_generator import EpisodeGenerator, split_scene_ids

    from envs.files import writable_folder

    out = writable_folder(args.out, "--out")
    if args.houses < 1 or args.first_house < 0:
        raise ValueError(f"--houses must be >= 1 and --first-house >= 0, got {args.houses} and {args.first_house}")
    splits = split_scene_ids([f"house:{i}" for i in range(args.first_house, args.first_house + args.houses)])
    rng = np.random.default_rng(args.seed)
    by_split: dict[str, list] = {name: [] for name in splits}
    for name, ids in splits.items():
        for scene_id in tqdm(ids, desc=f"{name} houses", unit="house", file=sys.stderr):
            sim = make_simulator(scene_id)
            sample = getattr(EpisodeGenerator(sim, scene_id=scene_id), f"{args.task}_episodes")
            by_split[name].extend(sample(args.per_house, rng))
            sim.close()
    for name, episodes in by_split.items():
        path = save_dataset(episodes, out / f"{name}.json.gz")
        print(f"{name}: {len(episodes)} episodes in {len(splits[name])} houses -> {path}")
    return 0


def _room_landmarks(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agent.room_landmarks import RoomLandmarks
    from envs.episode_generator import STRUCTURAL_CATEGORIES, split_scene_ids
    from envs.files import writable_folder
    from envs.scene_io import resolve_scene

    if args.houses < 1 or args.first_house < 0:
        raise ValueError(f"--houses must be >= 1 and --first-house >= 0, got {args.houses} and {args.first_house}")
    writable_folder(args.out.parent, "--out's folder")
    ids = split_scene_ids([f"house:{i}" for i in range(args.first_house, args.first_house + args.houses)])["train"]
    scenes = (resolve_scene(i) for i in tqdm(ids, desc="houses", unit="house", file=sys.stderr))
    command = f"nav3d room-landmarks --houses {args.houses} --first-house {args.first_house} --min-share {args.min_share}"
    table = RoomLandmarks.from_scenes(scenes, min_share=args.min_share, exclude=STRUCTURAL_CATEGORIES, source=f"{command} ({len(ids)} training houses)")
    for room, categories in table.landmarks.items():
        print(f"{room}: {', '.join(categories)}")
    print(f"wrote {table.save(args.out)}")
    return 0


def _map(args: argparse.Namespace) -> int:
    import importlib

    from tqdm import tqdm

    from perception.color_features import ColorFeatureExtractor
    from perception.maps import MapConfig
    from perception.tum import open_tum_sequence

    sequence = open_tum_sequence(
        args.sequence, intrinsics=args.intrinsics, world_up=args.world_up, max_frames=args.max_frames,
        stride=args.stride, max_pose_difference=args.max_pose_difference,
    )
    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give the map file to write, e.g. {str(args.out / 'map.npz')!r}")
    from envs.files import writable_folder

    writable_folder(args.out.parent, "--out")
    module, name = MAP_CONSTRUCTIONS[args.construction]
    extractor = ColorFeatureExtractor()  # recordings have no semantic images
    feature_map = getattr(importlib.import_module(module), name)(extractor, MapConfig(voxel_size=args.voxel_size))
    t0 = time.perf_counter()
    for frame in tqdm(sequence, total=len(sequence), desc="frames", unit="frame", file=sys.stderr):
        feature_map.integrate(frame, extractor(frame))
    path = feature_map.save(args.out)
    elapsed = time.perf_counter() - t0
    points = feature_map.points()
    skipped = f" (skipped: {sequence.unpaired_rgb} rgb images without depth, {sequence.unposed} pairs without a pose)"
    print(f"frames: {len(sequence)} from {sequence.folder}{skipped if sequence.unpaired_rgb or sequence.unposed else ''}")
    print(f"points: {len(points)} ({args.construction}, voxel {args.voxel_size} m, colour features)")
    if len(points):
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = " x ".join(f"{v:.2f}" for v in hi - lo)
        lo_s, hi_s = (", ".join(f"{v:.2f}" for v in corner) for corner in (lo, hi))
        print(f"extent: min ({lo_s}) max ({hi_s}) m, {span} m (x, y, z)")
    print(f"time: {elapsed:.1f} s ({len(sequence) / max(elapsed, 1e-9):.1f} frames/s)")
    print(f"wrote {path}")
    return 0


def _export_tum(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from envs.embedded import EmbeddedSimulator
    from envs.scene_io import resolve_scene
    from envs.simulator import SensorConfig
    from perception.tum import write_tum_sequence

    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if args.size < 1:
        raise ValueError(f"--size must be >= 1 pixel, got {args.size}")
    from envs.files import writable_folder

    out = writable_folder(args.out, "--out")
    sim = EmbeddedSimulator(resolve_scene(args.scene), sensor_config=SensorConfig(width=args.size, height=args.size, semantic=False))
    rollout = _scripted_rollout(sim, args.frames, np.random.default_rng(args.seed))
    frames = tqdm(rollout, total=args.frames, desc="frames", unit="frame", file=sys.stderr)
    count = write_tum_sequence(frames, out, world_up=args.world_up, overwrite=args.overwrite)
    sim.close()
    print(f"wrote {count} frames of {args.scene} ({args.size}x{args.size}, world up {args.world_up}) to {out}/")
    return 0


def _train_features(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agent.threads import set_cpu_threads
    from envs.house import OBJECT_CATEGORIES
    from perception.learned_rgb import CONFIG_NAME, WEIGHTS_NAME, LearnedRGBConfig, LearnedRGBExtractor, vocabulary_table
    from perception.learned_rgb_data import FrameSampling, render_frames, split_houses
    from perception.learned_rgb_training import TrainingConfig, evaluate_accuracy, train_learned_rgb
    from perception.text_encoder import SentenceEncoder

    for name in ("train_houses", "heldout_houses", "frames_per_house", "epochs", "batch_size", "pixels_per_frame", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.size < 16 or args.size % 16:
        raise ValueError(f"--size must be a multiple of 16 pixels (>= 16), got {args.size}")
    try:
        channels = tuple(int(c) for c in args.channels.split(","))
    except ValueError:
        raise ValueError(f"--channels must be 4 comma-separated integers, got {args.channels!r}") from None
    from envs.files import writable_folder

    out = writable_folder(args.out, "--out")
    if not args.overwrite and ((out / WEIGHTS_NAME).exists() or (out / CONFIG_NAME).exists()):
        raise ValueError(f"--out {str(out)!r} already holds a checkpoint; pass --overwrite to replace it or choose another folder")
    set_cpu_threads(args.threads)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    training = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, pixels_per_frame=args.pixels_per_frame, learning_rate=args.lr,
        class_balance=args.class_balance, seed=args.seed,
    )
    config = LearnedRGBConfig(OBJECT_CATEGORIES, channels=channels, hidden=args.hidden, input_width=args.size)
    encoder = SentenceEncoder.from_path()
    extractor = LearnedRGBExtractor.untrained(config, vocabulary_table(encoder, config), encoder, seed=args.seed)
    split = split_houses(args.train_houses, args.heldout_houses)
    sampling = FrameSampling(size=args.size)
    train_frames = render_frames(split.train, args.frames_per_house, sampling, config.vocabulary, args.seed, progress=True, desc="training houses")
    heldout_frames = render_frames(split.heldout, args.frames_per_house, sampling, config.vocabulary, args.seed, progress=True, desc="held-out houses")
    render_s = time.perf_counter() - t0
    console.print(f"rendered {len(train_frames)} training frames ({len(split.train)} houses) and {len(heldout_frames)} held-out frames "
                  f"({len(split.heldout)} houses) at {args.size}x{args.size} in {render_s:.0f} s")
    result = train_learned_rgb(extractor, train_frames, training, progress=True, checkpoint=out)
    report = evaluate_accuracy(extractor, heldout_frames, progress=True)
    command = (
        f"nav3d train-features --out {args.out} --train-houses {args.train_houses} --heldout-houses {args.heldout_houses} "
        f"--frames-per-house {args.frames_per_house} --size {args.size} --epochs {args.epochs} --batch-size {args.batch_size} "
        f"--pixels-per-frame {args.pixels_per_frame} --lr {args.lr} --class-balance {args.class_balance} --channels {args.channels} "
        f"--hidden {args.hidden} --seed {args.seed} --threads {args.threads}"
    )
    extractor.training = {
        "command": command,
        "seed": args.seed,
        "train_houses": {"first": split.train[0], "count": len(split.train)},
        "heldout_houses": {"first": split.heldout[0], "count": len(split.heldout)},
        "frames_per_house": args.frames_per_house,
        "frame_sampling": {"size": sampling.size, "tilt_probability": sampling.tilt_probability, "max_tilt_deg": sampling.max_tilt_deg},
        "optimisation": {**training.__dict__},
        "steps": len(result.losses),
        "final_loss": float(np.mean(result.losses[-20:])) if result.losses else None,
        "logit_scale": result.logit_scale,
        "render_time_s": round(render_s, 1),
        "train_time_s": round(result.wall_time_s, 1),
        "torch_threads": args.threads,
        "parameters": sum(p.numel() for p in extractor.network.parameters()),
        "heldout": {k: v for k, v in report.to_dict().items() if k != "houses"},
    }
    extractor.save_pretrained(out)
    _print_accuracy(report, f"held-out accuracy ({len(split.heldout)} houses, {len(heldout_frames)} frames)", per_class=12)
    console.print(f"trained {len(result.losses)} steps in {result.wall_time_s:.0f} s (total {time.perf_counter() - t0:.0f} s); wrote {out}/")
    return 0


def _eval_features(args: argparse.Namespace) -> int:
    from agent.threads import set_cpu_threads
    from perception.learned_rgb import LearnedRGBExtractor, default_learned_rgb_path
    from perception.learned_rgb_data import HELDOUT_FIRST_SEED, FrameSampling, render_frames
    from perception.learned_rgb_training import evaluate_accuracy

    for name in ("houses", "frames_per_house", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    set_cpu_threads(args.threads)
    folder = default_learned_rgb_path() if args.checkpoint is None else args.checkpoint
    extractor = LearnedRGBExtractor.from_pretrained(folder)
    first = HELDOUT_FIRST_SEED if args.first_house is None else args.first_house
    if first < 0:
        raise ValueError(f"--first-house must be >= 0, got {first}")
    houses = range(first, first + args.houses)
    trained = extractor.training.get("train_houses") or {}
    if trained:
        seen = sorted(set(houses) & set(range(int(trained["first"]), int(trained["first"]) + int(trained["count"]))))
        if seen:
            raise ValueError(
                f"houses {seen[:5]}{'...' if len(seen) > 5 else ''} were training houses of {str(folder)!r}; "
                f"evaluate on unseen ones (--first-house {HELDOUT_FIRST_SEED} is the held-out range)"
            )
    size = extractor.config.input_width if args.size is None else args.size
    frames = render_frames(houses, args.frames_per_house, FrameSampling(size=size), extractor.vocabulary, args.seed, progress=True)
    report = evaluate_accuracy(extractor, frames, progress=True)
    title = f"{folder}: houses {first}..{first + args.houses - 1}, {len(frames)} frames at {size}x{size}"
    _print_accuracy(report, title, per_class=None if args.per_class else 12)
    return 0


def _language_data(args: argparse.Namespace) -> int:
    from agent.language_data import LanguageDataConfig
    from agent.language_dataset import write_dataset
    from agent.location_codec import LocationCodec
    from agent.scene_maps import ExplorationConfig
    from agent.threads import set_cpu_threads

    for name, low in (("houses", 1), ("first_house", 0), ("seed", 0), ("points", 1), ("per_house", 0), ("size", 8), ("views_per_room", 1), ("bins", 2), ("threads", 1)):
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    if args.map_seed is not None and args.map_seed < 0:
        raise ValueError(f"--map-seed must be >= 0, got {args.map_seed}")
    if args.decompositions is not None and args.decompositions < 0:
        raise ValueError(f"--decompositions must be >= 0, got {args.decompositions}")
    set_cpu_threads(args.threads)
    n = args.per_house
    exploration = ExplorationConfig(size=args.size, views_per_room=args.views_per_room, points=args.points, bins=args.bins)
    language = LanguageDataConfig(
        captions=n, qa=3 * n, grounding=n, decompositions=n if args.decompositions is None else args.decompositions, min_subgoals=args.min_subgoals
    )
    houses = list(range(args.first_house, args.first_house + args.houses))
    codec = None if args.bounds is None else LocationCodec(tuple(args.bounds[:3]), tuple(args.bounds[3:]), args.bins)
    summary = write_dataset(args.out, houses, args.construction, args.seed, exploration, language, resume=not args.no_resume, codec=codec,
                            ray=args.ray, threads=args.threads, map_seed=args.map_seed)
    for name, ids in summary.splits.items():
        counts = ", ".join(f"{task} {count}" for task, count in summary.counts[name].items())
        print(f"{name}: {len(ids)} houses, {sum(summary.counts[name].values())} records ({counts}) -> {summary.out_dir / (name + '.jsonl')}")
    print(f"maps: {summary.maps_built} built, {summary.maps_reused} reused ({args.construction}) in {summary.out_dir / 'maps'}; "
          f"{summary.seconds:.0f} s; wrote {summary.out_dir / 'dataset.json'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from agent.training import TrainConfig, train

    config = TrainConfig(
        data_dir=args.data, out_dir=args.out, steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
        lr=args.lr, warmup=args.warmup, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every, seed=args.seed,
        threads=args.threads, preset=args.preset, device=args.device, resume=args.resume, stop_at=args.stop_at, init_from=args.init_from,
        location_smoothing=args.location_smoothing, location_head=args.location_head, pointer_condition=args.pointer_condition,
        pointer_target_weight=args.pointer_target_weight, progress=not args.no_progress,
        mixed_precision=args.mixed_precision, waypoint_format=args.waypoint_format,
    )
    summary = train(config)
    if summary.rank != 0:  # under torchrun / accelerate launch rank 0 reports
        return 0
    processes = f" x {summary.world_size} processes" if summary.world_size > 1 else ""
    last = f"{summary.losses[-1]:.4f}" if summary.losses else "n/a"
    val = f"{summary.val_loss:.4f}" if summary.val_loss is not None else "n/a (no val.jsonl)"
    print(f"trained steps {summary.start_step}..{summary.step} of {config.steps} ({config.preset}, {summary.parameters / 1e6:.1f}M parameters, {summary.device}{processes}) "
          f"in {summary.seconds:.0f} s: {summary.tokens_per_s:.0f} tokens/s, {summary.steps_per_s:.2f} steps/s")
    print(f"last training loss {last}, validation loss {val}")
    print(f"checkpoint: {summary.checkpoint} (ThreeDLLM.from_pretrained); log: {summary.log}")
    return 0


def _eval_planner(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from agent.planner_eval import EVAL_TASKS, EvalConfig, evaluate_planner
    from agent.threads import cpu_threads

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    with cpu_threads(args.threads):
        summary = evaluate_planner(
            args.checkpoint, args.data, split=args.split, tasks=tuple(args.tasks or EVAL_TASKS), max_records=args.max_records,
            batch_size=args.batch_size, progress=not args.no_progress, out_dir=args.out, config=EvalConfig(tolerance=args.tolerance, waypoints=args.waypoints, point_dtype=args.point_dtype),
            device=device,
        )
    table = Table(title=f"3D-LLM on {args.split} ({summary['records']} records, {summary['seconds']:.0f} s)")
    table.add_column("task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for task, metrics in summary["tasks"].items():
        flat = {k: v for k, v in metrics.items() if k != "text"}
        flat.update({f"text {k}": v for k, v in metrics.get("text", {}).items() if k != "records"})
        for name, value in flat.items():
            shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
            table.add_row(task, name, shown)
        table.add_section()
    Console().print(table)
    if args.out is not None:
        print(f"predictions and summary: {args.out}")
    return 0


def _print_accuracy(report, title: str, per_class: int | None) -> None:
    """A rich summary of a ``perception.learned_rgb_training.AccuracyReport``."""
    from rich.console import Console
    from rich.table import Table

    summary = Table(title=title)
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("per-pixel top-1 accuracy", f"{report.accuracy:.3f}")
    summary.add_row("mean per-class accuracy", f"{report.mean_class_accuracy:.3f} ({len(report.per_class)} categories)")
    summary.add_row(f"majority class ({report.majority_category})", f"{report.majority_rate:.3f}")
    summary.add_row("chance (1 / categories)", f"{report.chance:.3f}")
    summary.add_row("labelled pixels", str(report.pixels))
    classes = Table(title="per category (most frequent first)")
    classes.add_column("category")
    classes.add_column("pixel share", justify="right")
    classes.add_column("accuracy", justify="right")
    for name, (pixels, accuracy) in list(report.per_class.items())[:per_class]:
        classes.add_row(name, f"{pixels / report.pixels:.3f}", f"{accuracy:.3f}")
    console = Console()
    console.print(summary)
    console.print(classes)


def _scripted_rollout(sim, n_frames: int, rng: np.random.Generator):
    """``n_frames`` frames of a simple walk: a random start on the largest island, one full turn in
    place, then the oracle follower towards random navigable goals (a new one whenever it stops)."""
    import math

    from envs.types import Action, Pose
    from policies.oracle import OracleFollower

    nav = sim.navigation
    island = nav.largest_island()
    frame = sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, island), float(rng.uniform(-math.pi, math.pi))))
    yield frame
    follower = OracleFollower(nav, sim.agent_config)
    turns = max(1, round(360.0 / sim.agent_config.turn_angle_deg))
    goal = None
    for i in range(1, n_frames):
        action = Action.TURN_LEFT
        if i > turns:
            pose = sim.agent_pose
            for _ in range(3):  # a fresh goal when the last one is reached (or unreachable)
                if goal is None:
                    goal = nav.sample_navigable_point(rng, island)
                    follower.reset()
                action = follower.act({"position": pose.position, "rotation": pose.rotation}, goal)
                if action != Action.STOP:
                    break
                goal = None
            if action == Action.STOP:
                action = Action.TURN_LEFT
        frame, _ = sim.step(action)
        yield frame


def _describe(episode) -> str:
    for attr in ("instruction", "object_category"):
        if hasattr(episode, attr):
            return f"{attr.replace('_', ' ')}: {getattr(episode, attr)!r}"
    return f"goal at {np.round(episode.goals[0].position, 2).tolist()}"


def _write_json(path: Path, data: dict) -> None:
    from envs.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _write_json_lines(path: Path, rows: list[dict]) -> None:
    from envs.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    raise SystemExit(main())
