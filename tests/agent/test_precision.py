"""The point-sized parts' floating-point type (agent.precision)."""

import pytest
import torch

from agent.precision import POINT_DTYPES, native_bfloat16, resolve_point_dtype


def test_choices_resolve_to_dtypes():
    assert resolve_point_dtype("float32", "cpu") == torch.float32
    assert resolve_point_dtype("bfloat16", "cpu") == torch.bfloat16
    auto = resolve_point_dtype("auto", "cpu")
    assert auto == (torch.bfloat16 if native_bfloat16("cpu") else torch.float32)
    assert set(POINT_DTYPES) == {"auto", "float32", "bfloat16"}


def test_unknown_choice_is_a_clear_error():
    with pytest.raises(ValueError, match="auto"):
        resolve_point_dtype("float16", "cpu")


def test_devices_without_native_bfloat16_say_so():
    assert native_bfloat16("meta") is False
    assert isinstance(native_bfloat16("cpu"), bool)
