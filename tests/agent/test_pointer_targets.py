"""Pointer targets: which map points a decomposition step (or a grounding answer) means, and the loss that scores the pointer on them."""

import math

import numpy as np
import pytest
import torch

from agent.decomposition import Step
from agent.pointer_targets import OBJECT_MARGIN, group_targets, pointer_target_loss, record_point_masks, room_waypoints_from_pointer, step_point_masks

POINTS = np.array(
    [
        [0.5, 0.0, 0.5],  # floor inside the room
        [0.5, 2.4, 0.5],  # ceiling height inside the room: rooms take any height
        [3.0, 0.0, 0.5],  # outside the room
        [1.0, 0.5, 1.0 + OBJECT_MARGIN - 0.01],  # just beside the object's box, within the margin
        [1.0, 0.5, 1.0 + OBJECT_MARGIN + 0.05],  # beyond the margin
    ]
)
META = {
    "steps": [
        {"kind": "room", "target": "kitchen", "extent": [[0.0, 0.0, 0.0], [2.0, 2.5, 2.0]]},
        {"kind": "object", "target": "mug", "extent": [[0.8, 0.4, 0.8], [1.2, 0.6, 1.0]]},
    ]
}


def test_room_steps_take_the_points_inside_the_room_at_any_height_objects_their_box_and_a_margin():
    masks = step_point_masks(META, POINTS)
    assert masks.tolist() == [[True, True, False, True, True], [False, False, False, True, False]]


def test_records_without_steps_or_extents_have_no_targets():
    assert step_point_masks({}, POINTS) is None
    assert step_point_masks(None, POINTS) is None
    old = {"steps": [{"kind": "room", "target": "kitchen"}]}  # data written before extents were recorded
    assert step_point_masks(old, POINTS) is None


def test_a_grounding_answer_targets_its_room_or_objects_points_at_both_corners_and_other_tasks_none():
    room = {"kind": "room", "room": "kitchen", "box": [0.0, 0.0, 0.0, 2.0, 2.5, 2.0]}
    obj = {"kind": "object", "name": "mug", "box": [0.8, 0.4, 0.8, 1.2, 0.6, 1.0]}
    assert record_point_masks("grounding", room, POINTS).tolist() == [[True, True, False, True, True]] * 2
    assert record_point_masks("grounding", obj, POINTS).tolist() == [[False, False, False, True, False]] * 2
    assert np.array_equal(record_point_masks("decomposition", META, POINTS), step_point_masks(META, POINTS))
    assert record_point_masks("grounding", {"kind": "object"}, POINTS) is None  # no box recorded
    assert record_point_masks("qa", room, POINTS) is None


def test_the_loss_is_minus_the_log_of_the_weight_on_the_steps_points():
    alpha = torch.tensor([[0.5, 0.2, 0.3], [0.1, 0.1, 0.8]])
    masks = torch.tensor([[True, True, False], [False, False, False]])  # the second step's target is not in the map
    loss = pointer_target_loss(alpha.log(), masks)
    assert loss.item() == pytest.approx(-math.log(0.7))
    assert pointer_target_loss(alpha.log(), torch.zeros(2, 3, dtype=torch.bool)) is None


def test_groups_are_matched_to_their_rows_steps_in_order_and_padded():
    masks = [np.array([[True, False], [False, True]]), None, np.array([[True, True, True]])]
    # row 0 has two groups (its two steps), row 1 none with targets, row 2 has two groups for one step (skipped)
    matched = group_targets([0, 0, 1, 2, 2], masks, width=3, device=torch.device("cpu"))
    chosen, padded = matched
    assert chosen == [0, 1]
    assert padded.tolist() == [[True, False, False], [False, True, False]]
    assert group_targets([1], masks, width=3, device=torch.device("cpu")) is None


def test_room_waypoints_are_the_pointer_weighted_mean_and_unmatched_weights_change_nothing():
    room = Step(1, "go to", "kitchen", np.array([5.0, 0.1, 5.0]), (10, 1, 10))
    mug = Step(2, "find", "mug", np.array([1.0, 0.1, 1.0]), (3, 1, 3))
    weights = [np.array([0.5, 0.5, 0.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0, 0.0, 0.0])]
    steps, notes = room_waypoints_from_pointer([room, mug], weights, POINTS)
    assert np.allclose(steps[0].waypoint, [0.5, 0.1, 0.5]) and steps[1] is mug and len(notes) == 1
    broken = Step(2, "find", "mug", None, (3, 1))  # two tokens: the triples cannot be matched to the steps
    assert room_waypoints_from_pointer([room, broken], weights[:1], POINTS) == ([room, broken], [])
    assert room_waypoints_from_pointer([room, mug], weights[:1], POINTS) == ([room, mug], [])
