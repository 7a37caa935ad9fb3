"""LocationCodec: world coordinates <-> <locK> tokens relative to the scene's bounds, within half a bin."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.location_codec import LocationCodec, location_token_names

BOUNDS = st.tuples(
    st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, 50), st.floats(0.05, 40), st.floats(0.05, 40), st.floats(0.05, 40)
)
BINS = st.sampled_from([2, 7, 32, 64, 100, 256])


def _codec(bounds, bins) -> LocationCodec:
    lower = bounds[:3]
    return LocationCodec(lower, tuple(lo + size for lo, size in zip(lower, bounds[3:])), bins)


def _inside(codec: LocationCodec, fractions) -> np.ndarray:
    lower, upper = np.asarray(codec.lower), np.asarray(codec.upper)
    return lower + np.asarray(fractions) * (upper - lower)


FRACTION = st.floats(0, 1)


@settings(max_examples=150, deadline=None)
@given(BOUNDS, BINS, st.tuples(FRACTION, FRACTION, FRACTION))
def test_point_round_trip_within_half_a_bin(bounds, bins, fractions):
    codec = _codec(bounds, bins)
    point = _inside(codec, fractions)
    tokens = codec.encode_point(point)
    assert len(tokens) == 3 and all(codec.is_location_token(t) for t in tokens)
    decoded = codec.decode_point(tokens)
    assert decoded.shape == (3,)
    assert np.all(np.abs(decoded - point) <= codec.bin_size / 2 * (1 + 1e-9) + 1e-12)
    # the same tokens as generated text decode the same
    np.testing.assert_array_equal(codec.decode_point("at " + "".join(tokens) + "."), decoded)


@settings(max_examples=100, deadline=None)
@given(BOUNDS, BINS, st.lists(FRACTION, min_size=6, max_size=6))
def test_box_round_trip_within_half_a_bin(bounds, bins, fractions):
    codec = _codec(bounds, bins)
    a, b = _inside(codec, fractions[:3]), _inside(codec, fractions[3:])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    tokens = codec.encode_box(lo, hi)
    assert len(tokens) == 6
    box = codec.decode_box(tokens)
    assert box.shape == (6,)
    half = np.tile(codec.bin_size / 2, 2) * (1 + 1e-9) + 1e-12
    assert np.all(np.abs(box - np.concatenate([lo, hi])) <= half)
    assert np.all(box[:3] <= box[3:])


def test_bins_are_vectorised_and_centred():
    codec = LocationCodec((0.0, 0.0, -2.0), (4.0, 2.0, 2.0), bins=4)
    np.testing.assert_allclose(codec.bin_size, [1.0, 0.5, 1.0])
    np.testing.assert_array_equal(codec.bin_of(np.array([[0.0, 0.99], [1.0, 4.0]]), 0), [[0, 0], [1, 3]])
    np.testing.assert_allclose(codec.value_of(np.arange(4), 2), [-1.5, -0.5, 0.5, 1.5])
    assert codec.encode_point([0.5, 1.9, 0.1]) == ["<loc0>", "<loc3>", "<loc2>"]
    np.testing.assert_allclose(codec.decode_point(["<loc0>", "<loc3>", "<loc2>"]), [0.5, 1.75, 0.5])


def test_outside_points_are_clamped_into_edge_bins():
    codec = LocationCodec((0.0, 0.0, 0.0), (10.0, 3.0, 10.0), bins=64)
    assert codec.encode_point([-5.0, 100.0, 10.0]) == ["<loc0>", "<loc63>", "<loc63>"]
    assert codec.encode_box([-1, -1, -1], [11, 4, 11]) == ["<loc0>"] * 3 + ["<loc63>"] * 3
    with pytest.raises(ValueError, match="finite"):
        codec.encode_point([np.nan, 0, 0])


def test_token_names_and_parsing():
    codec = LocationCodec((0, 0, 0), (1, 1, 1), bins=64)
    names = codec.token_names()
    assert names == location_token_names(64) and names[0] == "<loc0>" and names[-1] == "<loc63>" and len(names) == 64
    assert codec.is_location_token("<loc63>")
    assert not codec.is_location_token("<loc64>") and not codec.is_location_token("loc3") and not codec.is_location_token("<loc03>")
    assert codec.parse_location_tokens("go to<loc1><loc2> <loc63>. a < b") == [1, 2, 63]
    assert codec.parse_location_tokens("no tokens here") == []
    with pytest.raises(ValueError, match=r"<loc64>.*64 bins"):
        codec.parse_location_tokens("go to <loc64>")
    with pytest.raises(ValueError, match=r"<loc99>"):
        codec.decode_point(["<loc1>", "<loc99>", "<loc2>"])
    for bad in ("<locx>", "<loc07>", "<loc-1>", "ends with <loc3"):
        with pytest.raises(ValueError, match="malformed"):
            codec.parse_location_tokens(bad)


def test_decode_needs_the_right_number_of_tokens():
    codec = LocationCodec((0, 0, 0), (1, 1, 1), bins=8)
    with pytest.raises(ValueError, match="needs 3 location tokens, got 2"):
        codec.decode_point(["<loc1>", "<loc2>"])
    with pytest.raises(ValueError, match="needs 3 location tokens, got 4"):
        codec.decode_point("<loc1><loc2><loc3><loc4>")
    with pytest.raises(ValueError, match="needs 6 location tokens, got 3"):
        codec.decode_box(["<loc1>", "<loc2>", "<loc3>"])
    with pytest.raises(ValueError, match="not location tokens"):
        codec.decode_point(["<loc1>", "kitchen", "<loc3>"])
    with pytest.raises(ValueError, match="minimum exceeds"):
        codec.decode_box(["<loc5>", "<loc0>", "<loc0>", "<loc1>", "<loc1>", "<loc1>"])
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        codec.encode_box([0.5, 0, 0], [0.1, 1, 1])


def test_dict_round_trip_through_json():
    codec = LocationCodec((-1.5, 0.0, 2.25), (3.0, 2.5, 9.0), bins=48)
    restored = LocationCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert restored == codec and restored.bins == 48
    with pytest.raises(ValueError, match="missing key"):
        LocationCodec.from_dict({"lower": [0, 0, 0], "upper": [1, 1, 1]})


def test_from_points_widens_flat_axes():
    points = np.array([[0.0, 0.0, 1.0], [4.0, 0.0, 3.0], [2.0, 0.0, 2.0]])
    codec = LocationCodec.from_points(points, bins=32, margin=0.5)
    assert codec.bins == 32
    np.testing.assert_allclose(codec.lower, [-0.5, -0.5, 0.5])
    np.testing.assert_allclose(codec.upper, [4.5, 0.5, 3.5])
    flat = LocationCodec.from_points(points)
    assert flat.upper[1] > flat.lower[1] and flat.lower[0] == 0.0 and flat.upper[0] == 4.0
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        LocationCodec.from_points(np.zeros((0, 3)))


@pytest.mark.parametrize(
    "lower, upper, bins, message",
    [
        ((0, 0, 0), (1, 0, 1), 64, "upper must be greater than lower.*axis y"),
        ((0, 0, 0), (1, 1, -1), 64, "axis z"),
        ((0, 0, np.nan), (1, 1, 1), 64, "finite"),
        ((0, 0, 0), (1, 1, np.inf), 64, "finite"),
        ((0, 0), (1, 1), 64, "3 numbers"),
        ((0, 0, 0), (1, 1, 1), 1, "bins must be an integer >= 2"),
        ((0, 0, 0), (1, 1, 1), 64.5, "bins must be an integer >= 2"),
    ],
)
def test_invalid_codecs_are_rejected(lower, upper, bins, message):
    with pytest.raises(ValueError, match=message):
        LocationCodec(lower, upper, bins)
