"""Locations as text numbers (``agent.waypoint_format``, the ablation of location tokens): token runs
become ``(x, y, z)`` / 6-number boxes within half a bin + 0.05 m, and parsers, scorers and settings
read that format or reject bad combinations clearly."""

import numpy as np
import pytest

from agent.cli import main
from agent.decomposition import parse_decomposition
from agent.location_codec import LocationCodec
from agent.planner_metrics import strip_location_tokens
from agent.train_config import TrainConfig
from agent.training import model_config
from agent.waypoint_format import (
    box_from_numbers,
    format_numbers,
    location_free_generation,
    parse_numbers,
    tokens_to_numbers,
    waypoint_format_of,
)

CODEC = LocationCodec((-6.0, -0.2, -4.5), (7.3, 2.9, 8.1), 64)


def test_points_and_boxes_round_trip_within_half_a_bin_and_the_rounding():
    rng = np.random.default_rng(0)
    tolerance = CODEC.bin_size / 2 + 0.05 + 1e-9  # bin centre, then one decimal
    for _ in range(200):
        point = rng.uniform(CODEC.lower, CODEC.upper)
        text = tokens_to_numbers("from " + "".join(CODEC.encode_point(point)) + ", go", CODEC)
        assert "<loc" not in text and text.startswith("from (") and text.endswith("), go")
        (parsed,) = parse_numbers(text)
        assert len(parsed) == 3 and np.all(np.abs(np.asarray(parsed) - point) <= tolerance)
        lo, hi = np.sort(rng.uniform(CODEC.lower, CODEC.upper, size=(2, 3)), axis=0)
        box_text = tokens_to_numbers("what is at " + "".join(CODEC.encode_box(lo, hi)) + "?", CODEC)
        box = box_from_numbers(box_text)
        assert np.all(np.abs(box - np.concatenate([lo, hi])) <= np.tile(tolerance, 2))


def test_number_text_has_one_decimal_and_no_negative_zero():
    assert format_numbers([1.23, -0.04, -3.46]) == "(1.2, 0.0, -3.5)"
    assert "-0.0" not in format_numbers([-0.01, -0.049, 0.0])
    assert parse_numbers("a (1.2, 0.0, -3.4) b (1, 2) c") == [(1.2, 0.0, -3.4), (1.0, 2.0)]
    assert tokens_to_numbers("no locations here", CODEC) == "no locations here"


def test_bad_token_runs_are_clear_errors():
    with pytest.raises(ValueError, match="3 tokens .* or 6 .* not 2"):
        tokens_to_numbers("<loc1><loc2> x", CODEC)
    with pytest.raises(ValueError, match="unknown location token '<loc99>'"):
        tokens_to_numbers("<loc1><loc2><loc99>", CODEC)
    with pytest.raises(ValueError, match="one group of 6"):
        box_from_numbers("(1.0, 2.0, 3.0)")
    with pytest.raises(ValueError, match="minimum exceeds"):
        box_from_numbers("(1, 1, 1, 0, 2, 2)")


def test_decompositions_in_numbers_parse_like_tokens():
    steps = [("go to", "kitchen", [1.2, 0.0, -3.4]), ("find", "red mug", [-1.0, 0.8, 2.0])]
    tokens = " ".join(f"{i + 1}. {a} the {t} {''.join(CODEC.encode_point(w))}" for i, (a, t, w) in enumerate(steps))
    numbers = tokens_to_numbers(tokens, CODEC)
    by_tokens, by_numbers = parse_decomposition(tokens, CODEC), parse_decomposition(numbers, CODEC, "numbers")
    assert by_numbers.ok and [s.key for s in by_numbers] == [s.key for s in by_tokens] == [("go to", "kitchen"), ("find", "red mug")]
    assert [s.bins for s in by_numbers] == [s.bins for s in by_tokens]
    for s, (_, _, w) in zip(by_numbers, steps):
        assert np.all(np.abs(s.waypoint - w) <= CODEC.bin_size / 2 + 0.05 + 1e-9)
    assert parse_decomposition(numbers, None, "numbers").ok  # numbers need no codec
    broken = parse_decomposition("1. go to the kitchen (1.0, 2.0) 2. find the mug", CODEC, "numbers")
    assert [s.waypoint for s in broken] == [None, None] and len(broken.problems) == 2
    assert "expected one (x, y, z)" in broken.problems[0]
    with pytest.raises(ValueError, match="waypoint format must be one of"):
        parse_decomposition(numbers, CODEC, "words")


def test_text_metrics_drop_locations_written_as_numbers():
    assert strip_location_tokens("1. go to the kitchen (1.2, 0.0, -3.4) 2. box (0, 0, 0, 1, 1, 1)") == "1. go to the kitchen 2. box"
    assert strip_location_tokens("a (1, 2) pair stays") == "a (1, 2) pair stays"


def test_settings_record_the_format_and_reject_the_pointer_with_numbers(tmp_path):
    assert TrainConfig("d", "o").location_head == "pointer" and TrainConfig("d", "o").waypoint_format == "tokens"
    numbers = TrainConfig("d", "o", waypoint_format="numbers")
    assert numbers.location_head == "lm" and numbers.to_dict()["waypoint_format"] == "numbers"
    with pytest.raises(ValueError, match="pointer location head writes location tokens.*--location-head lm"):
        TrainConfig("d", "o", waypoint_format="numbers", location_head="pointer")
    with pytest.raises(ValueError, match="waypoint_format must be one of"):
        TrainConfig("d", "o", waypoint_format="digits")
    config = model_config("tiny", 8, CODEC, map_data={"points": 256}, location_head="lm", waypoint_format="numbers")
    assert config.pointer is None and config.map_data == {"points": 256, "waypoint_format": "numbers"}
    assert waypoint_format_of(type("M", (), {"config": config})()) == "numbers"
    assert waypoint_format_of(object()) == "tokens" and location_free_generation(object()) == {}
    assert location_free_generation(type("M", (), {"location_ids": [5, 6]})()) == {"bad_words_ids": [[5], [6]]}
    with pytest.raises(ValueError, match="needs location_head='lm'"):
        model_config("tiny", 8, CODEC, location_head="pointer", waypoint_format="numbers")


def test_cli_rejects_the_pointer_with_numbers(tmp_path, capsys):
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--waypoint-format", "numbers", "--location-head", "pointer"]
    assert main(args) == 2
    assert "--location-head lm" in capsys.readouterr().err
