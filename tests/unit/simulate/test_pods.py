"""Pods: start delay, scale-in cancels starting pods first, removed pods stop after a delay."""

from __future__ import annotations

import numpy as np

from scheduler.simulate.pods import Pods


def test_new_pods_become_ready_after_the_start_delay() -> None:
    pods = Pods(np.array([0]), start_delay_steps=3)
    pods.tick(0)
    pods.scale(0, 2)
    assert (int(pods.ready[0]), int(pods.starting[0]), int(pods.replicas()[0])) == (0, 2, 2)
    assert [pods.tick(t) for t in (1, 2, 3)] == [False, False, True]
    assert (int(pods.ready[0]), int(pods.starting[0])) == (2, 0)


def test_scale_in_cancels_the_newest_starting_pods_before_ready_ones() -> None:
    pods = Pods(np.array([2]), start_delay_steps=5, stop_delay_steps=2)
    pods.tick(0)
    pods.scale(0, 4)  # two start at 0, ready at 5
    pods.tick(1)
    pods.scale(0, 6)  # two more at 1, ready at 6
    pods.tick(2)
    pods.scale(0, 3)  # remove 3: the two from step 1, then one from step 0
    assert (int(pods.ready[0]), int(pods.starting[0]), int(pods.stopping[0])) == (2, 1, 0)
    for t in range(3, 7):
        pods.tick(t)
    assert (int(pods.ready[0]), int(pods.starting[0])) == (3, 0)


def test_removed_ready_pods_are_paid_for_until_their_stop_delay_ends() -> None:
    pods = Pods(np.array([3]), start_delay_steps=0, stop_delay_steps=2)
    pods.tick(10)
    pods.scale(0, 1)
    assert (int(pods.ready[0]), int(pods.stopping[0])) == (1, 2)
    assert pods.tick(11) is False
    assert pods.tick(12) is True
    assert int(pods.stopping[0]) == 0
