"""3D-LLM planning cost on this CPU: plan latency on a live map, and generation tokens/s with the
3D scene prefix against the same language model's plain ``generate`` without it.

    python benchmarks/plan_latency.py [--checkpoint FOLDER] [--house 0] [--plans 8] [--tokens 48]

1. Explores a generated house into the checkpoint's map construction (as ``nav3d language-data``
   does) and times ``ThreeDLLMPlanner.plan`` on instruction episodes of that house, each right after
   the map integrated the view from the episode's start (so no point sample is reused): the whole
   call, and its parts (the location codec over the map, the map's point sample, generation).
2. Times ``ThreeDLLM.generate`` (scene encoder + K prefix embeddings + prompt, then exactly
   ``--tokens`` new tokens) against ``lm.generate`` on the same prompt's token ids with no prefix,
   the same settings (greedy, the same special tokens suppressed, ``torch.inference_mode``) and the
   same number of new tokens, the calls alternating ``--repeats`` times; the median ratio
   of their tokens/s over the rounds is the 3D part's cost. Two ratios: the scene prefix alone
   (``use_pointer=False``: the 3D encoder's cost, the goal's ">= 0.9, so the 3D encoder never
   dominates") and the whole model (prefix and pointer head, whose per-token work mixes location
   tokens over the map's points).

The scene encoder runs in ``--point-dtype`` (``agent.precision``; default auto: bfloat16 where the
CPU multiplies it natively). Prints figures; it is not a timed test. Torch runs on ``--threads``
threads (default 1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from agent.language_data import decomposition_prompt
from agent.planner import ThreeDLLMPlanner, default_checkpoint
from agent.precision import POINT_DTYPES
from agent.scene_encoder import codec_bounds, pad_scenes
from agent.scene_maps import ExplorationConfig, explore, exploration_simulator
from agent.threads import cpu_threads
from envs.episode_generator import EpisodeGenerator, InstructionConfig
from envs.house import generate_house
from envs.types import Pose


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls of ``fn`` and its last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="3D-LLM folder (default: the shipped checkpoint)")
    parser.add_argument("--construction", default=None, help="map construction (default: the checkpoint's training data's)")
    parser.add_argument("--house", type=int, default=0)
    parser.add_argument("--plans", type=int, default=8, help="instructions to plan")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per generation in the tokens/s comparison")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--point-dtype", choices=POINT_DTYPES, default="auto", help="the scene encoder's type (default auto)")
    args = parser.parse_args()

    with cpu_threads(args.threads):
        folder = args.checkpoint or default_checkpoint()
        planner = ThreeDLLMPlanner.from_pretrained(folder, point_dtype=args.point_dtype)
        model = planner.model
        construction = args.construction or planner.construction or "neural"
        counts = model.parameter_count()
        print(f"checkpoint {folder}: {counts['total'] / 1e6:.1f}M parameters (encoder {counts['encoder'] / 1e6:.1f}M), "
              f"prefix K={model.prefix_length}, {planner.points} map points, {args.threads} thread(s), "
              f"scene encoder in {str(model.point_dtype).removeprefix('torch.')}")

        scene = generate_house(args.house)
        config = ExplorationConfig()
        simulator = exploration_simulator(scene, config)
        t = time.perf_counter()
        explored = explore(scene, construction, config, seed=0, simulator=simulator)
        feature_map = explored.map
        print(f"house:{args.house}: {construction} map of {len(explored.plan.poses)} frames in {time.perf_counter() - t:.1f} s")

        generator = EpisodeGenerator(simulator, scene=scene, scene_id=f"house:{args.house}")
        rng = np.random.default_rng(0)
        episodes = [generator.instruction_episode(rng, InstructionConfig(), episode_id=str(i)) for i in range(args.plans)]

        # 1. plan latency and its parts, each on a map that has just integrated a new frame (as in the
        # agent's loop: a map keeps its point sample only until it changes)
        extractor = feature_map.extractor

        def new_frame(position: np.ndarray) -> None:
            frame = simulator.reset(Pose.from_yaw(np.asarray(position, dtype=np.float64), 0.0))
            feature_map.integrate(frame, extractor(frame))

        t_codec, codec = timed(lambda: planner.codec(feature_map), args.repeats)
        samples = []
        for ep in episodes[: args.repeats]:
            new_frame(ep.start_position)
            samples.append(timed(lambda: feature_map.points_and_features(planner.points), 1))
        t_sample, (points, features) = statistics.median(t for t, _ in samples), samples[-1][1]
        latencies, tokens = [], []
        for ep in episodes:
            new_frame(ep.start_position)
            plan = planner.plan(feature_map, ep.instruction, np.asarray(ep.start_position))
            latencies.append(plan.latency_s)
            tokens.append(len(model.tokenizer.encode(plan.raw_text, add_special_tokens=False)))
        print(f"plan latency over {len(episodes)} instructions: median {statistics.median(latencies) * 1e3:.0f} ms, "
              f"max {max(latencies) * 1e3:.0f} ms ({statistics.mean(tokens):.0f} answer tokens on average); "
              f"parts: codec {t_codec * 1e3:.0f} ms, point sample {t_sample * 1e3:.0f} ms, generation the rest")

        # 2. tokens/s with and without the 3D prefix, same prompt, same number of new tokens
        prompt = decomposition_prompt(episodes[0].instruction, np.asarray(episodes[0].start_position), codec)
        pts, feats, mask = pad_scenes([(points, features)])
        bounds = codec_bounds([codec])
        forced = {"min_new_tokens": args.tokens, "max_new_tokens": args.tokens, "constrain_locations": False}
        batch = model.encode_batch([prompt], padding_side="left")
        plain_ids = batch.input_ids[:, [i for i in range(batch.input_ids.shape[1]) if not bool(batch.scene_slots[0, i])]]  # no prefix slots

        def plain() -> torch.Tensor:
            with torch.inference_mode():  # as ThreeDLLM.generate_with_weights runs
                return model.lm.generate(
                    input_ids=plain_ids, attention_mask=torch.ones_like(plain_ids), do_sample=False,
                    suppress_tokens=model.banned_ids,  # as ThreeDLLM.generate suppresses them
                    min_new_tokens=args.tokens, max_new_tokens=args.tokens, pad_token_id=model.pad_id, eos_token_id=model.eos_id,
                )

        def prefixed() -> None:
            model.generate(pts, feats, mask, [prompt], bounds=bounds, **forced)

        def prefix_only() -> None:
            model.generate(pts, feats, mask, [prompt], bounds=bounds, use_pointer=False, **forced)

        # the calls alternate, so drifts of a shared machine's speed fall on all; each ratio is the
        # median of the rounds' ratios
        rounds = []  # (seconds without the prefix, with the prefix alone, with prefix and pointer)
        for _ in range(args.repeats):
            t_plain, out = timed(plain, 1)
            rounds.append((t_plain, timed(prefix_only, 1)[0], timed(prefixed, 1)[0]))
        assert out.shape[1] - plain_ids.shape[1] == args.tokens
        t_plain, t_prefix, t_model = (statistics.median(r[i] for r in rounds) for i in (0, 1, 2))
        ratio_prefix = statistics.median(r[0] / r[1] for r in rounds)  # tokens/s with the prefix / without
        ratio_model = statistics.median(r[0] / r[2] for r in rounds)
        t_encoder, _ = timed(lambda: model.prefix(pts, feats, mask, bounds), args.repeats)
        rate = lambda seconds: args.tokens / seconds  # noqa: E731
        print(f"generation of {args.tokens} tokens, median of {args.repeats} alternating rounds: plain LM {rate(t_plain):.0f} tokens/s "
              f"({t_plain * 1e3:.0f} ms); with the 3D prefix {rate(t_prefix):.0f} tokens/s ({t_prefix * 1e3:.0f} ms, scene encoder "
              f"{t_encoder * 1e3:.0f} ms), ratio {ratio_prefix:.3f} (goal >= 0.9); whole 3D-LLM (prefix and pointer head) "
              f"{rate(t_model):.0f} tokens/s ({t_model * 1e3:.0f} ms), ratio {ratio_model:.3f}")


if __name__ == "__main__":
    main()
