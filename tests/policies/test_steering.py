"""Steering's final approach: landing within a radius smaller than half a forward step."""

import math

import numpy as np
import pytest

from envs.simulator import AgentConfig
from envs.types import Action
from policies.steering import Steering, approach_actions, step_end

BODY = AgentConfig()
TURN = math.radians(BODY.turn_angle_deg)


def drive(steering: Steering, position, yaw, target, segment_clear, limit=40):
    """Apply the steering's actions kinematically until STOP; returns (position, yaw, actions)."""
    position, actions = np.asarray(position, float), []
    for _ in range(limit):
        action = steering.act(position, yaw, np.stack([position, target]), segment_clear)
        actions.append(action)
        if action == Action.STOP:
            break
        if action == Action.TURN_LEFT:
            yaw += TURN
        elif action == Action.TURN_RIGHT:
            yaw -= TURN
        elif segment_clear(position, step_end(position, yaw, BODY.forward_step)):
            position = step_end(position, yaw, BODY.forward_step)
    return position, yaw, actions


def open_space(a, b):
    return True


@pytest.mark.parametrize("offset", [(0.12, -0.30), (-0.31, 0.05), (0.2, 0.55), (0.0, -0.62)])
def test_the_final_approach_lands_within_the_radius_greedy_steps_miss(offset):
    start = np.zeros(3)
    target = start + np.array([offset[0], 0.0, offset[1]])
    greedy_end, _, _ = drive(Steering(BODY), start, 0.0, target, open_space)
    planned_end, _, actions = drive(Steering(BODY, arrive_radius=0.075), start, 0.0, target, open_space)
    assert np.hypot(*(greedy_end - target)[[0, 2]]) > 0.075  # greedy steps stop 0.078-0.12 m away here
    assert actions[-1] == Action.STOP and len(actions) <= 11
    assert np.hypot(*(planned_end - target)[[0, 2]]) <= 0.075


def test_the_approach_is_the_shortest_and_respects_clearance():
    start, target = np.zeros(3), np.array([0.0, 0.0, -0.5])  # two steps straight ahead
    assert approach_actions(start, 0.0, target, 0.25, TURN, 0.05, open_space) == [Action.MOVE_FORWARD] * 2

    def wall_ahead(a, b):  # nothing may cross z = -0.1 in front of the start
        return min(a[2], b[2]) > -0.1 or max(a[2], b[2]) < -0.1

    assert approach_actions(start, 0.0, target, 0.25, TURN, 0.05, wall_ahead) is None
    actions = approach_actions(start, 0.0, np.array([0.5, 0.0, 0.0]), 0.25, TURN, 0.05, open_space)
    assert actions[:3] == [Action.TURN_RIGHT] * 3 and actions[3:] == [Action.MOVE_FORWARD] * 2


def test_without_an_arrive_radius_steering_is_greedy_and_bad_radius_is_refused():
    start, target = np.zeros(3), np.array([0.12, 0.0, -0.30])
    end, _, _ = drive(Steering(BODY), start, 0.0, target, open_space)
    assert np.hypot(*(end - target)[[0, 2]]) <= BODY.forward_step / 2 + 1e-9
    with pytest.raises(ValueError, match="arrive_radius"):
        Steering(BODY, arrive_radius=0.0)
