"""3D-LLM planning cost on this CPU: plan latency on a live map, and generation tokens/s with the
3D scene prefix against the same language model's plain ``generate`` without it.

    python benchmarks/plan_latency.py [--checkpoint FOLDER] [--house 0] [--plans 8] [--tokens 48]

1. Explores a generated house into the checkpoint's map construction (as ``nav3d language-data``
   does) and times ``ThreeDLLMPlanner.plan`` on instruction episodes of that house, each right after
   the map integrated the view from the episode's start (so no point sample is reused): the whole
   call, and its parts (the location codec over the map, the map's point sample, generation).
2. Times ``ThreeDLLM.generate`` (scene encoder + K prefix embeddings + prompt, then exactly
   ``--tokens`` new tokens) against ``lm.generate`` on the same prompt's token ids with no prefix
   and the same number of new tokens, the two calls alternating ``--repeats`` times; the median
   ratio of their tokens/s over the pairs is the prefix's cost (goal >= 0.9).

Prints figures; it is not a timed test. Torch runs on ``--threads`` threads (default 1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from agent.language_data import decomposition_prompt
from agent.planner import ThreeDLLMPlanner, default_checkpoint
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
    args = parser.parse_args()

    with cpu_threads(args.threads):
        folder = args.checkpoint or default_checkpoint()
        planner = ThreeDLLMPlanner.from_pretrained(folder)
        model = planner.model
        construction = args.construction or planner.construction or "neural"
        counts = model.parameter_count()
        print(f"checkpoint {folder}: {counts['total'] / 1e6:.1f}M parameters (encoder {counts['encoder'] / 1e6:.1f}M), "
              f"prefix K={model.prefix_length}, {planner.points} map points, {args.threads} thread(s)")

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
            with torch.no_grad():
                return model.lm.generate(
                    input_ids=plain_ids, attention_mask=torch.ones_like(plain_ids), do_sample=False,
                    min_new_tokens=args.tokens, max_new_tokens=args.tokens, pad_token_id=model.pad_id, eos_token_id=model.eos_id,
                )

        def prefixed() -> None:
            model.generate(pts, feats, mask, [prompt], bounds=bounds, **forced)

        # the two alternate, so drifts of a shared machine's speed fall on both; the ratio is the
        # median of the pairs' ratios
        pairs = []  # (seconds without the prefix, seconds with it)
        for _ in range(args.repeats):
            t_plain, out = timed(plain, 1)
            pairs.append((t_plain, timed(prefixed, 1)[0]))
        assert out.shape[1] - plain_ids.shape[1] == args.tokens
        t_plain, t_prefix = (statistics.median(p[i] for p in pairs) for i in (0, 1))
        ratio = statistics.median(plain_s / prefix_s for plain_s, prefix_s in pairs)  # tokens/s with the prefix / without
        t_encoder, _ = timed(lambda: model.prefix(pts, feats, mask, bounds), args.repeats)
        with_prefix, without = args.tokens / t_prefix, args.tokens / t_plain
        print(f"generation of {args.tokens} tokens: with the 3D prefix {with_prefix:.0f} tokens/s ({t_prefix * 1e3:.0f} ms, "
              f"scene encoder {t_encoder * 1e3:.0f} ms), plain LM {without:.0f} tokens/s ({t_plain * 1e3:.0f} ms); "
              f"ratio {ratio:.2f}, the median of {args.repeats} alternating pairs (goal >= 0.9)")


if __name__ == "__main__":
    main()
